"""Settlement: closing periods into per-party statements, and the data price index (数据要素市场价格指数).

Names load on first use: statements pull in the split kernel (Numba), which a CLI that only
formats yuan, or a control plane starting up, does not need.
"""

from shuniu.market._lazy import lazy_exports

_HOMES = {
    "SettlementError": "close",
    "SettlementStore": "close",
    "settlement_key": "close",
    "IndexCell": "price_index",
    "chain_index": "price_index",
    "index_cells": "price_index",
    "STATEMENT_SCHEMA": "statements",
    "StatementMismatch": "statements",
    "statement_lines": "statements",
    "yuan": "summary",
}
__all__ = sorted(_HOMES)
__getattr__ = lazy_exports(__name__, _HOMES)
