"""Ledger maths and period rules, pure: periods, late usage, balanced posting sets, the price index chain."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shuniu.market.ledger import BatchPosting, LedgerPosting, account_id, billed_period, next_period, parse_period, period_of_ms, split_account_id
from shuniu.market.settlement import IndexCell, chain_index, yuan
from shuniu.protos.v1 import ledger_pb2

NOV_2026_CST_MS = 1_793_462_400_000  # 2026-11-01 00:00 CST = 2026-10-31 16:00 UTC

PERIOD_OF = [
    ("cst_midnight_starts_november", NOV_2026_CST_MS, "2026-11"),
    ("one_ms_before_is_october", NOV_2026_CST_MS - 1, "2026-10"),
    ("utc_midnight_is_already_cst_morning", 0, "1970-01"),
    ("december_turns_into_next_year", NOV_2026_CST_MS + 61 * 86_400_000, "2027-01"),
]


@pytest.mark.parametrize(("unix_ms", "period"), [c[1:] for c in PERIOD_OF], ids=[c[0] for c in PERIOD_OF])
def test_period_is_the_cst_month(unix_ms, period):
    assert period_of_ms(unix_ms) == period


BILLED = [
    ("open_period_bills_itself", "2026-11", set(), "2026-11"),
    ("closed_period_goes_to_next", "2026-11", {"2026-11"}, "2026-12"),
    ("skips_every_closed_period", "2026-11", {"2026-11", "2026-12"}, "2027-01"),
    ("later_closed_period_does_not_matter", "2026-11", {"2026-12"}, "2026-11"),
]


@pytest.mark.parametrize(("usage", "closed", "billed"), [c[1:] for c in BILLED], ids=[c[0] for c in BILLED])
def test_late_usage_is_billed_in_the_next_open_period(usage, closed, billed):
    assert billed_period(usage, closed) == billed


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-11", "", "2026/11", "2026-00"])
def test_malformed_period_is_refused_with_the_expected_form(bad):
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_period(bad)


@given(st.integers(0, 12 * 200))
def test_next_period_is_one_month_later(index):
    name = f"{1970 + index // 12:04d}-{index % 12 + 1:02d}"
    assert parse_period(next_period(name)) == parse_period(name) + 1


def test_account_ids_round_trip_and_unknown_kinds_are_refused():
    assert account_id("buyer", "acme") == "buyer:acme"
    assert account_id(ledger_pb2.ACCOUNT_KIND_FEEDBACK_FUND, "dept") == "feedback_fund:dept"
    assert split_account_id("compute_center:cc-1") == (ledger_pb2.ACCOUNT_KIND_COMPUTE_CENTER, "cc-1")
    with pytest.raises(ValueError, match="unknown"):
        account_id("bank", "x")
    with pytest.raises(ValueError, match="<kind>:<owner>"):
        split_account_id("acme")


def _posting(amount: int, debit: str = "buyer:a", credit: str = "holder:h") -> LedgerPosting:
    return LedgerPosting(ledger_pb2.POSTING_KIND_DATA, debit, credit, amount, "2026-11")


UNBALANCED = [
    ("parts_short_of_the_charge", [_posting(5), _posting(4)], 10, "add to 9 fen, lines to 10"),
    ("zero_amount", [_posting(0)], 0, "outside 1..2"),
    ("negative_amount", [_posting(-3), _posting(13)], 10, "outside 1..2"),
    ("to_itself", [_posting(10, "buyer:a", "buyer:a")], 10, "to itself"),
]


@pytest.mark.parametrize(("postings", "charged", "message"), [c[1:] for c in UNBALANCED], ids=[c[0] for c in UNBALANCED])
def test_an_unbalanced_posting_set_cannot_be_built(postings, charged, message):
    with pytest.raises(AssertionError, match=message):
        BatchPosting("b-1", tuple(postings), charged, 1)


@given(st.lists(st.integers(1, 10**12), max_size=20))
def test_a_posting_set_that_adds_up_is_accepted(amounts):
    batch = BatchPosting("b-1", tuple(_posting(a) for a in amounts), sum(amounts), len(amounts))
    assert sum(p.amount_fen for p in batch.postings) == batch.charged_fen


def _cell(turnover, units, n=5, parties=3):
    return IndexCell(turnover, units, n, parties)


INDEX = [
    ("flat_prices_stay_at_100", {"2026-10": _cell(1000, 100), "2026-11": _cell(2000, 200)}, [100.0, 100.0]),
    ("doubling_average_price_doubles", {"2026-10": _cell(1000, 100), "2026-11": _cell(2000, 100)}, [100.0, 200.0]),
    ("chain_multiplies_links", {"2026-10": _cell(100, 100), "2026-11": _cell(150, 100), "2026-12": _cell(300, 100)}, [100.0, 150.0, 300.0]),
    ("suppressed_cell_is_skipped_by_the_chain", {"2026-10": _cell(100, 100), "2026-11": _cell(500, 100, n=1), "2026-12": _cell(120, 100)}, [100.0, 0.0, 120.0]),
    ("too_few_parties_suppressed", {"2026-10": _cell(100, 100, parties=1)}, [0.0]),
]


@pytest.mark.parametrize(("cells", "values"), [c[1:] for c in INDEX], ids=[c[0] for c in INDEX])
def test_price_index_chains_average_unit_prices(cells, values):
    points = chain_index({("traffic", p): c for p, c in cells.items()}, min_transactions=3, min_parties=2)
    assert [p.index_value for p in points] == values
    assert [p.period for p in points] == sorted(cells)


@pytest.mark.parametrize(("fen", "text"), [(0, "0.00"), (5, "0.05"), (123456, "1,234.56"), (-101, "-1.01")])
def test_yuan_is_exact(fen, text):
    assert yuan(fen) == text
