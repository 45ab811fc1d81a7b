"""The credit score rule (信用分): bounds, monotone in penalties, fading back, thresholds; unpaid bills."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shuniu.market import credit
from shuniu.market.credit.score import DAY_MS
from shuniu.protos.v1 import credit_pb2

POLICY = credit.CreditPolicy()
NOW_MS = 1_800_000_000_000
FADE_MS = POLICY.fade_ms


def _event(kind: int, points: int, at_ms: int) -> credit_pb2.CreditEvent:
    return credit_pb2.CreditEvent(org_id="o", kind=kind, points=points, recorded_unix_ms=at_ms)


penalties = st.builds(lambda kind, points, age: _event(kind, points, NOW_MS - age),
                      st.sampled_from(credit.PENALTY_KINDS), st.integers(-1000, -1), st.integers(0, 2 * FADE_MS))
adjustments = st.builds(lambda points, age: _event(credit.ADJUSTMENT, points, NOW_MS - age),
                        st.integers(-1000, 1000).filter(bool), st.integers(0, 2 * FADE_MS))
histories = st.lists(st.one_of(penalties, adjustments), max_size=30)


@settings(max_examples=300, deadline=None)
@given(histories, st.integers(0, 3 * FADE_MS))
def test_score_stays_within_0_and_1000(events, later_ms):
    assert 0 <= credit.score_at(events, NOW_MS + later_ms, POLICY) <= 1000


@settings(max_examples=300, deadline=None)
@given(histories, penalties)
def test_adding_a_penalty_never_raises_the_score(events, penalty):
    assert credit.score_at([*events, penalty], NOW_MS, POLICY) <= credit.score_at(events, NOW_MS, POLICY)


@settings(max_examples=300, deadline=None)
@given(histories, st.sampled_from(credit.PENALTY_KINDS), st.integers(-999, -1), st.integers(1, 500), st.integers(0, FADE_MS))
def test_a_heavier_penalty_never_scores_higher(events, kind, points, extra, age):
    light = credit.score_at([*events, _event(kind, points, NOW_MS - age)], NOW_MS, POLICY)
    heavy = credit.score_at([*events, _event(kind, max(-1000, points - extra), NOW_MS - age)], NOW_MS, POLICY)
    assert heavy <= light


@settings(max_examples=300, deadline=None)
@given(histories, st.integers(0, FADE_MS), st.integers(0, FADE_MS))
def test_score_never_falls_as_time_passes(events, first_ms, more_ms):
    assert credit.score_at(events, NOW_MS + first_ms, POLICY) <= credit.score_at(events, NOW_MS + first_ms + more_ms,
                                                                                POLICY)


@settings(max_examples=200, deadline=None)
@given(st.lists(penalties, max_size=30))
def test_penalties_fade_away_after_the_fade_window(events):
    assert credit.score_at(events, NOW_MS + FADE_MS, POLICY) == 1000


@pytest.mark.parametrize("age_ms, expected", [
    (0, -100), (FADE_MS // 2, -50), (FADE_MS - 1, -1), (FADE_MS, 0), (2 * FADE_MS, 0),
], ids=["fresh", "half-faded", "last-ms", "faded", "long-gone"])
def test_a_penalty_fades_linearly(age_ms, expected):
    assert credit.faded_points(-100, NOW_MS - age_ms, NOW_MS, FADE_MS) == expected


@pytest.mark.parametrize("points, needs_operator, blocked", [
    (0, False, False), (-300, False, False), (-301, True, False), (-600, True, False), (-601, True, True),
], ids=["clean", "at-700", "below-700", "at-400", "below-400"])
def test_thresholds_decide_the_standing(points, needs_operator, blocked):
    events = [_event(credit.ADJUSTMENT, points, NOW_MS)] if points else []
    s = credit.standing("o", events, NOW_MS, POLICY)
    assert (s.score, s.needs_operator, s.blocked) == (1000 + points, needs_operator, blocked)


def test_an_event_recorded_later_does_not_count_yet():
    assert credit.score_at([_event(credit.EGRESS_DENIAL, -50, NOW_MS + 1)], NOW_MS, POLICY) == 1000


def test_blocked_message_names_score_and_threshold():
    s = credit.standing("acme", [_event(credit.ADJUSTMENT, -700, NOW_MS)], NOW_MS, POLICY)
    message = credit.blocked_message(s, POLICY)
    assert "credit score 300" in message and "threshold 400" in message and "acme" in message


@pytest.mark.parametrize("kind, points, expected", [
    (credit.EGRESS_DENIAL, 0, -50), (credit.GRANT_VIOLATION, -10, -10), (credit.ADJUSTMENT, 200, 200),
    (credit.ADJUSTMENT, 0, "adjustment"), (credit.EGRESS_DENIAL, 5, "penalty"), (credit.GRANT_REVOKED, -1001, "penalty"),
    (99, -1, "unknown"),
], ids=["penalty-default", "penalty-given", "adjustment", "adjustment-zero", "penalty-positive", "penalty-too-big",
        "unknown-kind"])
def test_check_points(kind, points, expected):
    if isinstance(expected, int):
        assert credit.check_points(kind, points, POLICY) == expected
    else:
        with pytest.raises(ValueError, match=expected):
            credit.check_points(kind, points, POLICY)


@pytest.mark.parametrize("kwargs", [
    {"admission_threshold": 800}, {"fade_days": 0}, {"penalties": {credit.EGRESS_DENIAL: -5}},
], ids=["thresholds-crossed", "no-fade", "missing-kinds"])
def test_policy_refuses_bad_terms(kwargs):
    with pytest.raises(ValueError):
        credit.CreditPolicy(**kwargs)


def _bill(period: str, charges_fen: int, closed_ms: int) -> credit.Bill:
    return credit.Bill(f"{period}/buyer:b", period, "buyer:b", "b", charges_fen, closed_ms)


@pytest.mark.parametrize("paid_fen, now_days, unpaid", [
    (0, 29, []), (0, 30, ["2026-01"]), (0, 61, ["2026-01", "2026-02"]), (100, 61, ["2026-02"]),
    (300, 61, []), (150, 61, ["2026-02"]),
], ids=["not-due", "first-due", "both-due", "first-paid", "all-paid", "second-partly-paid"])
def test_unpaid_bills_are_paid_oldest_first(paid_fen, now_days, unpaid):
    bills = [_bill("2026-02", 200, 31 * DAY_MS), _bill("2026-01", 100, 0)]
    found = credit.unpaid_bills(bills, paid_fen, now_days * DAY_MS, POLICY.unpaid_due_days)
    assert [b.period for b in found] == unpaid


def test_a_credit_hold_turns_an_auto_approval_into_a_wait_for_an_operator():
    from shuniu.market.grants import GrantPolicy, decide
    from shuniu.protos.v1 import catalog_pb2, common_pb2, grants_pb2

    product = catalog_pb2.Product(product_id="p", spec=catalog_pb2.ProductSpec(grade=common_pb2.CLASSIFICATION_GRADE_PUBLIC))
    spec = grants_pb2.GrantSpec(products=[common_pb2.ProductColumns(product_id="p")])
    assert decide(spec, {"p": product}, GrantPolicy(), NOW_MS).state == grants_pb2.GRANT_STATE_APPROVED
    held = decide(spec, {"p": product}, GrantPolicy(), NOW_MS, credit_hold="credit score 650 < 700")
    assert (held.state, held.reason) == (grants_pb2.GRANT_STATE_PENDING,
                                         "needs_operator:credit_score (credit score 650 < 700)")
