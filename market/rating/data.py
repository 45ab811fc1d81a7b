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

`data_charge_twin` is the specification; `charge_data_chunk` (run by market/rating/kernel.py) is the same in int64
(units per record < 2^40, prices < 2^20 milli-fen: every product and line < 2^60).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from numba import njit

from shuniu.market.rating._money import round_half_even_millifen

__all__ = ["DATA_SCRATCH_COLUMNS", "MILLIFEN_PER_FEN", "charge_data_chunk", "data_charge_twin", "data_lookup_tables", "data_volume_state", "units_after"]

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
# A volume slot's row in the volume state (64 bytes: one cache line per slot): its cumulative units,
# then what it remembers of the tier its volume lies in: the product (index + 1), the tier's end,
# price and capped price, and the product's unit column as three masks (all ones on the column).
_SLOT_FIELDS = 8
DATA_SCRATCH_COLUMNS = 4
_CUMULATIVE, _PRODUCT, _END, _PRICE, _CAPPED, _ROW_MASK, _CALL_MASK, _QUERY_MASK = range(_SLOT_FIELDS)
# The same offsets unsigned, for the hot loop: unsigned indexes need no negative-index fix-up.
_U_PRODUCT, _U_END, _U_PRICE, _U_CAPPED = np.uint64(_PRODUCT), np.uint64(_END), np.uint64(_PRICE), np.uint64(_CAPPED)
_U_ROW_MASK, _U_CALL_MASK, _U_QUERY_MASK = np.uint64(_ROW_MASK), np.uint64(_CALL_MASK), np.uint64(_QUERY_MASK)
_ALL = np.int64(-1)  # a mask of all ones


