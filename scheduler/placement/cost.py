"""The compute cost estimate of a job on each node: price card × resources × runtime × tier factor.

An upper estimate in whole fen, computed in int64 in three steps, each rounded up:

    hourly_millifen = cpu_milli · cpu_core_hour_fen
                      + ⌈memory_mb · memory_gb_hour_fen · 125 / 128⌉     (1 GB = 1024 MB; 1000/1024 = 125/128)
                      + gpu · gpu_hour_fen · 1000
    peak_millifen   = ⌈hourly_millifen · peak_bp · tier_factor_bp / 10⁸⌉   (peak time-of-use band: the job may run then)
    cost_fen        = ⌈peak_millifen · max_runtime_s / 3,600,000⌉

Inside the request limits (request.py) and price cards up to 2^17 fen per unit-hour with
multipliers up to ×10 and ×3, every intermediate stays below 2^59. Nodes whose card is out of
that range (`price_ok` False) cost `OUT_OF_RANGE_FEN`, which no cap admits.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["OUT_OF_RANGE_FEN", "cost_kernel", "estimate_cost_twin"]

OUT_OF_RANGE_FEN = 2**62
MAX_PRICE_FEN = 2**17  # per unit-hour, as in the rate tables
MAX_PEAK_BP = 100_000  # what node registration accepts for a time-of-use band (×10)
_MS_PER_HOUR = 3_600_000
_BP2 = 100_000_000


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def estimate_cost_twin(
    prices: tuple[int, int, int], peak_bp: int, tier_factor_bp: int,
    cpu_milli: int, memory_mb: int, gpu: int, max_runtime_s: int,
) -> int:
    """The specification, in unbounded Python integers: the estimate on one node."""
    cpu_fen, memory_fen, gpu_fen = prices
    if not (all(0 <= p <= MAX_PRICE_FEN for p in prices) and 0 <= peak_bp <= MAX_PEAK_BP):
        return OUT_OF_RANGE_FEN
    hourly = cpu_milli * cpu_fen + _ceil_div(memory_mb * 125 * memory_fen, 128) + gpu * 1000 * gpu_fen
    peak = _ceil_div(hourly * peak_bp * tier_factor_bp, _BP2)
    return _ceil_div(peak * max_runtime_s, _MS_PER_HOUR)


@njit(cache=True, nogil=True)
def _ceil_muldiv(a, b, d):
    # ⌈a·b/d⌉ without forming a·b: a = q·d + r gives q·b + ⌈r·b/d⌉ (needs d·b < 2^63).
    q = a // d
    return q * b + ((a - q * d) * b + (d - 1)) // d


@njit(cache=True, nogil=True)
def cost_kernel(slots, site, tier_row, tier_factor_bp, cpu_fen, memory_fen, gpu_fen, peak_bp, price_ok,
                cpu_milli, memory_mb, gpu, max_runtime_s):
    """int64 cost per slot, equal to estimate_cost_twin; tier_factor_bp is indexed by tier 0..5."""
    out = np.empty(slots.shape[0], dtype=np.int64)
    for i in range(slots.shape[0]):
        s = slots[i]
        if not price_ok[s]:
            out[i] = OUT_OF_RANGE_FEN
            continue
        hourly = (cpu_milli * cpu_fen[s] + (memory_mb * 125 * memory_fen[s] + 127) // 128
                  + gpu * 1000 * gpu_fen[s])
        peak = _ceil_muldiv(hourly, peak_bp[s] * tier_factor_bp[tier_row[site[s]]], _BP2)
        out[i] = _ceil_muldiv(peak, max_runtime_s, _MS_PER_HOUR)
    return out
