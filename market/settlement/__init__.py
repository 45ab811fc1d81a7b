"""Settlement: closing periods into per-party statements, and the data price index (数据要素市场价格指数).

Names load on first use: statements pull in the split kernel (Numba), which a CLI that only
formats yuan, or a control plane starting up, does not need.
"""

from shuniu.market._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "close": ("SettlementError", "SettlementStore", "settlement_key"),
    "price_index": ("IndexCell", "chain_index", "index_cells"),
    "statements": ("STATEMENT_SCHEMA", "StatementMismatch", "statement_lines"),
    "summary": ("yuan",),
})
