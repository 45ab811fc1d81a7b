"""Compute voucher (算力券) draw arithmetic: never negative, adds up to the fen, eligibility, expiry and order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shuniu.market.vouchers import (
    ChargeGroup,
    HeldVoucher,
    cap_refusal,
    draw_order,
    draw_vouchers,
)

NOW_MS = 1_800_000_000_000
BUYERS = ("acme", "beta")
SITES = ("zhengzhou", "luoyang", "qingyang")


def _voucher(vid: str, org: str = "acme", remaining: int = 100, until: int = NOW_MS + 1000, since: int = NOW_MS - 1000,
             classes=(), sites=()) -> HeldVoucher:
    return HeldVoucher(vid, org, remaining, since, until, frozenset(classes), frozenset(sites))


_vouchers = st.lists(st.builds(
    HeldVoucher,
    voucher_id=st.uuids().map(lambda u: f"v-{u.hex[:8]}"),
    org_id=st.sampled_from(BUYERS),
    remaining_fen=st.integers(0, 5_000),
    valid_from_unix_ms=st.integers(NOW_MS - 3, NOW_MS + 1),
    valid_until_unix_ms=st.integers(NOW_MS - 1, NOW_MS + 4),
    classes=st.frozensets(st.integers(1, 3), max_size=2),
    sites=st.frozensets(st.sampled_from(SITES), max_size=2),
), max_size=6, unique_by=lambda v: v.voucher_id)
_groups = st.lists(st.builds(ChargeGroup, buyer_id=st.sampled_from(BUYERS), compute_class=st.integers(1, 3),
                             site=st.sampled_from(SITES), amount_fen=st.integers(0, 4_000)), max_size=8)


@settings(max_examples=400, deadline=None)
@given(_groups, _vouchers)
def test_draws_add_up_to_each_charge_and_never_exceed_or_go_negative(groups, vouchers):
    result = draw_vouchers(groups, vouchers, NOW_MS)
    held = {v.voucher_id: v for v in vouchers}
    drawn_per_group = [0] * len(groups)
    drawn_per_voucher: dict[str, int] = {}
    for d in result.draws:
        assert d.amount_fen > 0
        drawn_per_group[d.group] += d.amount_fen
        drawn_per_voucher[d.voucher_id] = drawn_per_voucher.get(d.voucher_id, 0) + d.amount_fen
    for g, group in enumerate(groups):
        assert result.own_fen[g] >= 0
        assert drawn_per_group[g] + result.own_fen[g] == group.amount_fen  # to the fen
    assert set(result.remaining_fen) == set(drawn_per_voucher)
    for vid, drawn in drawn_per_voucher.items():
        assert 0 <= result.remaining_fen[vid] == held[vid].remaining_fen - drawn
    assert result.drawn_fen == sum(drawn_per_voucher.values())


@settings(max_examples=400, deadline=None)
@given(_groups, _vouchers)
def test_only_the_buyers_own_valid_eligible_vouchers_pay(groups, vouchers):
    result = draw_vouchers(groups, vouchers, NOW_MS)
    held = {v.voucher_id: v for v in vouchers}
    for d in result.draws:
        v, g = held[d.voucher_id], groups[d.group]
        assert v.org_id == g.buyer_id
        assert v.valid_from_unix_ms <= NOW_MS < v.valid_until_unix_ms, "an expired or not yet valid voucher paid"
        assert v.covers(g.compute_class, g.site), "a voucher paid for a class or site it does not cover"


@settings(max_examples=400, deadline=None)
@given(_groups, _vouchers)
def test_oldest_expiry_pays_first_and_own_funds_pay_only_what_vouchers_cannot(groups, vouchers):
    result = draw_vouchers(groups, vouchers, NOW_MS)
    order = {v.voucher_id: i for i, v in enumerate(draw_order(vouchers))}
    left = {v.voucher_id: v.remaining_fen for v in vouchers}
    for g, group in enumerate(groups):
        draws = [d for d in result.draws if d.group == g]
        assert [order[d.voucher_id] for d in draws] == sorted(order[d.voucher_id] for d in draws)
        for d in draws:
            left[d.voucher_id] -= d.amount_fen
        eligible = [v for v in vouchers if v.org_id == group.buyer_id and v.valid_at(NOW_MS)
                    and v.covers(group.compute_class, group.site)]
        if draws:  # every eligible voucher ahead of the last one used is empty now
            last = order[draws[-1].voucher_id]
            assert all(left[v.voucher_id] == 0 for v in eligible if order[v.voucher_id] < last)
        if result.own_fen[g]:
            assert all(left[v.voucher_id] == 0 for v in eligible), "the buyer paid while an eligible voucher had funds"


@pytest.mark.parametrize(("vouchers", "group", "drawn", "own"), [
    pytest.param([_voucher("a", remaining=60)], ChargeGroup("acme", 1, "zhengzhou", 100), {"a": 60}, 40, id="voucher-then-own"),
    pytest.param([_voucher("a", remaining=500)], ChargeGroup("acme", 1, "zhengzhou", 100), {"a": 100}, 0, id="voucher-pays-all"),
    pytest.param([_voucher("late", until=NOW_MS + 9000), _voucher("soon", remaining=30)], ChargeGroup("acme", 1, "zhengzhou", 100),
                 {"soon": 30, "late": 70}, 0, id="oldest-expiry-first"),
    pytest.param([_voucher("a", until=NOW_MS)], ChargeGroup("acme", 1, "zhengzhou", 100), {}, 100, id="expired-at-valid-until"),
    pytest.param([_voucher("a", since=NOW_MS + 1)], ChargeGroup("acme", 1, "zhengzhou", 100), {}, 100, id="not-yet-valid"),
    pytest.param([_voucher("a", classes=[2])], ChargeGroup("acme", 1, "zhengzhou", 100), {}, 100, id="ineligible-class"),
    pytest.param([_voucher("a", sites=["luoyang"])], ChargeGroup("acme", 1, "zhengzhou", 100), {}, 100, id="ineligible-site"),
    pytest.param([_voucher("a", org="beta")], ChargeGroup("acme", 1, "zhengzhou", 100), {}, 100, id="other-buyers-voucher"),
    pytest.param([_voucher("a", remaining=0)], ChargeGroup("acme", 1, "zhengzhou", 100), {}, 100, id="exhausted"),
])  # fmt: skip
def test_worked_draws(vouchers, group, drawn, own):
    result = draw_vouchers([group], vouchers, NOW_MS)
    assert {d.voucher_id: d.amount_fen for d in result.draws} == drawn
    assert result.own_fen == (own,)


@pytest.mark.parametrize(("cap", "outstanding", "amount", "expected"), [
    pytest.param(None, 0, 10, "no voucher cap", id="no-cap"),
    pytest.param(1000, 900, 101, "cap 1000 fen, outstanding 900 fen, asked 101 fen; at most 100 fen", id="over-cap"),
    pytest.param(1000, 900, 100, None, id="exactly-at-cap"),
    pytest.param(500, 900, 1, "at most 0 fen", id="cap-lowered-below-outstanding"),
])
def test_cap_refusal_names_the_numbers(cap, outstanding, amount, expected):
    refusal = cap_refusal("acme", cap, outstanding, amount)
    assert refusal is None if expected is None else expected in refusal
