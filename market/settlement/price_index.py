"""The data price index (数据要素市场价格指数): per product category, a chained weighted index, base period = 100.

The method (published in docs/price-index.md; `shuniu index --from-statements DIR` recomputes it
from the statement files alone):

- Source: settled data transactions, i.e. the buyers' data-charge lines of closed periods'
  statements with a positive quantity. A line is one transaction; its unit price is
  line_fen / quantity (fen per unit of the product's pricing unit).
- Cell: (category, period). It holds the turnover, units and transactions per product, the
  number of transactions, and its distinct parties: the fewer of its distinct buyers and its
  distinct sellers (rights holders paid for those lines), so that a shown cell never reveals
  one buyer's or one seller's prices.
- Suppression: a cell with fewer than the minimum transactions or distinct parties is not
  shown (index 0, turnover and units 0, `suppressed`; only its counts say why) and the chain
  steps over it.
- Link: between a category's consecutive shown periods a and b, a Törnqvist index over the
  products sold at a price in both (matched products):
      ln(b / a) = Σ_i ½ (s_i,a + s_i,b) · ln(p_i,b / p_i,a)
  where p_i is product i's unit value (turnover / units) and s_i its share of the matched
  products' turnover. Weights follow what is bought, and a change in the mix of products
  is not read as a change in price. With no matched product, the link falls back to the
  ratio of the cells' unit values (turnover / units over all products).
- Chain: the first shown period of a category is 100; each later shown period is the last
  shown value times its link.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from shuniu.protos.v1 import ledger_pb2, settlement_pb2

__all__ = ["INDEX_SCHEMA", "IndexCell", "ProductSales", "chain_index", "index_cells", "index_table", "link"]

BASE_INDEX = 100.0
INDEX_SCHEMA = pa.schema([
    ("category", pa.string()), ("period", pa.string()), ("index_value", pa.float64()), ("transactions", pa.int64()),
    ("distinct_parties", pa.int64()), ("turnover_fen", pa.int64()), ("units", pa.int64()), ("suppressed", pa.bool_()),
])  # fmt: skip


@dataclass(frozen=True)
class ProductSales:
    turnover_fen: int
    units: int

    @property
    def unit_value(self) -> float:
        return self.turnover_fen / self.units


@dataclass(frozen=True)
class IndexCell:
    turnover_fen: int
    units: int
    transactions: int
    distinct_parties: int
    products: Mapping[str, ProductSales] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"turnover_fen": self.turnover_fen, "units": self.units, "transactions": self.transactions,
                "distinct_parties": self.distinct_parties,
                "products": {p: [s.turnover_fen, s.units] for p, s in sorted(self.products.items())}}

    @classmethod
    def from_json(cls, raw: Mapping) -> IndexCell:
        products = {p: ProductSales(int(t), int(u)) for p, (t, u) in raw.get("products", {}).items()}
        return cls(int(raw["turnover_fen"]), int(raw["units"]), int(raw["transactions"]), int(raw["distinct_parties"]),
                   products)


def _data_lines(lines: pa.Table, side: str) -> pa.Table:
    return lines.filter(pc.and_(pc.equal(lines.column("kind"), ledger_pb2.POSTING_KIND_DATA),
                                pc.starts_with(lines.column("account_id"), side)))


def _counts(table: pa.Table, key: str, column: str) -> dict[str, int]:
    if not table.num_rows:
        return {}
    grouped = table.group_by(key).aggregate([(column, "count_distinct")])
    return dict(zip(grouped.column(key).to_pylist(), grouped.column(f"{column}_count_distinct").to_pylist()))


def index_cells(lines: pa.Table) -> dict[str, IndexCell]:
    """Cells per category from a period's statement lines (every account's)."""
    bought = _data_lines(lines, "buyer:")
    bought = bought.filter(pc.greater(bought.column("quantity"), 0))
    if not bought.num_rows:
        return {}
    sellers = _counts(_data_lines(lines, "holder:"), "category", "account_id")
    by_product = bought.group_by(["category", "product_id"]).aggregate([("line_fen", "sum"), ("quantity", "sum")])
    products: dict[str, dict[str, ProductSales]] = {}
    for category, product, turnover, units in zip(*(by_product.column(k).to_pylist() for k in (
            "category", "product_id", "line_fen_sum", "quantity_sum"))):
        products.setdefault(category, {})[product] = ProductSales(int(turnover), int(units))
    grouped = bought.group_by("category").aggregate([("line_id", "count"), ("account_id", "count_distinct")])
    cells = {}
    for category, transactions, buyers in zip(*(grouped.column(k).to_pylist() for k in (
            "category", "line_id_count", "account_id_count_distinct"))):
        sales = products[category]
        cells[category] = IndexCell(
            turnover_fen=sum(s.turnover_fen for s in sales.values()), units=sum(s.units for s in sales.values()),
            transactions=int(transactions), distinct_parties=min(int(buyers), sellers.get(category, 0)), products=sales)
    return cells


def link(a: IndexCell, b: IndexCell) -> float:
    """The price change from cell a to cell b: Törnqvist over matched products, else the unit-value ratio."""
    matched = sorted(p for p in a.products.keys() & b.products.keys()
                     if a.products[p].turnover_fen > 0 and b.products[p].turnover_fen > 0)
    if matched:
        total_a = sum(a.products[p].turnover_fen for p in matched)
        total_b = sum(b.products[p].turnover_fen for p in matched)
        log_change = sum(0.5 * (a.products[p].turnover_fen / total_a + b.products[p].turnover_fen / total_b)
                         * math.log(b.products[p].unit_value / a.products[p].unit_value) for p in matched)
        return math.exp(log_change)
    before, after = a.turnover_fen / a.units, b.turnover_fen / b.units
    return after / before if before > 0 else 1.0  # a free previous period gives no ratio: carry the level


def chain_index(cells: Mapping[tuple[str, str], IndexCell], min_transactions: int,
                min_parties: int) -> list[settlement_pb2.PriceIndexPoint]:
    """Index points by category then period; cells keyed (category, period)."""
    points = []
    last: dict[str, tuple[IndexCell, float]] = {}
    for category, period in sorted(cells):
        cell = cells[(category, period)]
        suppressed = cell.transactions < min_transactions or cell.distinct_parties < min_parties or cell.units <= 0
        value = 0.0
        if not suppressed:
            value = BASE_INDEX if category not in last else last[category][1] * link(last[category][0], cell)
            last[category] = (cell, value)
        # A suppressed cell's turnover would be what its one or two parties paid: it is not published.
        points.append(settlement_pb2.PriceIndexPoint(
            category=category, period=period, index_value=round(value, 4), transactions=cell.transactions,
            distinct_parties=cell.distinct_parties, turnover_fen=0 if suppressed else cell.turnover_fen,
            suppressed=suppressed))
    return points


def index_table(points: Iterable[settlement_pb2.PriceIndexPoint], units: Mapping[tuple[str, str], int]) -> pa.Table:
    rows = [{"category": p.category, "period": p.period, "index_value": p.index_value, "transactions": p.transactions,
             "distinct_parties": p.distinct_parties, "turnover_fen": p.turnover_fen,
             "units": 0 if p.suppressed else units.get((p.category, p.period), 0), "suppressed": p.suppressed}
            for p in points]
    return pa.Table.from_pylist(rows, schema=INDEX_SCHEMA)
