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
_ALL = np.int64(-1)  # a mask of all ones


# Hot-path shape: one pass, no branch on the data in the common case. Almost every volume slot
# stays inside one volume tier for many records, so each slot remembers the tier its volume lies
# in (its end, price and capped price) and a record that stays inside it is priced by two
# multiplications. A record that crosses a tier boundary, or the first of a slot (or of another
# product on the slot), is laid over the tiers one by one and refreshes the slot's tier.
# Selection by masks (0 or all ones) read from small tables, not by comparisons: a comparison
# would let the compiler turn the column reads into branches, and which column a record reads
# is a coin toss. Records that are not billable move 0 units on a scratch slot priced at 0.
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
    charge = np.zeros(n, dtype=np.int64)
    reduction = np.zeros(n, dtype=np.int64)
    cumulative = np.zeros(n_slots + 1, dtype=np.int64)  # the last slot is the scratch slot
    cumulative[:n_slots] = units_before  # a copy: the caller's array stays as it was
    if unit_kind.shape[0] == 0:  # no products: no record is billable
        return charge, reduction, cumulative[:n_slots].copy()
    tier_end, capped_price = _tier_ends_and_capped_prices(tier_offsets, tier_from_units, tier_price_millifen, guided_cap_millifen)
    row_mask, call_mask, query_mask, product_mask = _unit_masks(unit_kind)
    # Per slot: the product (index + 1) whose tier it remembers, that tier's end, price and capped
    # price. End -1: nothing remembered yet. The scratch slot remembers product 0 at price 0 forever.
    remembered = np.zeros((4, n_slots + 1), dtype=np.int64)
    slot_product, slot_end, slot_price, slot_capped = remembered[0], remembered[1], remembered[2], remembered[3]
    slot_end[:n_slots] = -1
    slot_end[n_slots] = _NO_END
    not_free = free.view(np.uint8)
    scratch = np.int64(n_slots)
    for i in range(n):
        q = np.uint64(product_index[i] + 1)  # row q of the masks; unsigned: no negative-index fix-up
        billable = product_mask[q] & (np.int64(not_free[i]) - 1)  # all ones unless no product or free
        units = ((rows[i] & row_mask[q]) | (calls[i] & call_mask[q]) | (queries[i] & query_mask[q])) & billable
        v = np.uint64((np.int64(volume_slot[i]) & billable) | (scratch & ~billable))
        product = np.int64(q) & billable
        first = cumulative[v]
        last = first + units
        cumulative[v] = last
        if (slot_product[v] == product) & (last <= slot_end[v]):
            capped = slot_capped[v]
            charge[i] = round_half_even_millifen(units * capped)
            reduction[i] = round_half_even_millifen(units * (slot_price[v] - capped))
            continue
        p = product - 1
        lo, hi = tier_offsets[p], tier_offsets[p + 1]
        j, gross, capped = _across_tiers(lo, hi, first, units, tier_from_units, tier_end, tier_price_millifen, capped_price)
        charge[i] = round_half_even_millifen(capped)
        reduction[i] = round_half_even_millifen(gross - capped)
        slot_product[v], slot_end[v], slot_price[v], slot_capped[v] = product, tier_end[j], tier_price_millifen[j], capped_price[j]
    return charge, reduction, cumulative[:n_slots].copy()


@njit(cache=True, nogil=True)
def _unit_masks(unit_kind):
    """Per product, shifted by one (row 0 is no product): masks choosing its unit column, and all ones."""
    m = unit_kind.shape[0] + 1
    masks = np.zeros((4, m), dtype=np.int64)
    for q in range(1, m):
        kind = unit_kind[q - 1]
        masks[0, q] = _ALL if kind == _KIND_ROW else 0
        masks[1, q] = _ALL if kind == _KIND_CALL else 0
        masks[2, q] = _ALL if kind > _KIND_CALL else 0
        masks[3, q] = _ALL
    return masks[0], masks[1], masks[2], masks[3]


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
