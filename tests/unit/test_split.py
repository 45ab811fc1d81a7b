"""Revenue split: worked examples in fen, validation messages, kernel == twin, and exact sums."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shuniu.market.split import Posting, build_split_plans, postings, split_lines, split_sums
from shuniu.market.split.hamilton import split_twin

PLANS = build_split_plans(
    {
        # Public data: 3% exchange fee, 10% 反哺 to the transport department, the rest 50/50.
        "traffic": {"holders": {"h-city": 5000, "h-bus": 5000}, "exchange_fee_bp": 300, "public": True,
                    "feedback": {"department": "dept-transport", "share_bp": 1000}},
        "credit": {"holders": {"h-bank": 3333, "h-telco": 3333, "h-apex": 3334}, "exchange_fee_bp": 0},
    },  # fmt: skip
    {"cc-zz": {"exchange_fee_bp": 200}},
)
TRAFFIC = int(PLANS.data_plan_index(["traffic"])[0])
CREDIT = int(PLANS.data_plan_index(["credit"])[0])
CC_ZZ = int(PLANS.compute_plan_index(["cc-zz"])[0])


def _parts(plan: int, amount: int) -> dict[tuple[str, str], int]:
    result = split_lines(PLANS, np.array([plan]), np.array([amount]))
    lo, hi = PLANS.plan_offsets[plan], PLANS.plan_offsets[plan + 1]
    return {PLANS.parties[k]: int(fen) for k, fen in zip(PLANS.slot_party[lo:hi], result.part_fen)}


CASES = [
    ("compute_center_less_fee", CC_ZZ, 1000, {("compute_center", "cc-zz"): 980, ("exchange", "exchange"): 20}),
    ("compute_leftover_fen_to_larger_remainder", CC_ZZ, 101, {("compute_center", "cc-zz"): 99, ("exchange", "exchange"): 2}),
    ("public_data_with_feedback", TRAFFIC, 10_000,
     {("exchange", "exchange"): 300, ("feedback_fund", "dept-transport"): 1000, ("holder", "h-city"): 4350, ("holder", "h-bus"): 4350}),
    ("two_leftover_fen_to_the_holders", TRAFFIC, 101,
     {("exchange", "exchange"): 3, ("feedback_fund", "dept-transport"): 10, ("holder", "h-city"): 44, ("holder", "h-bus"): 44}),
    ("tie_goes_to_the_lower_party_id", TRAFFIC, 1,
     {("exchange", "exchange"): 0, ("feedback_fund", "dept-transport"): 0, ("holder", "h-city"): 0, ("holder", "h-bus"): 1}),
    ("three_way_tie_by_party_id", CREDIT, 2, {("holder", "h-apex"): 1, ("holder", "h-bank"): 1, ("holder", "h-telco"): 0}),
    ("largest_remainder_beats_party_id", CREDIT, 10, {("holder", "h-apex"): 4, ("holder", "h-bank"): 3, ("holder", "h-telco"): 3}),
    ("zero_line_splits_to_zero", CREDIT, 0, {("holder", "h-apex"): 0, ("holder", "h-bank"): 0, ("holder", "h-telco"): 0}),
]  # fmt: skip


@pytest.mark.parametrize(("plan", "amount", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_split_worked_examples(plan, amount, expected):
    assert _parts(plan, amount) == expected
    assert sum(expected.values()) == amount


def test_postings_credit_each_party_once_and_balance_the_buyers_debits():
    amounts = np.array([1000, 101, 10_000, 7])
    plans = np.array([CC_ZZ, CC_ZZ, TRAFFIC, CREDIT])
    result = split_lines(PLANS, plans, amounts)
    legs = postings(PLANS, result, ["buyer-a", "buyer-b", "buyer-a", "buyer-a"], amounts)
    assert Posting("buyer", "buyer-a", -11_007) in legs and Posting("buyer", "buyer-b", -101) in legs
    assert Posting("compute_center", "cc-zz", 980 + 99) in legs
    assert Posting("exchange", "exchange", 20 + 2 + 300) in legs
    assert sum(p.amount_fen for p in legs) == 0
    assert len({(p.party_type, p.party_id) for p in legs}) == len(legs)


PLAN_ERRORS = [
    ("shares_not_10000", {"p": {"holders": {"a": 5000, "b": 4000}, "exchange_fee_bp": 0}}, {}, "shares sum to 9000 bp; they must sum to 10000"),
    ("feedback_for_non_public_data", {"p": {"holders": {"a": 10_000}, "exchange_fee_bp": 0, "feedback": {"department": "d", "share_bp": 1}}}, {}, "only for public data"),
    ("fee_plus_feedback_over_10000", {"p": {"holders": {"a": 10_000}, "exchange_fee_bp": 6000, "public": True, "feedback": {"department": "d", "share_bp": 5000}}}, {}, "exceed 10000 bp"),
    ("zero_share_holder", {"p": {"holders": {"a": 10_000, "b": 0}, "exchange_fee_bp": 0}}, {}, "holder 'b' has a 0 bp share"),
    ("fee_not_an_integer", {}, {"cc": {"exchange_fee_bp": 2.5}}, "exchange_fee_bp must be an integer number of basis points"),
    ("fee_over_10000", {}, {"cc": {"exchange_fee_bp": 10_001}}, "in 0..10000, got 10001"),
    ("no_holders", {"p": {"holders": {}, "exchange_fee_bp": 0}}, {}, "holders must map 1..32 holder ids"),
    ("unknown_key", {"p": {"holders": {"a": 10_000}, "fee_bp": 0}}, {}, "unknown keys \\['fee_bp'\\]"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "compute", "message"), [c[1:] for c in PLAN_ERRORS], ids=[c[0] for c in PLAN_ERRORS])
def test_split_plan_builder_rejects_bad_input(data, compute, message):
    with pytest.raises(ValueError, match=message):
        build_split_plans(data, compute)


def test_unknown_plan_and_negative_amount_are_rejected():
    with pytest.raises(ValueError, match="no data split plan for 'ghost'"):
        PLANS.data_plan_index(["traffic", "ghost"])
    with pytest.raises(ValueError, match="amount_fen must be within 0"):
        split_lines(PLANS, np.array([CC_ZZ]), np.array([-1]))
    with pytest.raises(ValueError, match="one split call takes at most"):
        split_lines(PLANS, np.array([CC_ZZ, CC_ZZ]), np.array([2**62, 1]))


@st.composite
def plans_and_lines(draw):
    products = {}
    for p in range(draw(st.integers(1, 3))):
        n = draw(st.integers(1, 6))
        cuts = sorted(draw(st.lists(st.integers(1, 9999), unique=True, min_size=n - 1, max_size=n - 1)))
        shares = [b - a for a, b in zip([0, *cuts], [*cuts, 10_000])]
        # Holder ids drawn from a small alphabet so that ids repeat across products and sort in many orders.
        ids = draw(st.lists(st.text("abcxyz", min_size=1, max_size=3), unique=True, min_size=n, max_size=n))
        fee = draw(st.sampled_from([0, 1, 250, 3333, 5000]))
        public = draw(st.booleans())
        feedback = {"department": draw(st.sampled_from(["a", "dept", "z"])), "share_bp": draw(st.integers(0, 10_000 - fee))} if public and draw(st.booleans()) else None
        products[f"p{p}"] = {"holders": dict(zip(ids, shares)), "exchange_fee_bp": fee, "public": public, "feedback": feedback}
    centers = {f"cc{c}": {"exchange_fee_bp": draw(st.integers(0, 10_000))} for c in range(draw(st.integers(0, 2)))}
    plans = build_split_plans(products, centers, exchange_id=draw(st.sampled_from(["exchange", "b"])))
    n = draw(st.integers(0, 40))
    amount = st.one_of(st.integers(0, 1000), st.integers(0, 2**62 // 40), st.just(2**62 // 40))
    plan_index = np.array(draw(st.lists(st.integers(0, len(plans.plan_keys) - 1), min_size=n, max_size=n)), dtype=np.int64)
    amounts = np.array(draw(st.lists(amount, min_size=n, max_size=n)), dtype=np.int64)
    return plans, plan_index, amounts


_PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_PROPERTY
@given(plans_and_lines())
def test_split_kernel_equals_its_plain_twin(case):
    plans, plan_index, amounts = case
    result = split_lines(plans, plan_index, amounts)
    kernel = [result.part_fen[a:b].tolist() for a, b in zip(result.line_offsets, result.line_offsets[1:])]
    assert kernel == split_twin(plans, plan_index.tolist(), amounts.tolist())


@_PROPERTY
@given(plans_and_lines())
def test_every_split_adds_up_to_the_fen_and_stays_within_a_fen_of_the_exact_share(case):
    plans, plan_index, amounts = case
    result = split_lines(plans, plan_index, amounts)
    for i, (p, amount) in enumerate(zip(plan_index, amounts)):
        parts = result.part_fen[result.line_offsets[i] : result.line_offsets[i + 1]]
        assert sum(int(x) for x in parts) == int(amount)
        weights = plans.slot_weight[plans.plan_offsets[p] : plans.plan_offsets[p + 1]]
        for part, weight in zip(parts, weights):
            exact = Fraction(int(amount) * int(weight), 10**8)
            assert exact - 1 < int(part) < exact + 1
    assert sum(int(x) for x in result.party_total_fen) == sum(int(a) for a in amounts)
    legs = postings(plans, result, [f"buyer-{i % 3}" for i in range(len(amounts))], amounts)
    assert sum(p.amount_fen for p in legs) == 0


@_PROPERTY
@given(plans_and_lines(), st.integers(1, 5), st.randoms(use_true_random=False))
def test_split_sums_equal_the_parts_of_split_lines_summed_per_key_and_party(case, n_keys, rnd):
    plans, plan_index, amounts = case
    keys = np.array([rnd.randrange(n_keys) for _ in plan_index], dtype=np.int64)
    result = split_lines(plans, plan_index, amounts)
    expected = np.zeros((n_keys, len(plans.parties)), dtype=np.int64)
    for i, p in enumerate(plan_index):
        lo = plans.plan_offsets[p]
        for k, part in enumerate(result.part_fen[result.line_offsets[i] : result.line_offsets[i + 1]]):
            expected[keys[i], plans.slot_party[lo + k]] += part
    assert np.array_equal(split_sums(plans, plan_index, amounts, keys, n_keys), expected)


def test_split_sums_refuse_a_key_outside_the_keys():
    with pytest.raises(ValueError, match="line_key must be within 0..1"):
        split_sums(PLANS, np.array([CC_ZZ]), np.array([100]), np.array([2]), 2)
    with pytest.raises(ValueError, match="line_key must be one int per line"):
        split_sums(PLANS, np.array([CC_ZZ]), np.array([100]), np.array([0, 1]), 2)
