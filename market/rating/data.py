"""Data charge: per row, call or query, with volume tiers that continue across batches.

Volume is counted per volume slot: each record names the slot (`volume_slot`) whose
cumulative units its tiers start from and move, e.g. one slot per (product, buyer, period)
in the biller; passing the product index as the slot counts per product.

Rules, per record in batch order:
- A record without a product (index -1) or flagged free (public data used for a
  public-interest purpose, 公共数据公益使用) is charged 0 and does not move the product's
  cumulative volume: volume tiers price billable units only.
- Otherwise its units (rows, calls or queries, by the product's unit kind) are laid over the
  product's volume tiers starting at its volume slot's cumulative units so far;
  a record that crosses a tier boundary pays each part at its tier's price.
- A product with a guided cap (政府指导价) pays min(tier price, cap) per unit; what the cap
  took off is reported on its own line.
- Both lines (charge and cap reduction) are exact milli-fen sums, kept as such (the ledger
  rounds to fen where a bill is made); the list amount is their sum.

`data_charge_twin` is the specification; the kernel (kernel.py) is the same in int64
(units per record at most 2^25, the usage wire's limit, and prices at most 10^11 milli-fen: every
product and line < 2^62; docs/billing.md, "Rating ranges").
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["MILLIFEN_PER_FEN", "data_charge_twin"]

MILLIFEN_PER_FEN = 1000
_KIND_ROW, _KIND_CALL = 0, 1


def data_charge_twin(
    product_index: np.ndarray,
    free: np.ndarray,
    rows: np.ndarray,
    calls: np.ndarray,
    queries: np.ndarray,
    unit_kind: np.ndarray,
    tier_offsets: np.ndarray,
    tier_from_units: np.ndarray,
    tier_price_millifen: np.ndarray,
    guided_cap_millifen: np.ndarray,
    units_before: np.ndarray,
    volume_slot: np.ndarray,
    millifen: bool = False,
) -> tuple[list[int], list[int], list[int]]:
    """The specification: (charge fen per record, cap reduction fen per record, units after per volume slot);
    with `millifen` the two lines in exact milli-fen, as lines are kept."""
    per_fen = 1 if millifen else MILLIFEN_PER_FEN
    cumulative = [int(u) for u in units_before]
    charge, reduction = [], []
    for i in range(len(product_index)):
        p = int(product_index[i])
        if p < 0 or free[i]:
            charge.append(0)
            reduction.append(0)
            continue
        units = int((rows, calls, queries)[int(unit_kind[p])][i])
        lo, hi = int(tier_offsets[p]), int(tier_offsets[p + 1])
        starts = [int(x) for x in tier_from_units[lo:hi]]
        ends = starts[1:] + [None]
        cap = int(guided_cap_millifen[p])
        v = int(volume_slot[i])
        first, last = cumulative[v], cumulative[v] + units
        gross = capped = 0
        for start, end, price in zip(starts, ends, tier_price_millifen[lo:hi]):
            inside = max(0, (last if end is None else min(last, end)) - max(first, start))
            gross += inside * int(price)
            capped += inside * (int(price) if cap < 0 else min(int(price), cap))
        cumulative[v] = last
        charge.append(_round_half_even(capped, per_fen))
        reduction.append(_round_half_even(gross - capped, per_fen))
    return charge, reduction, cumulative


def _round_half_even(num: int, den: int) -> int:
    return round(Fraction(num, den))  # Python rounds a Fraction half to even
