"""Settlement: closing periods into per-party statements, and the data price index (数据要素市场价格指数)."""

from shuniu.market.settlement.close import SettlementError, SettlementStore, settlement_key
from shuniu.market.settlement.price_index import IndexCell, chain_index, index_cells
from shuniu.market.settlement.statements import STATEMENT_SCHEMA, StatementMismatch, statement_lines
from shuniu.market.settlement.summary import yuan

__all__ = [
    "STATEMENT_SCHEMA",
    "IndexCell",
    "SettlementError",
    "SettlementStore",
    "StatementMismatch",
    "chain_index",
    "index_cells",
    "settlement_key",
    "statement_lines",
    "yuan",
]
