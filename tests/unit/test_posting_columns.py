"""A batch's postings as columns: the same postings, totals and stored form as LedgerPosting rows, without the objects."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shuniu.market.ledger import BatchPosting, LedgerPosting, PostingColumns
from shuniu.market.ledger.columns import account_sums_of_body, postings_body, postings_of_body
from shuniu.protos.v1 import ledger_pb2

ACCOUNTS = ("buyer:a", "buyer:b", "holder:h", "exchange:x", "compute_center:c")
PERIODS = ("2026-11", "2026-12", "")
VOUCHER = LedgerPosting(ledger_pb2.POSTING_KIND_VOUCHER, "subsidy:gov", "buyer:a", 7, "2026-12", "2026-11", voucher_id="v-1")

_rows = st.lists(st.tuples(st.integers(1, 4), st.integers(0, 1), st.integers(2, 4), st.integers(1, 2**40),
                           st.integers(0, 1), st.integers(0, 2)), max_size=30)


def _columns(rows, extra=()) -> PostingColumns:
    kind, debit, credit, amount, period, original = (np.array(c, dtype=np.int64).reshape(-1) for c in zip(*rows)) if rows \
        else (np.zeros(0, np.int64) for _ in range(6))
    return PostingColumns(ACCOUNTS, PERIODS, kind, debit, credit, amount, period, original, tuple(extra))


def _objects(rows, extra=()) -> list[LedgerPosting]:
    return [LedgerPosting(k, ACCOUNTS[d], ACCOUNTS[c], a, PERIODS[p], PERIODS[o]) for k, d, c, a, p, o in rows] + list(extra)


@settings(max_examples=150, deadline=None)
@given(_rows, st.booleans())
def test_columns_are_the_postings_they_describe(rows, with_voucher):
    extra = (VOUCHER,) if with_voucher else ()
    columns, objects = _columns(rows, extra), _objects(rows, extra)
    assert list(columns) == objects and len(columns) == len(objects) and columns == tuple(objects)
    if objects:
        assert columns[-1] == objects[-1]
    total = sum(p.amount_fen for p in objects)
    if not total:
        return
    as_columns, as_rows = BatchPosting("b", columns, total, 1), BatchPosting("b", tuple(objects), total, 1)
    assert as_columns.account_totals() == as_rows.account_totals()
    assert as_columns.periods == as_rows.periods


@settings(max_examples=150, deadline=None)
@given(_rows, st.booleans())
def test_stored_body_reads_back_in_either_form(rows, with_voucher):
    extra = (VOUCHER,) if with_voucher else ()
    objects = _objects(rows, extra)
    for postings in (_columns(rows, extra), tuple(objects)):  # the biller's columns; payments' and older bodies' rows
        body = json.loads(json.dumps(postings_body(postings)))
        assert postings_of_body(body) == objects
        debits, credits, count = account_sums_of_body(body)
        expected = BatchPosting("b", tuple(objects), sum(p.amount_fen for p in objects), 1).account_totals() if objects else ({}, {})
        assert (debits, credits, count) == (*expected, len(objects))


@pytest.mark.parametrize("case, row, message", [
    ("zero amount", (1, 0, 2, 0, 0, 2), "outside 1..2"),
    ("amount at 2^53", (1, 0, 2, 2**53, 0, 2), "outside 1..2"),
    ("to its own account", (1, 0, 0, 5, 0, 2), "its own account"),
], ids=lambda v: v if isinstance(v, str) and " " in v else "")
def test_a_broken_posting_column_fails_loudly(case, row, message):
    with pytest.raises(AssertionError, match=message):
        BatchPosting("b", _columns([row]), row[3], 1)


def test_columns_must_add_up_to_the_charged_lines():
    with pytest.raises(AssertionError, match="postings add to 10 fen, lines to 11"):
        BatchPosting("b", _columns([(1, 0, 2, 10, 0, 2)]), 11, 1)
