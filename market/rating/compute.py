"""Compute charge: price card × time-of-use band (峰谷) × latency-tier factor, one fen line per record.

The exact charge of a record, in fen, is the rational number

    (cpu_ms · cpu_core_hour_fen / 3,600,000
     + memory_mb_s · memory_gb_hour_fen / 3,686,400      (1 GB = 1024 MB, 1 h = 3600 s)
     + gpu_ms · gpu_hour_fen / 3,600,000)
    · hour_multiplier_bp / 10,000 · tier_factor_bp / 10,000

where the hour is the record's start hour in China Standard Time (UTC+8). It is rounded
once, half to even, to the micro-fen (a line is kept as its milli-fen and the micro-fen below them, so
that nothing is lost per record; the ledger accrues what is below a fen and rounds where a bill is made,
docs/billing.md). `compute_charge_twin` says exactly that with Python's
unbounded integers; the kernel (kernel.py) computes the same value exactly in 64-bit integers
(a float64 estimate of the quotient, corrected by an exact remainder) for inputs inside the
stated limits (tables.py, and the usage wire's per-record quantities: docs/billing.md, "Rating ranges").
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["compute_charge_twin", "cst_hour"]

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
    millifen: bool = False,
    microfen: bool = False,
) -> list[int]:
    """The specification: exact rational charge per record, rounded half-even once (to the fen, with `millifen`
    to the milli-fen, with `microfen` to the micro-fen, as lines are kept)."""
    unit = 1_000_000 if microfen else 1000 if millifen else 1
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
        out.append(round(fen_hours * Fraction(band_bp, 10_000) * Fraction(tier_bp, 10_000) * unit))
    return out
