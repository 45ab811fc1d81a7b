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
- Both lines (charge and cap reduction) are milli-fen sums rounded once, half to even, to
  fen. The list amount is their sum.

`data_charge_twin` is the specification; `data_charge_kernel` is the same in int64
(units per record < 2^40, prices < 2^20 milli-fen: every product < 2^60).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from numba import njit

from shuniu.market.rating._money import round_half_even_millifen

__all__ = ["MILLIFEN_PER_FEN", "data_charge_kernel", "data_charge_twin"]

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
) -> tuple[list[int], list[int], list[int]]:
    """The specification: (charge fen per record, cap reduction fen per record, units after per volume slot)."""
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
        charge.append(_round_half_even(capped, MILLIFEN_PER_FEN))
        reduction.append(_round_half_even(gross - capped, MILLIFEN_PER_FEN))
    return charge, reduction, cumulative


def _round_half_even(num: int, den: int) -> int:
    return round(Fraction(num, den))  # Python rounds a Fraction half to even


_NO_END = np.int64(2**63 - 1)  # end of a product's last volume tier


# Hot-path shape: a record almost always stays inside the volume tier its slot is already
# in, so each slot remembers that tier (`slot_tier`) and the record costs two products, no
# search. Records that are not billable run the same straight line with 0 units against a
# scratch slot, so that the loop has no branch that depends on the data.
@njit(cache=True, nogil=True)
def data_charge_kernel(
    product_index,
    free,
    rows,
    calls,
    queries,
    unit_kind,
    tier_offsets,
    tier_from_units,
    tier_price_millifen,
    guided_cap_millifen,
    units_before,
    volume_slot,
):
    """(charge fen, cap reduction fen, units after per volume slot); equal to data_charge_twin."""
    n = product_index.shape[0]
    n_slots = units_before.shape[0]
    charge = np.empty(n, dtype=np.int64)  # every record writes both lines, billable or not
    reduction = np.empty(n, dtype=np.int64)
    cumulative = np.zeros(n_slots + 1, dtype=np.int64)  # the last slot is the scratch slot
    cumulative[:n_slots] = units_before  # a copy: the caller's array stays as it was
    if unit_kind.shape[0] == 0:  # no products: no record is billable
        charge[:] = 0
        reduction[:] = 0
        return charge, reduction, cumulative[:n_slots].copy()
    tier_end, capped_price = _tier_ends_and_capped_prices(tier_offsets, tier_from_units, tier_price_millifen, guided_cap_millifen)
    slot_tier = np.full(n_slots + 1, -1, dtype=np.int64)  # tier the slot's cumulative units are in; -1 unknown
    for i in range(n):
        p = product_index[i]
        billable = p >= 0 and not free[i]
        q = np.uint64(p) if billable else np.uint64(0)
        kind = unit_kind[q]
        units = rows[i] * (kind == _KIND_ROW) + calls[i] * (kind == _KIND_CALL) + queries[i] * (kind > _KIND_CALL)
        units = np.int64(units) if billable else np.int64(0)
        v = np.int64(volume_slot[i]) if billable else np.int64(n_slots)
        at = cumulative[v]
        last = at + units
        j = slot_tier[v]
        if tier_offsets[q] <= j < tier_offsets[q + 1] and last < tier_end[j]:
            gross = units * tier_price_millifen[j]
            capped = units * capped_price[j]
        else:
            j, gross, capped = _across_tiers(tier_offsets[q], tier_offsets[q + 1], at, units, tier_from_units, tier_end,
                                             tier_price_millifen, capped_price)  # fmt: skip
            slot_tier[v] = j
        cumulative[v] = last
        charge[i] = round_half_even_millifen(capped)
        reduction[i] = round_half_even_millifen(gross - capped)
    return charge, reduction, cumulative[:n_slots].copy()


@njit(cache=True, nogil=True)
def _tier_ends_and_capped_prices(tier_offsets, tier_from_units, tier_price_millifen, guided_cap_millifen):
    """Per tier: where it ends (the next tier's start, _NO_END for a product's last) and its price under the guided cap."""
    tier_end = np.empty(tier_from_units.shape[0], dtype=np.int64)
    capped_price = np.empty(tier_from_units.shape[0], dtype=np.int64)
    for p in range(tier_offsets.shape[0] - 1):
        cap = guided_cap_millifen[p]
        for j in range(tier_offsets[p], tier_offsets[p + 1]):
            tier_end[j] = tier_from_units[j + 1] if j + 1 < tier_offsets[p + 1] else _NO_END
            price = tier_price_millifen[j]
            capped_price[j] = price if cap < 0 or price <= cap else cap
    return tier_end, capped_price


@njit(cache=True, nogil=True)
def _across_tiers(lo, hi, at, units, tier_from_units, tier_end, tier_price_millifen, capped_price):
    """(tier the slot ends in, gross, capped) for `units` laid over tiers [lo, hi) from cumulative `at`."""
    j = lo
    while j + 1 < hi and tier_from_units[j + 1] <= at:
        j += 1
    gross = np.int64(0)
    capped = np.int64(0)
    remaining = units
    while remaining > 0:
        take = min(remaining, tier_end[j] - at)
        gross += take * tier_price_millifen[j]
        capped += take * capped_price[j]
        at += take
        remaining -= take
        if remaining > 0:
            j += 1
    if at == tier_end[j]:  # ended on a boundary: the next unit is priced by the next tier
        j += 1
    return j, gross, capped
