"""The published price index method: chained Törnqvist over matched products, suppression by transactions and parties."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shuniu.market.settlement.price_index import IndexCell, ProductSales, chain_index, index_cells, index_table, link
from shuniu.market.settlement.statements import STATEMENT_SCHEMA
from shuniu.protos.v1 import ledger_pb2

DATA, COMPUTE = ledger_pb2.POSTING_KIND_DATA, ledger_pb2.POSTING_KIND_COMPUTE


def _cell(products: dict[str, tuple[int, int]], n: int = 5, parties: int = 3) -> IndexCell:
    sales = {p: ProductSales(t, u) for p, (t, u) in products.items()}
    return IndexCell(sum(s.turnover_fen for s in sales.values()), sum(s.units for s in sales.values()), n, parties, sales)


def _values(*cells: IndexCell) -> list[float]:
    periods = [f"2026-{m:02d}" for m in range(1, len(cells) + 1)]
    return [p.index_value for p in chain_index({("energy", p): c for p, c in zip(periods, cells)}, 3, 2)]


def test_a_shift_towards_the_dearer_product_is_not_a_price_rise():
    cheap_mostly = _cell({"cheap": (1_000, 1_000), "dear": (1_000, 100)})
    dear_mostly = _cell({"cheap": (100, 100), "dear": (10_000, 1_000)})
    assert dear_mostly.turnover_fen / dear_mostly.units > 5 * cheap_mostly.turnover_fen / cheap_mostly.units
    assert _values(cheap_mostly, dear_mostly) == [100.0, 100.0]


def test_one_of_two_equally_weighted_products_doubling_gives_the_geometric_mean():
    a = _cell({"x": (1_000, 100), "y": (1_000, 100)})
    b = _cell({"x": (2_000, 100), "y": (1_000, 100)})
    # Shares: x ½ then ⅔, y ½ then ⅓; ln I = ½(½+⅔)·ln 2.
    assert _values(a, b)[1] == pytest.approx(100 * math.exp(0.5 * (0.5 + 2 / 3) * math.log(2)), abs=1e-4)


def test_products_sold_in_only_one_period_do_not_enter_the_link():
    a = _cell({"x": (1_000, 100), "gone": (50_000, 10)})
    b = _cell({"x": (1_100, 100), "new": (90_000, 10)})
    assert _values(a, b)[1] == pytest.approx(110.0)


def test_without_a_matched_product_the_link_is_the_unit_value_ratio():
    assert _values(_cell({"x": (1_000, 100)}), _cell({"y": (3_000, 100)})) == [100.0, 300.0]


def test_a_suppressed_period_is_stepped_over_and_the_next_links_to_the_last_shown():
    a, hidden, c = _cell({"x": (100, 100)}), _cell({"x": (900, 100)}, n=1), _cell({"x": (120, 100)})
    assert _values(a, hidden, c) == [100.0, 0.0, 120.0]


@pytest.mark.parametrize("transactions, parties", [(2, 5), (9, 1)], ids=["too-few-transactions", "one-party"])
def test_a_suppressed_cell_publishes_no_turnover_or_units_only_why_it_is_hidden(transactions, parties):
    hidden = _cell({"x": (9_000, 100)}, n=transactions, parties=parties)
    point, = chain_index({("energy", "2026-01"): hidden}, 3, 2)
    assert (point.suppressed, point.index_value, point.turnover_fen) == (True, 0.0, 0)
    assert (point.transactions, point.distinct_parties) == (transactions, parties)
    row, = index_table([point], {("energy", "2026-01"): hidden.units}).to_pylist()
    assert (row["turnover_fen"], row["units"]) == (0, 0)


_products = st.dictionaries(st.sampled_from("abcdef"), st.tuples(st.integers(1, 10**9), st.integers(1, 10**6)), min_size=1)


@given(_products, st.integers(1, 50))
def test_every_price_times_k_moves_the_index_by_k(products, k):
    a = _cell(products)
    b = _cell({p: (t * k, u) for p, (t, u) in products.items()})
    assert link(a, b) == pytest.approx(k, rel=1e-9)


@given(_products, _products)
def test_going_there_and_back_returns_to_100(first, second):
    a, b = _cell(first), _cell(second)
    assert link(a, b) * link(b, a) == pytest.approx(1.0, rel=1e-9)


def _line(account: str, product: str, category: str, line_fen: int, quantity: int, kind: int = DATA) -> dict:
    return {"line_id": f"{account}/{product}/{line_fen}", "account_id": account, "kind": kind, "amount_fen": -line_fen,
            "counterparty": "", "record_id": "r", "job_id": "j", "grant_id": "g", "product_id": product, "price_version": 1,
            "category": category, "quantity": quantity, "line_fen": line_fen, "guided_cap_reduction_fen": 0,
            "original_period": "", "batch_id": "b"}


def test_a_cell_counts_the_fewer_of_its_buyers_and_sellers_and_only_priced_data_lines():
    lines = pa.Table.from_pylist([
        _line("buyer:a", "p1", "energy", 100, 10), _line("buyer:b", "p1", "energy", 200, 20),
        _line("buyer:c", "p2", "energy", 300, 10), _line("buyer:c", "p2", "energy", 0, 0),  # no quantity: no transaction
        _line("holder:h1", "p1", "energy", 300, 30), _line("holder:h1", "p2", "energy", 300, 10),
        _line("buyer:a", "", "energy", 999, 99, kind=COMPUTE),
    ], schema=STATEMENT_SCHEMA)
    (category, cell), = index_cells(lines).items()
    assert category == "energy"
    assert (cell.transactions, cell.distinct_parties, cell.turnover_fen, cell.units) == (3, 1, 600, 40)
    assert cell.products == {"p1": ProductSales(300, 30), "p2": ProductSales(300, 10)}
    assert IndexCell.from_json(cell.to_json()) == cell
