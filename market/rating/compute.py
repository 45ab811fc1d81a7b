"""Compute charge: price card × time-of-use band (峰谷) × latency-tier factor, one fen line per record.

The exact charge of a record, in fen, is the rational number

    (cpu_ms · cpu_core_hour_fen / 3,600,000
     + memory_mb_s · memory_gb_hour_fen / 3,686,400      (1 GB = 1024 MB, 1 h = 3600 s)
     + gpu_ms · gpu_hour_fen / 3,600,000)
    · hour_multiplier_bp / 10,000 · tier_factor_bp / 10,000

where the hour is the record's start hour in China Standard Time (UTC+8). It is rounded
once, half to even, to whole fen. `compute_charge_twin` says exactly that with Python's
unbounded integers; `compute_charge_kernel` computes the same value in int64 without
overflow for inputs inside the stated limits (tables.py, batch.py).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from numba import njit, prange

from shuniu.market.rating._money import round_half_even_split

__all__ = ["compute_charge_kernel", "compute_charge_twin", "cst_hour"]

MS_PER_HOUR = 3_600_000
CST_OFFSET_HOURS = 8
# 460,800,000 = lcm(3,600,000, 3,686,400): every quantity term over one denominator.
_QUANTITY_DEN = 460_800_000
_CPU_GPU_SCALE = _QUANTITY_DEN // 3_600_000  # 128
_MEMORY_SCALE = _QUANTITY_DEN // 3_686_400  # 125
_BP2 = 100_000_000  # two basis-point factors


def cst_hour(start_unix_ms: int) -> int:
    """Hour of day (0..23) in China Standard Time of a non-negative Unix time in ms."""
    return (start_unix_ms // MS_PER_HOUR + CST_OFFSET_HOURS) % 24


def compute_charge_twin(
    card_index: np.ndarray,
    tier: np.ndarray,
    start_unix_ms: np.ndarray,
    cpu_ms: np.ndarray,
    memory_mb_s: np.ndarray,
    gpu_ms: np.ndarray,
    cpu_core_hour_fen: np.ndarray,
    memory_gb_hour_fen: np.ndarray,
    gpu_hour_fen: np.ndarray,
    hour_multiplier_bp: np.ndarray,
    tier_factor_bp: np.ndarray,
) -> list[int]:
    """The specification: exact rational charge per record, rounded half-even once."""
    out = []
    for i in range(len(card_index)):
        c = int(card_index[i])
        fen_hours = (
            Fraction(int(cpu_ms[i]) * int(cpu_core_hour_fen[c]), 3_600_000)
            + Fraction(int(memory_mb_s[i]) * int(memory_gb_hour_fen[c]), 1024 * 3600)
            + Fraction(int(gpu_ms[i]) * int(gpu_hour_fen[c]), 3_600_000)
        )
        band_bp = int(hour_multiplier_bp[c, cst_hour(int(start_unix_ms[i]))])
        tier_bp = int(tier_factor_bp[int(tier[i])])
        out.append(round(fen_hours * Fraction(band_bp, 10_000) * Fraction(tier_bp, 10_000)))
    return out


# Records are independent: the loop runs on every core (the data kernel cannot, its volume
# tiers carry a running total from record to record).
@njit(cache=True, nogil=True, parallel=True)
def compute_charge_kernel(
    card_index,
    tier,
    start_unix_ms,
    cpu_ms,
    memory_mb_s,
    gpu_ms,
    cpu_core_hour_fen,
    memory_gb_hour_fen,
    gpu_hour_fen,
    hour_multiplier_bp,
    tier_factor_bp,
):
    """Compute charge in fen per record (int64), equal to compute_charge_twin."""
    n = card_index.shape[0]
    out = np.empty(n, dtype=np.int64)
    for i in prange(n):
        c = card_index[i]
        # Numerator over _QUANTITY_DEN; < 3 · 2^35 · 2^17 · 2^7 < 2^61 inside the limits.
        base = (
            np.int64(cpu_ms[i]) * cpu_core_hour_fen[c] * _CPU_GPU_SCALE
            + np.int64(memory_mb_s[i]) * memory_gb_hour_fen[c] * _MEMORY_SCALE
            + np.int64(gpu_ms[i]) * gpu_hour_fen[c] * _CPU_GPU_SCALE
        )
        hour = (start_unix_ms[i] // MS_PER_HOUR + CST_OFFSET_HOURS) % 24
        m = hour_multiplier_bp[c, hour] * tier_factor_bp[tier[i]]  # <= 9e8
        # base · m / (_QUANTITY_DEN · _BP2), split so that no product leaves int64:
        # base = q1·D + r1, q1·m = q2·BP2 + r2  =>  value = q2 + (r2·D + r1·m) / (D·BP2)
        q1 = base // _QUANTITY_DEN
        r1 = base - q1 * _QUANTITY_DEN
        t = q1 * m
        q2 = t // _BP2
        r2 = t - q2 * _BP2
        out[i] = round_half_even_split(q2, r2 * _QUANTITY_DEN + r1 * m, _QUANTITY_DEN * _BP2)
    return out
