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
_CHUNK_RECORDS = 16_384


# Hot-path shape: five passes over each chunk of the batch instead of one loop that does
# everything. Almost every volume slot stays inside one volume tier for a whole chunk, so the cumulative volume
# before each record (the only serial step) is taken first in a tight loop, every slot's tier
# is then looked up once, and each record is priced at its slot's tier without a branch on the
# data. Only slots that cross a tier boundary within the batch, or that hold records of several
# products, are priced record by record (`_price_exact`). Records that are not billable move
# 0 units on a scratch slot priced at 0.
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
    charge = np.zeros(n, dtype=np.int64)  # 0 stays where there are no products to rate
    reduction = np.zeros(n, dtype=np.int64)
    cumulative = np.zeros(n_slots + 1, dtype=np.int64)  # the last slot is the scratch slot
    cumulative[:n_slots] = units_before  # a copy: the caller's array stays as it was
    if unit_kind.shape[0] == 0:  # no products: no record is billable
        return charge, reduction, cumulative[:n_slots].copy()
    tier_end, capped_price = _tier_ends_and_capped_prices(tier_offsets, tier_from_units, tier_price_millifen, guided_cap_millifen)
    # In chunks: the per-record scratch columns stay in cache, volume carries from chunk to chunk,
    # and a chunk is never shorter than the slots it looks up once.
    chunk = max(_CHUNK_RECORDS, n_slots)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        _charge_chunk(product_index[lo:hi], free[lo:hi], rows[lo:hi], calls[lo:hi], queries[lo:hi], volume_slot[lo:hi], unit_kind,
                      tier_offsets, tier_from_units, tier_end, tier_price_millifen, capped_price, cumulative,
                      charge[lo:hi], reduction[lo:hi])  # fmt: skip
    return charge, reduction, cumulative[:n_slots].copy()


@njit(cache=True, nogil=True)
def _charge_chunk(product_index, free, rows, calls, queries, volume_slot, unit_kind, tier_offsets, tier_from_units, tier_end,
                  tier_price_millifen, capped_price, cumulative, charge, reduction):  # fmt: skip
    """Price one chunk of records into `charge` and `reduction`, moving `cumulative` (per slot) past it."""
    n_slots = cumulative.shape[0] - 1
    units_before = cumulative[:n_slots].copy()
    units, slot = _units_and_slots(product_index, free, rows, calls, queries, unit_kind, volume_slot, n_slots)
    first, slot_product, mixed = _cumulate(units, slot, product_index, cumulative)
    price, capped, exact = _slot_prices(units_before, cumulative, slot_product, mixed, tier_offsets, tier_from_units,
                                        tier_end, tier_price_millifen, capped_price)  # fmt: skip
    for i in range(product_index.shape[0]):
        v = slot[i]
        charge[i] = round_half_even_millifen(units[i] * capped[v])
        reduction[i] = round_half_even_millifen(units[i] * (price[v] - capped[v]))
    if exact.any():
        _price_exact(exact, slot, first, units, product_index, tier_offsets, tier_from_units, tier_end, tier_price_millifen,
                     capped_price, charge, reduction)  # fmt: skip


@njit(cache=True, nogil=True)
def _units_and_slots(product_index, free, rows, calls, queries, unit_kind, volume_slot, n_slots):
    """Billable units and volume slot per record; a record that is not billable moves 0 units on slot n_slots."""
    n = product_index.shape[0]
    kind = np.zeros(unit_kind.shape[0] + 1, dtype=np.int64)  # index -1 (no product) reads the padding
    kind[: unit_kind.shape[0]] = unit_kind
    units = np.empty(n, dtype=np.int64)
    slot = np.empty(n, dtype=np.int64)
    for i in range(n):
        p = np.int64(product_index[i])
        billable = np.int64((p >= 0) & (not free[i]))
        k = kind[p]
        u = rows[i] * (k == _KIND_ROW) + calls[i] * (k == _KIND_CALL) + queries[i] * (k > _KIND_CALL)
        units[i] = u * billable
        slot[i] = np.int64(volume_slot[i]) * billable + n_slots * (1 - billable)
    return units, slot


@njit(cache=True, nogil=True)
def _cumulate(units, slot, product_index, cumulative):
    """Move `cumulative` (per slot) over the batch; (units before each record, a product per slot, slots with several)."""
    n = units.shape[0]
    n_slots = cumulative.shape[0] - 1
    first = np.empty(n, dtype=np.int64)
    slot_product = np.full(n_slots + 1, -1, dtype=np.int64)
    for i in range(n):
        v = slot[i]
        first[i] = cumulative[v]
        cumulative[v] += units[i]
        slot_product[v] = product_index[i]
    mixed = np.zeros(n_slots + 1, dtype=np.bool_)
    for i in range(n):
        mixed[slot[i]] |= slot_product[slot[i]] != product_index[i]
    slot_product[n_slots] = -1  # the scratch slot belongs to no product
    return first, slot_product, mixed


@njit(cache=True, nogil=True)
def _slot_prices(units_before, cumulative, slot_product, mixed, tier_offsets, tier_from_units, tier_end,
                 tier_price_millifen, capped_price):  # fmt: skip
    """Per slot: the price and capped price of the one tier its batch volume lies in, or `exact` where there is none."""
    n_slots = units_before.shape[0]
    price = np.zeros(n_slots + 1, dtype=np.int64)  # the scratch slot stays at price 0
    capped = np.zeros(n_slots + 1, dtype=np.int64)
    exact = np.zeros(n_slots + 1, dtype=np.bool_)
    for v in range(n_slots):
        p = slot_product[v]
        if p < 0:
            continue
        at = units_before[v]
        j = tier_offsets[p]
        while j + 1 < tier_offsets[p + 1] and tier_from_units[j + 1] <= at:
            j += 1
        if mixed[v] or cumulative[v] > tier_end[j]:
            exact[v] = True
        else:
            price[v] = tier_price_millifen[j]
            capped[v] = capped_price[j]
    return price, capped, exact


@njit(cache=True, nogil=True)
def _price_exact(exact, slot, first, units, product_index, tier_offsets, tier_from_units, tier_end, tier_price_millifen,
                 capped_price, charge, reduction):  # fmt: skip
    """Price the records of `exact` slots one by one, laying each over the tiers from its own cumulative start."""
    for i in range(slot.shape[0]):
        if exact[slot[i]]:
            p = product_index[i]
            _, gross, capped = _across_tiers(tier_offsets[p], tier_offsets[p + 1], first[i], units[i], tier_from_units,
                                             tier_end, tier_price_millifen, capped_price)  # fmt: skip
            charge[i] = round_half_even_millifen(capped)
            reduction[i] = round_half_even_millifen(gross - capped)


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