# Hot-path shape: three passes per chunk of records, no branch on the data in the common case.
# 1. Each record's volume slot and product, the scratch slot and product 0 unless billable: no
#    lookups, so it runs in SIMD lanes.
# 2. The records in order, as volume must. Almost every volume slot stays inside one volume tier
#    for many records, so each slot remembers the tier its volume lies in and its product's unit
#    column: a record of that product that stays inside the tier is priced by two multiplications,
#    with its units picked by the slot's masks (a comparison would let the compiler turn the column
#    reads into branches, and which column a record reads is a coin toss). Any other record (one
#    crossing a tier boundary, the first of a slot, another product on the slot) is laid over the
#    tiers one by one and refreshes what the slot remembers. Records that are not billable move 0
#    units on a scratch slot priced at 0. This pass leaves milli-fen.
# 3. Milli-fen to fen, eight lines at a time in SIMD lanes.
@njit(cache=True, nogil=True, inline="always")
def charge_data_chunk(product_index, free, rows, calls, queries, volume_slot, lookup, volume, scratch, charge, reduction):
    """Charge and cap reduction in fen of one chunk of records into `charge` and `reduction`, moving
    `volume` (from data_volume_state) on; equal to data_charge_twin.

    `scratch`: four int64 working columns at least as long as the chunk (slot row, product, milli-fen
    charged, milli-fen taken off by the cap)."""
    k = charge.shape[0]
    slot_row, product, charged, capped_off = scratch[0][:k], scratch[1][:k], scratch[2][:k], scratch[3][:k]
    _slots(product_index, free.view(np.uint8), volume_slot, volume.shape[0] // _SLOT_FIELDS - 1, slot_row, product)
    _price_in_order(rows, calls, queries, slot_row, product, lookup, volume, charged, capped_off)
    _round_lines(charged, capped_off, charge, reduction)


@njit(cache=True, nogil=True)
def data_volume_state(units_before):
    """The volume state of a batch: a row of _SLOT_FIELDS per volume slot, then the scratch slot's.

    A slot starts remembering nothing (end -1: its first record is priced tier by tier); the scratch
    slot remembers product 0 at price 0 with no unit column, forever."""
    n_slots = units_before.shape[0]
    state = np.zeros((n_slots + 1) * _SLOT_FIELDS, dtype=np.int64)
    for v in range(n_slots):
        state[v * _SLOT_FIELDS + _CUMULATIVE] = units_before[v]
        state[v * _SLOT_FIELDS + _END] = -1
    state[n_slots * _SLOT_FIELDS + _END] = _NO_END
    return state


@njit(cache=True, nogil=True)
def units_after(state):
    """Cumulative units per volume slot (the scratch slot left out) of a volume state."""
    n_slots = state.shape[0] // _SLOT_FIELDS - 1
    units = np.empty(n_slots, dtype=np.int64)
    for v in range(n_slots):
        units[v] = state[v * _SLOT_FIELDS + _CUMULATIVE]
    return units


@njit(cache=True, nogil=True)
def data_lookup_tables(unit_kind, tier_offsets, tier_from_units, tier_price_millifen, guided_cap_millifen):
    """What charge_data_chunk reads per product and tier, built once per rate table."""
    tier_end, capped_price = _tier_ends_and_capped_prices(tier_offsets, tier_from_units, tier_price_millifen, guided_cap_millifen)
    return _unit_masks(unit_kind), tier_offsets, tier_from_units, tier_end, tier_price_millifen, capped_price


@njit(cache=True, nogil=True, inline="always")
def _slots(product_index, not_free, volume_slot, scratch, slot_row, product):
    for i in range(product_index.shape[0]):
        q = np.int64(product_index[i]) + 1
        billable = -np.int64(q > 0) & (np.int64(not_free[i]) - 1)  # all ones unless no product or free
        slot_row[i] = ((np.int64(volume_slot[i]) & billable) | (scratch & ~billable)) * _SLOT_FIELDS
        product[i] = q & billable


@njit(cache=True, nogil=True, inline="always")
def _price_in_order(rows, calls, queries, slot_row, product, lookup, state, charged, capped_off):
    unit_masks, tier_offsets, tier_from_units, tier_end, tier_price_millifen, capped_price = lookup
    for i in range(slot_row.shape[0]):
        v = np.uint64(slot_row[i])
        units = (rows[i] & state[v + _U_ROW_MASK]) | (calls[i] & state[v + _U_CALL_MASK]) | (queries[i] & state[v + _U_QUERY_MASK])
        first = state[v]
        last = first + units
        state[v] = last
        if (state[v + _U_PRODUCT] == product[i]) & (last <= state[v + _U_END]):
            capped = state[v + _U_CAPPED]
            charged[i] = units * capped
            capped_off[i] = units * (state[v + _U_PRICE] - capped)
            continue
        q = product[i]
        row_mask, call_mask, query_mask = unit_masks[q, 0], unit_masks[q, 1], unit_masks[q, 2]
        units = (rows[i] & row_mask) | (calls[i] & call_mask) | (queries[i] & query_mask)
        state[v] = first + units
        j, gross, capped = _across_tiers(tier_offsets[q - 1], tier_offsets[q], first, units, tier_from_units, tier_end, tier_price_millifen, capped_price)
        charged[i] = capped
        capped_off[i] = gross - capped
        state[v + _U_PRODUCT], state[v + _U_END], state[v + _U_PRICE], state[v + _U_CAPPED] = q, tier_end[j], tier_price_millifen[j], capped_price[j]
        state[v + _U_ROW_MASK], state[v + _U_CALL_MASK], state[v + _U_QUERY_MASK] = row_mask, call_mask, query_mask


@njit(cache=True, nogil=True, inline="always")
def _round_lines(charged, capped_off, charge, reduction):
    for i in range(charge.shape[0]):
        charge[i] = round_half_even_millifen(charged[i])
        reduction[i] = round_half_even_millifen(capped_off[i])


@njit(cache=True, nogil=True)
def _unit_masks(unit_kind):
    """Per product, shifted by one (row 0 is no product): masks choosing its unit column (rows, calls, queries)."""
    masks = np.zeros((unit_kind.shape[0] + 1, 3), dtype=np.int64)
    for q in range(1, masks.shape[0]):
        kind = unit_kind[q - 1]
        masks[q, 0] = _ALL if kind == _KIND_ROW else 0
        masks[q, 1] = _ALL if kind == _KIND_CALL else 0
        masks[q, 2] = _ALL if kind > _KIND_CALL else 0
    return masks


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
