"""Compute charge: price card × time-of-use band (峰谷) × latency-tier factor, one fen line per record.

The exact charge of a record, in fen, is the rational number

    (cpu_ms · cpu_core_hour_fen / 3,600,000
     + memory_mb_s · memory_gb_hour_fen / 3,686,400      (1 GB = 1024 MB, 1 h = 3600 s)
     + gpu_ms · gpu_hour_fen / 3,600,000)
    · hour_multiplier_bp / 10,000 · tier_factor_bp / 10,000

where the hour is the record's start hour in China Standard Time (UTC+8). It is rounded
once, half to even, to whole fen. `compute_charge_twin` says exactly that with Python's
unbounded integers; `charge_compute_chunk` (run by market/rating/kernel.py) computes the same
value exactly in 64-bit integers (a float64 estimate of the quotient, corrected by an exact
remainder) for inputs inside the stated limits (tables.py, batch.py).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from numba import njit

__all__ = ["COMPUTE_SCRATCH_COLUMNS", "charge_compute_chunk", "compute_charge_twin", "compute_lookup_tables", "cst_hour"]

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


_U_LINE_DEN = np.uint64(_QUANTITY_DEN * _BP2)  # 4.608e16 < 2^56
_I_LINE_DEN = np.int64(_QUANTITY_DEN * _BP2)
_U_MS_PER_HOUR = np.uint64(MS_PER_HOUR)
_I_MS_PER_HOUR = np.int64(MS_PER_HOUR)
_U_CST_OFFSET_MS = np.uint64(CST_OFFSET_HOURS * MS_PER_HOUR)
_U_CPU_GPU_SCALE, _U_MEMORY_SCALE = np.uint64(_CPU_GPU_SCALE), np.uint64(_MEMORY_SCALE)
_U_ONE = np.uint64(1)
_INV_LINE_DEN = 1.0 / float(_QUANTITY_DEN * _BP2)
_INV_MS_PER_HOUR = 1.0 / MS_PER_HOUR
_U_PRICE_BITS, _U_PRICE_MASK = np.uint64(21), np.uint64((1 << 21) - 1)  # a card's three prices in one word (each <= 2^17)
_U_HOUR_BITS = np.uint64(5)  # a card's 24 hourly multipliers padded to 32
COMPUTE_SCRATCH_COLUMNS = 3


# Three passes per chunk of records, so that two of them run in SIMD lanes: the hour of day (float
# estimate, corrected in integers), then the only part that must look things up per record (the
# card's prices and its hour's multiplier), then the exact charge. One loop doing all three is bound
# by its lookups and never vectorises. Unsigned integers where Numba's signed // and % would add
# floor-division sign fix-ups.
@njit(cache=True, nogil=True, inline="always")
def charge_compute_chunk(card_index, tier, start_unix_ms, cpu_ms, memory_mb_s, gpu_ms, lookup, scratch, out):
    """Compute charge in fen of one chunk of records into `out`; equal to compute_charge_twin.

    `scratch`: three uint64 working columns at least as long as the chunk (hour, prices, multiplier)."""
    prices, bands, tier_bp = lookup
    k = out.shape[0]
    hour, packed, multiplier = scratch[0][:k], scratch[1][:k], scratch[2][:k]
    _cst_hours(start_unix_ms, hour)
    _look_up(card_index, tier, hour, prices, bands, tier_bp, packed, multiplier)
    _charge(cpu_ms, memory_mb_s, gpu_ms, packed, multiplier, out)


@njit(cache=True, nogil=True)
def compute_lookup_tables(cpu_core_hour_fen, memory_gb_hour_fen, gpu_hour_fen, hour_multiplier_bp, tier_factor_bp):
    """(prices, bands, tier factors) as charge_compute_chunk reads them, built once per rate table: per card
    its three prices in one word (one lookup per record instead of three) and its hourly multipliers in
    rows of 32 (the row is a shift away), all unsigned."""
    cards = cpu_core_hour_fen.shape[0]
    prices = np.empty(cards, dtype=np.uint64)
    bands = np.zeros(cards << 5, dtype=np.uint64)
    for c in range(cards):
        prices[c] = (np.uint64(cpu_core_hour_fen[c]) | (np.uint64(memory_gb_hour_fen[c]) << _U_PRICE_BITS)
                     | (np.uint64(gpu_hour_fen[c]) << (_U_PRICE_BITS + _U_PRICE_BITS)))
        for h in range(24):
            bands[(c << 5) + h] = hour_multiplier_bp[c, h]
    return prices, bands, tier_factor_bp.astype(np.uint64)


@njit(cache=True, nogil=True, inline="always")
def _cst_hours(start_unix_ms, hour):
    """Hour of day in China Standard Time: ms since the CST epoch over 3,600,000 estimated in float64
    (SIMD has no 64-bit integer division), then corrected by the exact remainder; the same for / 24."""
    for i in range(start_unix_ms.shape[0]):
        ms = np.uint64(start_unix_ms[i]) + _U_CST_OFFSET_MS  # start >= 0 and < 2^63: no wrap
        hours = np.uint64(float(ms) * _INV_MS_PER_HOUR)  # within one of the floor
        r = np.int64(ms - hours * _U_MS_PER_HOUR)  # in (-1 h, 2 h): exact in wrapping arithmetic
        hours = hours - np.uint64(r < 0) + np.uint64(r >= _I_MS_PER_HOUR)
        days = np.int64(float(hours) * (1.0 / 24.0))  # hours < 2^43: within one of the floor
        h = np.int64(hours) - days * 24
        hour[i] = np.uint64(h + 24 * np.int64(h < 0) - 24 * np.int64(h >= 24))


@njit(cache=True, nogil=True, inline="always")
def _look_up(card_index, tier, hour, prices, bands, tier_bp, packed, multiplier):
    for i in range(card_index.shape[0]):
        c = np.uint64(card_index[i])
        packed[i] = prices[c]
        multiplier[i] = bands[(c << _U_HOUR_BITS) | hour[i]] * tier_bp[np.uint64(tier[i])]  # <= 9e8


@njit(cache=True, nogil=True, inline="always")
def _charge(cpu_ms, memory_mb_s, gpu_ms, packed, multiplier, out):
    for i in range(out.shape[0]):
        p = packed[i]
        # Numerator over _QUANTITY_DEN; < 3 · 2^35 · 2^17 · 2^7 < 2^61 inside the limits.
        base = ((np.uint64(cpu_ms[i]) * (p & _U_PRICE_MASK) + np.uint64(gpu_ms[i]) * (p >> (_U_PRICE_BITS + _U_PRICE_BITS)))
                * _U_CPU_GPU_SCALE + np.uint64(memory_mb_s[i]) * ((p >> _U_PRICE_BITS) & _U_PRICE_MASK) * _U_MEMORY_SCALE)
        out[i] = _round_line(base, multiplier[i])


@njit(cache=True, nogil=True, inline="always")
def _round_line(base, m):
    """base · m / (_QUANTITY_DEN · _BP2) rounded half to even, exactly, without 128-bit products.

    The quotient is first estimated in float64: four roundings of relative error 2^-53
    each on a value below 2^61 · 9e8 / 4.6e16 < 2^46 leave it within 0.04 of the exact
    quotient, so q is the exact floor or one off. The remainder base·m − q·den is then
    exact in wrapping uint64 arithmetic (it lies in (−den, 2·den), far inside ±2^63),
    which corrects q and decides the rounding. The float only guesses; the integers decide."""
    q = np.uint64(float(base) * float(m) * _INV_LINE_DEN)
    r = np.int64(base * m - q * _U_LINE_DEN)
    if r < 0:
        q -= _U_ONE
        r += _I_LINE_DEN
    elif r >= _I_LINE_DEN:
        q += _U_ONE
        r -= _I_LINE_DEN
    twice = 2 * r
    # Bitwise, not `or`/`and`: whether a line rounds up is a coin toss, a branch would mispredict half the time.
    q += np.uint64((twice > _I_LINE_DEN) | ((twice == _I_LINE_DEN) & ((q & _U_ONE) == _U_ONE)))
    return np.int64(q)
