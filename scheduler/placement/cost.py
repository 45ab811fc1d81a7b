"""The compute cost estimate of a job on each node: price card × resources × runtime × tier factor.

An upper estimate in whole fen, computed in int64 in three steps, each rounded up:

    hourly_millifen = cpu_milli · cpu_core_hour_fen
                      + ⌈memory_mb · memory_gb_hour_fen · 125 / 128⌉     (1 GB = 1024 MB; 1000/1024 = 125/128)
                      + gpu · gpu_hour_fen · 1000
    peak_millifen   = ⌈hourly_millifen · peak_bp · tier_factor_bp / 10⁸⌉   (peak time-of-use band: the job may run then)
    cost_fen        = ⌈peak_millifen · max_runtime_s / 3,600,000⌉

Every card node registration accepts is in range: prices up to MAX_COMPUTE_PRICE_FEN (10⁸ fen,
1,000,000 yuan, per unit-hour), time-of-use bands up to ×10, tier factors up to ×3. The two
products that would pass 64 bits there (hourly · 3·10⁹ and peak · runtime) are never formed:
`_ceil_muldiv` splits the first factor by the divisor, and the bounds below (asserted at import
from the limits, in Python integers) keep every intermediate under 2^57. A card beyond those
limits (only a fleet that skipped registration's checks holds one) costs `OUT_OF_RANGE_FEN`,
which no cap admits.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from shuniu.market.rating.tables import MAX_BAND_MULTIPLIER_BP, MAX_COMPUTE_PRICE_FEN, MAX_MULTIPLIER_BP
from shuniu.scheduler.placement.request import MAX_CPU_MILLI, MAX_GPU, MAX_MEMORY_MB, MAX_RUNTIME_S

__all__ = ["MAX_COST_FEN", "MAX_PEAK_BP", "MAX_PRICE_FEN", "OUT_OF_RANGE_FEN", "cost_kernel", "estimate_cost_twin"]

OUT_OF_RANGE_FEN = 2**62
MAX_PRICE_FEN = MAX_COMPUTE_PRICE_FEN  # per unit-hour: what node registration accepts and the rater rates
MAX_PEAK_BP = MAX_BAND_MULTIPLIER_BP  # a time-of-use band: ×10, what node registration accepts
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


# The bounds of every int64 intermediate of cost_kernel at the largest request and card, in Python integers.
_MAX_HOURLY = (MAX_CPU_MILLI * MAX_PRICE_FEN + _ceil_div(MAX_MEMORY_MB * 125 * MAX_PRICE_FEN, 128)
               + MAX_GPU * 1000 * MAX_PRICE_FEN)  # ≈ 2^50.7
_MAX_MEMORY_TERM = MAX_MEMORY_MB * 125 * MAX_PRICE_FEN + 127  # ≈ 2^57.5, formed before its division
_MAX_FACTOR = MAX_PEAK_BP * MAX_MULTIPLIER_BP  # peak_bp · tier_factor_bp ≈ 2^31.5
_MAX_PEAK = _ceil_div(_MAX_HOURLY * _MAX_FACTOR, _BP2)  # ≈ 2^55.6
MAX_COST_FEN = estimate_cost_twin((MAX_PRICE_FEN,) * 3, MAX_PEAK_BP, MAX_MULTIPLIER_BP,
                                  MAX_CPU_MILLI, MAX_MEMORY_MB, MAX_GPU, MAX_RUNTIME_S)  # ≈ 2^55.1: 3.99·10^16 fen
# _ceil_muldiv(a, b, d) forms q·b and r·b + d - 1 with r < d: both must stay in int64.
assert _MAX_MEMORY_TERM < 2**62 and _MAX_HOURLY < 2**62
assert (_MAX_HOURLY // _BP2) * _MAX_FACTOR < 2**62 and _BP2 * _MAX_FACTOR < 2**62 and _MAX_PEAK < 2**62
assert (_MAX_PEAK // _MS_PER_HOUR) * MAX_RUNTIME_S < 2**62 and _MS_PER_HOUR * MAX_RUNTIME_S < 2**62
assert MAX_COST_FEN < OUT_OF_RANGE_FEN


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
