"""An authorized operator's allowed revenue (准许收入) and its true-up (清算): pure integer arithmetic.

The period of the allowance is the calendar year: the most an operator may earn from its
public-data products in a year is cost + allowed profit + tax (成本 + 合理利润 + 税金), the
sum over the fee schedules it has in force. Settlement runs monthly, so the year is checked
month by month on cumulative revenue:

- the year's allowance is reduced by what the previous year carried into it; a reduction
  larger than the allowance leaves it at 0 and the rest is carried on (`unabsorbed_fen`);
- a month's true-up line is the part of the year's revenue to date above the allowance that
  earlier months have not trued up yet, never more than the month's own revenue;
- revenue kept = revenue − true-up, so kept + true-ups = revenue earned, to the fen;
- what is carried into the next year is the unabsorbed reduction plus the year's true-ups.

A true-up moves no money: it is a line on the operator's statement and a reduction of the
next year's allowance (下一周期核减), so an operator that keeps charging above its allowance
sees its allowance shrink until its fees come down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MAX_ALLOWANCE_FEN", "MonthTrueUp", "effective_allowance", "month_true_up", "yearly_allowance_fen", "year_true_ups"]

MAX_ALLOWANCE_FEN = 10**15  # ten trillion yuan: far above any operator, far below int64


@dataclass(frozen=True)
class MonthTrueUp:
    """One month of an operator's year: its revenue, the part kept and the true-up line."""

    revenue_fen: int
    allowance_fen: int  # the year's allowance after last year's carried reduction
    unabsorbed_fen: int  # carried reduction the allowance could not absorb
    revenue_to_date_fen: int  # the year's revenue through this month
    true_up_fen: int  # this month's true-up line
    true_ups_to_date_fen: int
    kept_fen: int  # revenue_fen - true_up_fen
    carry_out_fen: int  # reduction of next year's allowance, were the year to end with this month


def yearly_allowance_fen(cost_fen: int, profit_fen: int, tax_fen: int) -> int:
    """Cost + allowed profit + tax; each part 0..MAX_ALLOWANCE_FEN."""
    for name, value in (("cost", cost_fen), ("profit", profit_fen), ("tax", tax_fen)):
        if not 0 <= value <= MAX_ALLOWANCE_FEN:
            raise ValueError(f"allowed {name} is {value} fen; expected 0 to {MAX_ALLOWANCE_FEN:,}")
    return cost_fen + profit_fen + tax_fen


def effective_allowance(yearly_fen: int, carry_in_fen: int) -> tuple[int, int]:
    """(allowance after the carried reduction, the part of the reduction left over for the year after)."""
    assert yearly_fen >= 0 and carry_in_fen >= 0, (yearly_fen, carry_in_fen)
    return max(0, yearly_fen - carry_in_fen), max(0, carry_in_fen - yearly_fen)


def month_true_up(yearly_fen: int, carry_in_fen: int, revenue_before_fen: int, true_ups_before_fen: int,
                  revenue_fen: int) -> MonthTrueUp:
    """The month after `revenue_before_fen` earned and `true_ups_before_fen` trued up earlier in the year."""
    assert min(revenue_before_fen, true_ups_before_fen, revenue_fen) >= 0, (revenue_before_fen, true_ups_before_fen, revenue_fen)
    allowance, unabsorbed = effective_allowance(yearly_fen, carry_in_fen)
    to_date = revenue_before_fen + revenue_fen
    true_up = min(revenue_fen, max(0, to_date - allowance - true_ups_before_fen))
    true_ups = true_ups_before_fen + true_up
    return MonthTrueUp(revenue_fen=revenue_fen, allowance_fen=allowance, unabsorbed_fen=unabsorbed,
                       revenue_to_date_fen=to_date, true_up_fen=true_up, true_ups_to_date_fen=true_ups,
                       kept_fen=revenue_fen - true_up, carry_out_fen=unabsorbed + true_ups)


def year_true_ups(yearly_fen: int | Sequence[int], carry_in_fen: int, revenues_fen: Sequence[int]) -> list[MonthTrueUp]:
    """Every month of a year in order; `yearly_fen` is one allowance or one per month (a schedule changed)."""
    allowances = [yearly_fen] * len(revenues_fen) if isinstance(yearly_fen, int) else list(yearly_fen)
    assert len(allowances) == len(revenues_fen), (len(allowances), len(revenues_fen))
    months: list[MonthTrueUp] = []
    before = trued = 0
    for allowance, revenue in zip(allowances, revenues_fen):
        month = month_true_up(allowance, carry_in_fen, before, trued, revenue)
        months.append(month)
        before, trued = month.revenue_to_date_fen, month.true_ups_to_date_fen
    return months
