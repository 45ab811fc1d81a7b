"""True-up arithmetic of authorized operators (公共数据授权运营): never negative, adds up to the fen."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shuniu.market.public_data import month_true_up, year_true_ups, yearly_allowance_fen
from shuniu.market.public_data.settle import _month, closed_year_refusal
from shuniu.protos.v1 import settlement_pb2

_fen = st.integers(0, 10**12)
_year = st.lists(st.integers(0, 10**11), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(_fen, _fen, _year)
def test_no_figure_is_ever_negative_and_kept_plus_true_ups_is_revenue(allowance, carry_in, revenues):
    months = year_true_ups(allowance, carry_in, revenues)
    for m in months:
        assert min(m.true_up_fen, m.kept_fen, m.allowance_fen, m.carry_out_fen, m.unabsorbed_fen) >= 0
        assert m.kept_fen + m.true_up_fen == m.revenue_fen
    assert sum(m.kept_fen for m in months) + sum(m.true_up_fen for m in months) == sum(revenues)


@settings(max_examples=300, deadline=None)
@given(_fen, _fen, _year)
def test_a_year_trues_up_exactly_the_revenue_above_its_allowance(allowance, carry_in, revenues):
    months = year_true_ups(allowance, carry_in, revenues)
    effective = max(0, allowance - carry_in)
    assert sum(m.true_up_fen for m in months) == max(0, sum(revenues) - effective)
    assert months[-1].carry_out_fen == max(0, carry_in - allowance) + max(0, sum(revenues) - effective)
    # Nothing is trued up before the year's revenue to date passes the allowance.
    for m in months:
        assert (m.true_ups_to_date_fen > 0) == (m.revenue_to_date_fen > effective)


@settings(max_examples=200, deadline=None)
@given(_fen, st.lists(_year, min_size=1, max_size=4))
def test_carries_chain_across_years_and_every_fen_is_kept_or_trued_up(allowance, years):
    carry, kept, trued, earned = 0, 0, 0, 0
    for revenues in years:
        months = year_true_ups(allowance, carry, revenues)
        carry = months[-1].carry_out_fen
        kept += sum(m.kept_fen for m in months)
        trued += sum(m.true_up_fen for m in months)
        earned += sum(revenues)
    assert kept + trued == earned and carry >= 0


@settings(max_examples=200, deadline=None)
@given(st.lists(_fen, min_size=12, max_size=12), _year)
def test_a_schedule_changed_mid_year_still_never_trues_up_more_than_the_month_earned(allowances, revenues):
    months = year_true_ups(allowances[: len(revenues)], 0, revenues)
    assert all(0 <= m.true_up_fen <= m.revenue_fen for m in months)


@pytest.mark.parametrize("allowance, carry_in, revenues, true_ups", [
    (1000, 0, [400, 400, 400, 400], [0, 0, 200, 400]),
    (1000, 300, [400, 400, 400], [0, 100, 400]),
    (1000, 1500, [100, 100], [100, 100]),
    (0, 0, [5, 0, 7], [5, 0, 7]),
    (1000, 0, [1000, 0, 1], [0, 0, 1]),
], ids=["crosses-in-march", "last-years-carry-cuts-the-allowance", "carry-above-allowance", "no-allowance", "exactly-at-allowance"])
def test_true_up_lines_by_month(allowance, carry_in, revenues, true_ups):
    assert [m.true_up_fen for m in year_true_ups(allowance, carry_in, revenues)] == true_ups


def test_carry_above_the_allowance_is_carried_on():
    month = month_true_up(1000, 1500, 0, 0, 100)
    assert (month.allowance_fen, month.unabsorbed_fen, month.carry_out_fen) == (0, 500, 600)


@pytest.mark.parametrize("parts", [(-1, 0, 0), (0, 10**16, 0)], ids=["negative-cost", "profit-too-large"])
def test_allowance_parts_out_of_range_are_refused(parts):
    with pytest.raises(ValueError, match="allowed"):
        yearly_allowance_fen(*parts)


# -- months settled late (a period left open while later ones closed) ----------------------------------

def _schedule(allowance_fen: int) -> list[settlement_pb2.FeeSchedule]:
    return [settlement_pb2.FeeSchedule(allowed_cost_fen=allowance_fen)]


def _settle(order: list[str], revenues: dict[str, int], allowance_fen: int, recorded=None) -> dict:
    """Settles the months in `order` one by one as settlement does, each seeing the months settled before it."""
    recorded = dict(recorded or {})
    for period in order:
        recorded[period] = _month("op", period, dict(recorded), _schedule(allowance_fen), revenues[period], 0, 0)
    return recorded


_months = st.lists(st.integers(0, 10**9), min_size=1, max_size=12).flatmap(
    lambda revenues: st.tuples(st.just(revenues), st.permutations(range(len(revenues)))))


@settings(max_examples=300, deadline=None)
@given(_months, st.integers(0, 10**10))
def test_a_year_settled_in_any_order_trues_up_exactly_its_revenue_above_the_allowance(months, allowance):
    revenues, order = months
    by_period = {f"2027-{m + 1:02d}": fen for m, fen in enumerate(revenues)}
    periods = sorted(by_period)
    late = _settle([periods[i] for i in order], by_period, allowance)
    in_order = _settle(periods, by_period, allowance)
    for m in late.values():
        assert 0 <= m.true_up_fen <= m.revenue_fen and m.carry_out_fen >= 0
    assert sum(m.true_up_fen for m in late.values()) == max(0, sum(revenues) - allowance)  # to the fen
    # The next year starts from the same carried reduction, whatever order the months closed in.
    january = {"2028-01": 0}
    assert _settle(["2028-01"], january, allowance, late)["2028-01"].carry_in_fen == \
        _settle(["2028-01"], january, allowance, in_order)["2028-01"].carry_in_fen == max(0, sum(revenues) - allowance)


@pytest.mark.parametrize("late_revenue, later_settled, refused", [
    (500, ["2028-01"], True),
    (0, ["2028-01"], False),  # nothing to true up: the closed year's carry stays right
    (500, ["2027-12"], False),  # the same year: the late month is trued up against the year's settled months
    (500, [], False),
], ids=["true-up-into-closed-year", "no-revenue", "same-year-later-month", "nothing-later"])
def test_a_late_month_is_refused_only_when_it_would_true_up_a_closed_year(late_revenue, later_settled, refused):
    revenues = {"2027-01": 2_000, "2027-06": late_revenue, "2027-12": 0, "2028-01": 100}
    recorded = _settle(["2027-01", *later_settled], revenues, 1_000)  # January alone passes the allowance
    month = _month("op", "2027-06", recorded, _schedule(1_000), late_revenue, 0, 0)
    refusal = closed_year_refusal("op", "2027-06", recorded, month)
    assert (refusal is not None) == refused
    if refused:
        assert refusal.startswith("true-up for a closed year: operator 'op' has settled 2028-01")
        assert "would true up 500 fen more of 2027" in refusal and "nothing was changed" in refusal
