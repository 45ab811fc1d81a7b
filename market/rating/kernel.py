"""The rating kernel: one call per batch, chunk by chunk, pricing compute and data together.

Both charges run on the same chunk while its columns are in the core's cache, with one call per
batch (a Numba call costs microseconds; a batch is ~20k records). The pieces are in compute.py
and data.py beside their plain-Python twins; the lookup tables they read are built once per
RateTables and kept while the tables live.
"""

from __future__ import annotations

import weakref

import numpy as np
from numba import njit

from shuniu.market.rating.compute import COMPUTE_SCRATCH_COLUMNS, charge_compute_chunk, compute_lookup_tables
from shuniu.market.rating.data import DATA_SCRATCH_COLUMNS, charge_data_chunk, data_lookup_tables, data_volume_state, units_after
from shuniu.market.rating.tables import RateTables

__all__ = ["all_within", "kernel_tables", "rate_kernel", "slots_within"]

CHUNK_RECORDS = 2048  # the chunk's working columns (7 × 16 KB) stay in the core's own cache

_built: weakref.WeakKeyDictionary[RateTables, tuple] = weakref.WeakKeyDictionary()


def kernel_tables(tables: RateTables) -> tuple[tuple, tuple]:
    """(compute lookup, data lookup) of `tables`, built on first use and kept as long as the tables."""
    found = _built.get(tables)
    if found is None:
        c, d = tables.compute, tables.data
        found = _built[tables] = (
            compute_lookup_tables(c.cpu_core_hour_fen, c.memory_gb_hour_fen, c.gpu_hour_fen, c.hour_multiplier_bp, c.tier_factor_bp),
            data_lookup_tables(d.unit_kind, d.tier_offsets, d.tier_from_units, d.tier_price_millifen, d.guided_cap_millifen),
        )
    return found


# One core, no prange: a batch is rated on the thread that holds it (the biller's batches are ~20k
# records, where a thread pool costs more than it gives).
@njit(cache=True, nogil=True)
def rate_kernel(card_index, tier, start_unix_ms, cpu_ms, memory_mb_s, gpu_ms, product_index, free, rows, calls, queries,
                units_before, volume_slot, compute_lookup, data_lookup):
    """(compute fen, data fen, cap reduction fen, units after per volume slot) of prepared columns."""
    n = card_index.shape[0]
    compute_fen = np.empty(n, dtype=np.int64)
    data_fen = np.empty(n, dtype=np.int64)
    cap_fen = np.empty(n, dtype=np.int64)
    volume = data_volume_state(units_before)
    if data_lookup[0].shape[0] == 1:  # no products: no record is billable (and none may name one)
        data_fen[:] = 0
        cap_fen[:] = 0
    # One allocation for every working column (a call per batch: allocations are a visible share).
    work = np.empty((COMPUTE_SCRATCH_COLUMNS + DATA_SCRATCH_COLUMNS, CHUNK_RECORDS), dtype=np.int64)
    compute_work = (work[0].view(np.uint64), work[1].view(np.uint64), work[2].view(np.uint64))
    data_work = (work[3], work[4], work[5], work[6])
    for lo in range(0, n, CHUNK_RECORDS):
        hi = min(n, lo + CHUNK_RECORDS)
        charge_compute_chunk(card_index[lo:hi], tier[lo:hi], start_unix_ms[lo:hi], cpu_ms[lo:hi], memory_mb_s[lo:hi], gpu_ms[lo:hi],
                             compute_lookup, compute_work, compute_fen[lo:hi])
        if data_lookup[0].shape[0] > 1:
            charge_data_chunk(product_index[lo:hi], free[lo:hi], rows[lo:hi], calls[lo:hi], queries[lo:hi], volume_slot[lo:hi],
                              data_lookup, volume, data_work, data_fen[lo:hi], cap_fen[lo:hi])
    return compute_fen, data_fen, cap_fen, units_after(volume)


# Checks of a batch's small inputs: a NumPy reduction costs microseconds per call, which is a
# visible share of a batch's rating.
@njit(cache=True, nogil=True)
def all_within(values, lo, hi):
    """Whether every value is within lo..hi."""
    for x in values:
        if x < lo or x > hi:
            return False
    return True


@njit(cache=True, nogil=True)
def slots_within(volume_slot, product_index, n_slots):
    """Whether every record that names a product names a volume slot within 0..n_slots-1 (records without one never touch theirs)."""
    for i in range(volume_slot.shape[0]):
        if product_index[i] >= 0 and (volume_slot[i] < 0 or volume_slot[i] >= n_slots):
            return False
    return True
