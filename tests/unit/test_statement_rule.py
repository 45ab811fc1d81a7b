"""The written rules of amounts below a fen, as pure functions, against references in plain Python integers.

`rounded_fen` and `apportioned` say what a statement shows (docs/billing.md, "Statements");
`accrual.posted` and `accrual.rounded` are the plain-Python twin of the posting scripts' accrual
(the scripts themselves are held to the rule against a real Redis in tests/integration/test_accrual_rule.py).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shuniu.market.ledger import PostingColumns
from shuniu.market.ledger.accrual import posted, rounded
from shuniu.market.settlement.statements import apportioned, apportioned_rest, rounded_fen

_lines = st.lists(st.tuples(st.integers(0, 3), st.one_of(st.integers(0, 999), st.integers(0, 10**12))), max_size=40)


@pytest.mark.parametrize(("millifen", "fen"), [(0, 0), (1, 0), (499, 0), (500, 1), (999, 1), (1000, 1), (1499, 1),
                                               (1500, 2), (2500, 3), (10**15 + 500, 10**12 + 1)],
                         ids=["nothing", "one_millifen", "just_under_half", "half_rounds_up", "just_under_a_fen", "one_fen",
                              "one_and_just_under_half", "one_and_a_half", "two_and_a_half_up_not_even", "large"])
def test_a_closed_pair_is_rounded_once_half_up(millifen, fen):
    assert rounded_fen(np.int64(millifen)) == fen
    assert rounded_fen(millifen * 1000 + 999, 10**6) == rounded_fen(millifen * 1000, 10**6) == fen  # in micro-fen alike


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**62 * 1000 * 64))
def test_a_pairs_micro_fen_round_once_half_up_whatever_their_size(microfen):
    fen, rest = divmod(microfen, 10**6)
    assert rounded_fen(microfen, 10**6) == fen + (2 * rest >= 10**6)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 10**15), st.integers(0, 999)), max_size=40), st.booleans())
def test_a_pairs_fen_go_to_its_lines_by_their_micro_fen_and_add_up(lines, closed):
    """Lines of milli-fen and micro-fen below them: whole fen, then one more to the largest rests in micro-fen."""
    micro = [m * 1000 + r for _, m, r in lines]
    code = np.array([c for c, _, _ in lines], dtype=np.int64)
    totals = defaultdict(int)
    for (c, _, _), u in zip(lines, micro):
        totals[c] += u
    due = [(totals[c] + 500_000) // 10**6 if closed else totals[c] // 10**6 for c in range(4)]
    got = apportioned_rest(np.array([u // 10**6 for u in micro], dtype=np.int64), np.array([u % 10**6 for u in micro], dtype=np.int64),
                           code, np.array(due, dtype=np.int64)).tolist()
    expected = [u // 10**6 for u in micro]
    for c in range(4):
        mine = [i for i, (k, _, _) in enumerate(lines) if k == c]
        for i in sorted(mine, key=lambda i: (-(micro[i] % 10**6), i))[:due[c] - sum(expected[i] for i in mine)]:
            expected[i] += 1
    assert got == expected


@settings(max_examples=300, deadline=None)
@given(_lines, st.booleans())
def test_a_pairs_fen_go_to_its_lines_by_largest_remainder_and_add_up(lines, closed):
    code = np.array([c for c, _ in lines], dtype=np.int64)
    millifen = np.array([m for _, m in lines], dtype=np.int64)
    totals = defaultdict(int)
    for c, m in lines:
        totals[c] += m
    due = np.array([(totals[c] + 500) // 1000 if closed else totals[c] // 1000 for c in range(4)], dtype=np.int64)
    got = apportioned(millifen, code, due).tolist()
    # Reference: per pair, whole fen first, then one more to the largest rests, the earlier line on ties.
    expected = [m // 1000 for _, m in lines]
    for c in range(4):
        mine = [i for i, (k, _) in enumerate(lines) if k == c]
        left = int(due[c]) - sum(expected[i] for i in mine)
        for i in sorted(mine, key=lambda i: (-(lines[i][1] % 1000), i))[:left]:
            expected[i] += 1
    assert got == expected
    for c in range(4):
        assert sum(f for f, (k, _) in zip(got, lines) if k == c) == due[c]


_postings = st.lists(st.lists(st.tuples(st.integers(0, 1), st.integers(2, 3), st.integers(0, 1),
                                        st.one_of(st.integers(1, 999), st.integers(1, 10**6), st.integers(1, 10**15))),
                              min_size=1, max_size=8), max_size=6)


@settings(max_examples=200, deadline=None)
@given(_postings)
def test_the_twin_posts_each_pairs_whole_fen_crossed_then_rounds_once_at_close(batches):
    accounts, periods = ("buyer:a", "buyer:b", "holder:h", "exchange:x"), ("2026-11", "2026-12")
    accrued: dict = {}
    moved: dict = defaultdict(int)
    exact: dict = defaultdict(int)
    for lines in batches:
        col = lambda values: np.array(values, dtype=np.int64)  # noqa: E731
        columns = PostingColumns(accounts, periods, col([2] * len(lines)), col([d for d, _, _, _ in lines]),
                                 col([c for _, c, _, _ in lines]), col([m // 10**6 for *_, m in lines]),
                                 col([p for _, _, p, _ in lines]), col([0] * len(lines)), sub_microfen=col([m % 10**6 for *_, m in lines]))
        for p in posted(columns, accrued):
            moved[(p.debit_account_id, p.credit_account_id, p.period)] += p.amount_fen
        for d, c, p, m in lines:
            exact[(accounts[d], accounts[c], periods[p])] += m
        assert dict(moved) == {k: m // 10**6 for k, m in exact.items() if m // 10**6}
    for period in periods:
        for p in rounded(period, accrued):
            moved[(p.debit_account_id, p.credit_account_id, p.period)] += p.amount_fen
    assert dict(moved) == {k: (m + 500_000) // 10**6 for k, m in exact.items() if (m + 500_000) // 10**6} and not accrued
