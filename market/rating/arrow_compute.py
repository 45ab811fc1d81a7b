"""The rating rules written with pyarrow.compute only: the baseline the kernels are measured against.

Same inputs, same integer arithmetic, same milli-fen as `rate_inputs`; a test proves it on
random batches. Volume tiers that run across records need a running sum per product,
which pyarrow.compute has no grouped form of: records are stably sorted by product, summed
cumulatively, and the sums taken back to record order.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shuniu.market.rating.batch import RatedBatch, RatingInputs, _volume
from shuniu.market.rating.compute import _BP2, _CPU_GPU_SCALE, _MEMORY_SCALE, _QUANTITY_DEN, CST_OFFSET_HOURS, MS_PER_HOUR
from shuniu.market.rating.data import MILLIFEN_PER_FEN
from shuniu.market.rating.tables import RateTables

__all__ = ["rate_inputs_arrow"]

_NO_END = 2**63 - 1  # "end" of a product's last volume tier, and of padding tiers: past any cumulative volume
_MILLI_BP2 = _BP2 // MILLIFEN_PER_FEN


def rate_inputs_arrow(inputs: RatingInputs, tables: RateTables, units_before: np.ndarray | None = None,
                      volume_slot: np.ndarray | None = None) -> RatedBatch:
    """Rate prepared inputs with pyarrow.compute."""
    slots, before = _volume(inputs, tables, units_before, volume_slot)
    compute_millifen, compute_rest = _compute_fen(inputs, tables)
    data_millifen, cap_millifen, after = _data_fen(inputs, tables, slots, before)
    return RatedBatch(compute_millifen.to_numpy(), data_millifen.to_numpy(), cap_millifen.to_numpy(), after,
                      compute_rest.to_numpy().astype(np.int16))


def _compute_fen(inputs: RatingInputs, tables: RateTables) -> tuple[pa.Array, pa.Array]:
    """(milli-fen, micro-fen below them) of each compute line, rounded half to even to the micro-fen."""
    c = tables.compute
    card = pa.array(inputs.card_index)
    mul, add, sub, div = pc.multiply, pc.add, pc.subtract, pc.divide
    start_unix_ms = add(_int64(inputs.start_ms), inputs.start_base_ms)
    hour = pc.modulo(add(div(start_unix_ms, MS_PER_HOUR), CST_OFFSET_HOURS), 24)
    band_bp = pc.take(pa.array(c.hour_multiplier_bp.ravel()), add(mul(pc.cast(card, pa.int64()), 24), hour))
    m = mul(band_bp, pc.take(pa.array(c.tier_factor_bp), pa.array(inputs.tier)))
    # The numerator quantity · price · scale may pass int64 inside the limits, so it is never formed: each
    # term is taken over _QUANTITY_DEN as whole H and rest L (quantity = a·den + b, b·price·scale < 2^63),
    # then (H + L/den)·m/_MILLI_BP2 as whole W and rest R over the line's milli-fen denominator.
    whole = rest = pa.array(np.zeros(len(inputs), dtype=np.int64))
    for quantity, prices, scale in ((inputs.cpu_ms, c.cpu_core_hour_fen, _CPU_GPU_SCALE), (inputs.gpu_ms, c.gpu_hour_fen, _CPU_GPU_SCALE),
                                    (inputs.memory_mb_s, c.memory_gb_hour_fen, _MEMORY_SCALE)):
        price = mul(pc.take(pa.array(prices), card), scale)
        a = div(_int64(quantity), _QUANTITY_DEN)
        bc = mul(sub(_int64(quantity), mul(a, _QUANTITY_DEN)), price)
        whole = add(whole, add(mul(a, price), div(bc, _QUANTITY_DEN)))
        rest = add(rest, pc.modulo(bc, _QUANTITY_DEN))
    whole, rest = add(whole, div(rest, _QUANTITY_DEN)), pc.modulo(rest, _QUANTITY_DEN)
    h1 = div(whole, _MILLI_BP2)
    h0m = mul(sub(whole, mul(h1, _MILLI_BP2)), m)
    u = div(h0m, _MILLI_BP2)
    r = add(mul(sub(h0m, mul(u, _MILLI_BP2)), _QUANTITY_DEN), mul(rest, m))
    den = _QUANTITY_DEN * _MILLI_BP2  # a milli-fen's share of the line's denominator
    micro_den = den // MILLIFEN_PER_FEN  # a micro-fen's: the rest below a milli-fen is rounded in micro-fen
    below = pc.modulo(r, den)
    micro = _round_half_even(pa.array(np.zeros(len(inputs), dtype=np.int64)), below, micro_den)  # 0..1000
    carry = div(micro, MILLIFEN_PER_FEN)
    return add(add(add(mul(h1, m), u), div(r, den)), carry), sub(micro, mul(carry, MILLIFEN_PER_FEN))


def _data_fen(inputs: RatingInputs, tables: RateTables, volume_slot: np.ndarray,
              before: np.ndarray) -> tuple[pa.Array, pa.Array, np.ndarray]:
    d = tables.data
    n_products = len(d.product_ids)
    product = pa.array(inputs.product_index)
    # Records without a product point at an extra, empty product slot.
    slot = pc.cast(pc.if_else(pc.less(product, 0), n_products, product), pa.int64())
    billable = pc.and_(pc.greater_equal(product, 0), pc.invert(pa.array(inputs.free)))
    kind = pc.take(pa.array(np.append(d.unit_kind, 0)), slot)
    units = pc.if_else(
        pc.equal(kind, 0), _int64(inputs.rows), pc.if_else(pc.equal(kind, 1), _int64(inputs.calls), _int64(inputs.queries))
    )
    units = pc.if_else(billable, units, 0)

    # Cumulative volume before each record: a running sum within each volume slot, in record
    # order. Records that move no volume point at an extra, empty slot.
    n_slots = len(before)
    vslot = pc.if_else(billable, pa.array(volume_slot.astype(np.int64)), n_slots)
    order = pc.sort_indices(vslot)  # stable: records keep their order within a slot
    sorted_slot = pc.take(vslot, order)
    sorted_units = pc.take(units, order)
    running = pc.subtract(pc.cumulative_sum(sorted_units), sorted_units)
    totals = _sum_by_slot(vslot, units, n_slots + 1)
    start_of_slot = np.concatenate(([0], np.cumsum(totals)[:-1]))
    sorted_first = pc.add(
        pc.subtract(running, pc.take(pa.array(start_of_slot), sorted_slot)),
        pc.take(pa.array(np.append(before, 0)), sorted_slot),
    )
    first = pc.take(sorted_first, pc.sort_indices(order))
    last = pc.add(first, units)

    gross = pa.array(np.zeros(len(inputs), dtype=np.int64))
    capped = gross
    caps = np.append(d.guided_cap_millifen, -1)
    for starts, ends, prices in _padded_tiers(tables):
        start, end, price = (pc.take(pa.array(a), slot) for a in (starts, ends, prices))
        inside = pc.max_element_wise(pc.subtract(pc.min_element_wise(last, end), pc.max_element_wise(first, start)), 0)
        cap = pc.take(pa.array(caps), slot)
        capped_price = pc.if_else(pc.less(cap, 0), price, pc.min_element_wise(price, cap))
        gross = pc.add(gross, pc.multiply(inside, price))
        capped = pc.add(capped, pc.multiply(inside, capped_price))
    after = before + totals[:n_slots]
    return capped, pc.subtract(gross, capped), after  # milli-fen, as the kernel rates


def _int64(quantities: np.ndarray) -> pa.Array:
    # Quantities and times may be int32 (as the wire sends them); products, sums and bases need 64 bits.
    return pa.array(quantities, pa.int64())


def _sum_by_slot(slot: pa.Array, units: pa.Array, n_slots: int) -> np.ndarray:
    grouped = pa.table({"slot": slot, "units": units}).group_by("slot").aggregate([("units", "sum")])
    totals = np.zeros(n_slots, dtype=np.int64)
    totals[grouped["slot"].to_numpy()] = grouped["units_sum"].to_numpy()
    return totals


def _padded_tiers(tables: RateTables) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per tier position j: (start, end, price) per product slot; missing tiers are empty."""
    d = tables.data
    n = len(d.product_ids)
    counts = np.diff(d.tier_offsets)
    depth = int(counts.max()) if n else 0
    out = []
    for j in range(depth):
        starts = np.full(n + 1, _NO_END, dtype=np.int64)
        ends = np.full(n + 1, _NO_END, dtype=np.int64)
        prices = np.zeros(n + 1, dtype=np.int64)
        has = np.flatnonzero(counts > j)
        at = d.tier_offsets[has] + j
        starts[has] = d.tier_from_units[at]
        prices[has] = d.tier_price_millifen[at]
        more = has[counts[has] > j + 1]
        ends[more] = d.tier_from_units[d.tier_offsets[more] + j + 1]
        out.append((starts, ends, prices))
    return out


def _round_half_even(whole: pa.Array, num: pa.Array, den: int) -> pa.Array:
    """whole + num/den rounded half to even, for whole >= 0 and num >= 0."""
    q = pc.divide(num, den)
    r = pc.subtract(num, pc.multiply(q, den))
    value = pc.add(whole, q)
    twice = pc.multiply(r, 2)
    odd = pc.equal(pc.bit_wise_and(value, 1), 1)
    up = pc.or_(pc.greater(twice, den), pc.and_(pc.equal(twice, den), odd))
    return pc.add(value, pc.cast(up, pa.int64()))
