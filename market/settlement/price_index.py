"""The data price index (数据要素市场价格指数): per product category, a chained index, base period = 100.

From settled data transactions (statement lines of data charges): each cell (category,
period) has its turnover, units, transactions and distinct buyers. The average unit price
is turnover / units; the index chains it period to period:

    I(base) = 100,   I(t) = I(t-1) × avg(t) / avg(t-1)

where t-1 is the category's previous shown period. A cell with fewer than the minimum
transactions or distinct buyers is suppressed (shown as 0, skipped by the chain), so that
no single party's prices can be read off the index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from shuniu.protos.v1 import ledger_pb2, settlement_pb2

__all__ = ["INDEX_SCHEMA", "IndexCell", "chain_index", "index_cells", "index_table"]

BASE_INDEX = 100.0
INDEX_SCHEMA = pa.schema([
    ("category", pa.string()), ("period", pa.string()), ("index_value", pa.float64()), ("transactions", pa.int64()),
    ("distinct_parties", pa.int64()), ("turnover_fen", pa.int64()), ("units", pa.int64()), ("suppressed", pa.bool_()),
])  # fmt: skip


@dataclass(frozen=True)
class IndexCell:
    turnover_fen: int
    units: int
    transactions: int
    distinct_parties: int


def index_cells(lines: pa.Table) -> dict[str, IndexCell]:
    """Cells per category from a period's statement lines (the buyers' data-charge lines)."""
    data = lines.filter(pc.and_(pc.equal(lines.column("kind"), ledger_pb2.POSTING_KIND_DATA),
                                pc.starts_with(lines.column("account_id"), "buyer:")))
    data = data.filter(pc.greater(data.column("quantity"), 0))
    if not data.num_rows:
        return {}
    grouped = data.group_by("category").aggregate([
        ("line_fen", "sum"), ("quantity", "sum"), ("line_id", "count"), ("account_id", "count_distinct")])
    return {c: IndexCell(int(t), int(u), int(n), int(p)) for c, t, u, n, p in zip(*(grouped.column(k).to_pylist() for k in (
        "category", "line_fen_sum", "quantity_sum", "line_id_count", "account_id_count_distinct")))}


def chain_index(cells: Mapping[tuple[str, str], IndexCell], min_transactions: int,
                min_parties: int) -> list[settlement_pb2.PriceIndexPoint]:
    """Index points by category then period; cells keyed (category, period)."""
    points = []
    last_avg: dict[str, float] = {}
    last_index: dict[str, float] = {}
    for category, period in sorted(cells):
        cell = cells[(category, period)]
        suppressed = cell.transactions < min_transactions or cell.distinct_parties < min_parties or cell.units <= 0
        value = 0.0
        if not suppressed:
            avg = cell.turnover_fen / cell.units
            if category not in last_avg:
                value = BASE_INDEX
            elif last_avg[category] > 0:
                value = last_index[category] * avg / last_avg[category]
            else:
                value = last_index[category]  # a free previous period gives no ratio: carry the level
            last_avg[category], last_index[category] = avg, value
        points.append(settlement_pb2.PriceIndexPoint(
            category=category, period=period, index_value=round(value, 4), transactions=cell.transactions,
            distinct_parties=cell.distinct_parties, turnover_fen=cell.turnover_fen, suppressed=suppressed))
    return points


def index_table(points: Iterable[settlement_pb2.PriceIndexPoint], units: Mapping[tuple[str, str], int]) -> pa.Table:
    rows = [{"category": p.category, "period": p.period, "index_value": p.index_value, "transactions": p.transactions,
             "distinct_parties": p.distinct_parties, "turnover_fen": p.turnover_fen,
             "units": units.get((p.category, p.period), 0), "suppressed": p.suppressed} for p in points]
    return pa.Table.from_pylist(rows, schema=INDEX_SCHEMA)
