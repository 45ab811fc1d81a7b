"""The rating kernel: all of rating's Numba code, one call per batch, pricing compute and data together.

Both charges run on the same chunk of records while its columns are in the core's cache, with
one call per batch (a Numba call costs microseconds; a batch is ~20k records). The rules and
their plain-Python twins are in compute.py and data.py; this module computes the same values
exactly in 64-bit integers (wider where a product needs it) for inputs inside the stated limits
(tables.py, batch.py, the usage wire's per-record quantities; docs/billing.md, "Rating ranges").

Every jitted function the kernel calls lives in this file: Numba's on-disk cache of a function
is keyed by its own file alone, so a callee edited in another module would leave a stale kernel
in the cache.
"""

from __future__ import annotations

import weakref

import numpy as np
from numba import njit

from shuniu.market.rating.compute import _BP2, _CPU_GPU_SCALE, _MEMORY_SCALE, _QUANTITY_DEN, CST_OFFSET_HOURS, MS_PER_HOUR
from shuniu.market.rating.data import _KIND_CALL, _KIND_ROW
from shuniu.market.rating.tables import RateTables

__all__ = ["MAX_ROUNDED_MILLIFEN", "MICROFEN_PER_MILLIFEN", "all_within", "kernel_tables", "rate_kernel", "round_half_even_millifen",
           "slots_within"]

# Records per chunk: every pass over a chunk reads its working columns (7 × 2 KB) from L1, and the
# columns streamed from memory go on without a pause long enough for the prefetchers to drop them.
# Measured on 4 M records in batches of 20,000 (M records/s, int64 | int32 quantities): 64: 86 | 94,
# 128: 92 | 105, 256: 92 | 107, 512: 87 | 107, 1024: 81 | 104, 2048: 77 | 96.
CHUNK_RECORDS = 256

_built: weakref.WeakKeyDictionary[RateTables, tuple] = weakref.WeakKeyDictionary()


def kernel_tables(tables: RateTables) -> tuple[tuple, tuple]:
    """(compute lookup, data lookup) of `tables`, built on first use and kept as long as the tables."""
    found = _built.get(tables)
    if found is None:
        c, d = tables.compute, tables.data
        found = _built[tables] = (
            _compute_lookup_tables(c.cpu_core_hour_fen, c.memory_gb_hour_fen, c.gpu_hour_fen, c.hour_multiplier_bp, c.tier_factor_bp),
            _data_lookup_tables(d.unit_kind, d.tier_offsets, d.tier_from_units, d.tier_price_millifen, d.guided_cap_millifen),
        )
    return found


# One core, no prange: a batch is rated on the thread that holds it (the biller's batches are ~20k
# records, where a thread pool costs more than it gives).
@njit(cache=True, nogil=True)
def rate_kernel(card_index, tier, start_ms, start_base_ms, cpu_ms, memory_mb_s, gpu_ms, product_index, free, rows, calls, queries,
                units_before, volume_slot, compute_lookup, data_lookup):
    """(compute milli-fen, compute micro-fen below the milli-fen, data milli-fen, cap reduction milli-fen, units after
    per volume slot) of prepared columns (batch.RatingInputs: a record starts at Unix ms start_base_ms + start_ms[i]).

    A compute line is its exact amount rounded once, half to even, to the micro-fen: its milli-fen and the rest
    (0..999, int16: two bytes a record more to write)."""
    n = card_index.shape[0]
    compute_fen = np.empty(n, dtype=np.int64)
    compute_rest = np.empty(n, dtype=np.int16)
    data_fen = np.empty(n, dtype=np.int64)
    cap_fen = np.empty(n, dtype=np.int64)
    volume = _data_volume_state(units_before)
    if data_lookup[0].shape[0] == 1:  # no products: no record is billable (and none may name one)
        data_fen[:] = 0
        cap_fen[:] = 0
    # One allocation for every working column (a call per batch: allocations are a visible share).
    work = np.empty((_COMPUTE_SCRATCH_COLUMNS + _DATA_SCRATCH_COLUMNS, CHUNK_RECORDS), dtype=np.int64)
    compute_work = (work[0].view(np.uint64), work[1].view(np.uint64), work[2].view(np.uint64))
    data_work = (work[3], work[4], work[5], work[6])
    for lo in range(0, n, CHUNK_RECORDS):
        hi = min(n, lo + CHUNK_RECORDS)
        _charge_compute_chunk(card_index[lo:hi], tier[lo:hi], start_ms[lo:hi], start_base_ms, cpu_ms[lo:hi], memory_mb_s[lo:hi],
                              gpu_ms[lo:hi], compute_lookup, compute_work, compute_fen[lo:hi], compute_rest[lo:hi])
        if data_lookup[0].shape[0] > 1:
            _charge_data_chunk(product_index[lo:hi], free[lo:hi], rows[lo:hi], calls[lo:hi], queries[lo:hi], volume_slot[lo:hi],
                               data_lookup, volume, data_work, data_fen[lo:hi], cap_fen[lo:hi])
    return compute_fen, compute_rest, data_fen, cap_fen, _units_after(volume)


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


# Compute charge ----------------------------------------------------------------------------------

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
# The one-word form rates exactly while base < 2^61: prices up to 2^17 fen and quantities up to 2^35.
# A card priced higher is packed as _U_EXACT_CARD (its prices are read from the card instead), and a
# record over either bound is rated again by _exact_line_millifen, in 32-bit limbs.
_FAST_PRICE_FEN = 2**17
_U_FAST_QUANTITY_BITS = np.uint64(35)
_U_EXACT_CARD = np.uint64(1 << 63)
_U_SIGN_BIT = np.uint64(63)
_U_HOUR_BITS = np.uint64(5)  # a card's 24 hourly multipliers padded to 32
_COMPUTE_SCRATCH_COLUMNS = 3


# Three passes per chunk of records, so that two of them run in SIMD lanes: the hour of day (float
# estimate, corrected in integers), then the only part that must look things up per record (the
# card's prices and its hour's multiplier), then the exact charge. One loop doing all three is bound
# by its lookups and never vectorises. Unsigned integers where Numba's signed // and % would add
# floor-division sign fix-ups.
@njit(cache=True, nogil=True, inline="always")
def _charge_compute_chunk(card_index, tier, start_ms, start_base_ms, cpu_ms, memory_mb_s, gpu_ms, lookup, scratch, out, rest):
    """Compute charge of one chunk of records, rounded to the micro-fen: its milli-fen into `out` and the micro-fen
    below them into `rest`; equal to compute.compute_charge_twin.

    `scratch`: three uint64 working columns at least as long as the chunk (hour, prices, multiplier)."""
    prices, bands, tier_bp, card_prices = lookup
    k = out.shape[0]
    hour, packed, multiplier = scratch[0][:k], scratch[1][:k], scratch[2][:k]
    _cst_hours(start_ms, start_base_ms, hour)
    _look_up(card_index, tier, hour, prices, bands, tier_bp, packed, multiplier)
    if _charge(cpu_ms, memory_mb_s, gpu_ms, packed, multiplier, out, rest):  # rare: a high price card or a huge record
        for i in range(k):
            if _needs_exact(cpu_ms[i], memory_mb_s[i], gpu_ms[i], packed[i]):
                c = card_index[i]
                out[i], rest[i] = _exact_line_millifen(np.uint64(cpu_ms[i]), np.uint64(memory_mb_s[i]), np.uint64(gpu_ms[i]),
                                              card_prices[c, 0], card_prices[c, 1], card_prices[c, 2], multiplier[i])


@njit(cache=True, nogil=True)
def _compute_lookup_tables(cpu_core_hour_fen, memory_gb_hour_fen, gpu_hour_fen, hour_multiplier_bp, tier_factor_bp):
    """(prices, bands, tier factors, card prices) as _charge_compute_chunk reads them, built once per rate
    table: per card its three prices in one word (one lookup per record instead of three; _U_EXACT_CARD
    when one is over _FAST_PRICE_FEN) and its hourly multipliers in rows of 32 (the row is a shift away),
    all unsigned; and the three prices per card as they are, for the exact form."""
    cards = cpu_core_hour_fen.shape[0]
    prices = np.empty(cards, dtype=np.uint64)
    card_prices = np.empty((cards, 3), dtype=np.uint64)
    bands = np.zeros(cards << 5, dtype=np.uint64)
    for c in range(cards):
        card_prices[c, 0], card_prices[c, 1], card_prices[c, 2] = cpu_core_hour_fen[c], memory_gb_hour_fen[c], gpu_hour_fen[c]
        if max(cpu_core_hour_fen[c], memory_gb_hour_fen[c], gpu_hour_fen[c]) > _FAST_PRICE_FEN:
            prices[c] = _U_EXACT_CARD
        else:
            prices[c] = (np.uint64(cpu_core_hour_fen[c]) | (np.uint64(memory_gb_hour_fen[c]) << _U_PRICE_BITS)
                         | (np.uint64(gpu_hour_fen[c]) << (_U_PRICE_BITS + _U_PRICE_BITS)))
        for h in range(24):
            bands[(c << 5) + h] = hour_multiplier_bp[c, h]
    return prices, bands, tier_factor_bp.astype(np.uint64), card_prices


@njit(cache=True, nogil=True, inline="always")
def _cst_hours(start_ms, start_base_ms, hour):
    """Hour of day in China Standard Time: ms since the CST epoch over 3,600,000 estimated in float64
    (SIMD has no 64-bit integer division), then corrected by the exact remainder; the same for / 24."""
    base = np.int64(start_base_ms)
    for i in range(start_ms.shape[0]):
        ms = np.uint64(np.int64(start_ms[i]) + base) + _U_CST_OFFSET_MS  # start >= 0 and < 2^63: no wrap
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
        multiplier[i] = bands[(c << _U_HOUR_BITS) | hour[i]] * tier_bp[np.uint64(tier[i])]  # <= 3e9 < 2^32


@njit(cache=True, nogil=True, inline="always")
def _charge(cpu_ms, memory_mb_s, gpu_ms, packed, multiplier, out, rest):
    """Every line in the one-word form; whether some record needs the exact form instead (_needs_exact),
    found by a bitwise OR per record that runs in the same SIMD lanes."""
    exact = np.uint64(0)
    for i in range(out.shape[0]):
        p = packed[i]
        exact |= (p >> _U_SIGN_BIT) | ((np.uint64(cpu_ms[i]) | np.uint64(memory_mb_s[i]) | np.uint64(gpu_ms[i])) >> _U_FAST_QUANTITY_BITS)
        # Numerator over _QUANTITY_DEN; < 3 · 2^35 · 2^17 · 2^7 < 2^61 for the records this form rates.
        base = ((np.uint64(cpu_ms[i]) * (p & _U_PRICE_MASK) + np.uint64(gpu_ms[i]) * (p >> (_U_PRICE_BITS + _U_PRICE_BITS)))
                * _U_CPU_GPU_SCALE + np.uint64(memory_mb_s[i]) * ((p >> _U_PRICE_BITS) & _U_PRICE_MASK) * _U_MEMORY_SCALE)
        milli, micro = _round_line_microfen(base, multiplier[i])
        out[i] = milli
        rest[i] = micro
    return exact != 0


@njit(cache=True, nogil=True, inline="always")
def _needs_exact(cpu_ms, memory_mb_s, gpu_ms, packed):
    """Whether a record is outside what the one-word form rates exactly: its card is over _FAST_PRICE_FEN
    or a quantity is over 2^35."""
    return ((packed >> _U_SIGN_BIT) | ((np.uint64(cpu_ms) | np.uint64(memory_mb_s) | np.uint64(gpu_ms)) >> _U_FAST_QUANTITY_BITS)) != 0


@njit(cache=True, nogil=True, inline="always")
def _line_quotient(base, m):
    """(floor, remainder) of base · m / (_QUANTITY_DEN · _BP2): a float estimate corrected by the exact remainder (_round_line)."""
    q = np.uint64(float(base) * float(m) * _INV_LINE_DEN)
    r = np.int64(base * m - q * _U_LINE_DEN)
    if r < 0:
        q -= _U_ONE
        r += _I_LINE_DEN
    elif r >= _I_LINE_DEN:
        q += _U_ONE
        r -= _I_LINE_DEN
    return q, r


@njit(cache=True, nogil=True, inline="always")
def _round_line(base, m):
    """base · m / (_QUANTITY_DEN · _BP2) rounded half to even, exactly, without 128-bit products.

    The quotient is first estimated in float64: four roundings of relative error 2^-53
    each on a value below 2^61 · 9e8 / 4.6e16 < 2^46 leave it within 0.04 of the exact
    quotient, so q is the exact floor or one off. The remainder base·m − q·den is then
    exact in wrapping uint64 arithmetic (it lies in (−den, 2·den), far inside ±2^63),
    which corrects q and decides the rounding. The float only guesses; the integers decide."""
    q, r = _line_quotient(base, m)
    twice = 2 * r
    # Bitwise, not `or`/`and`: whether a line rounds up is a coin toss, a branch would mispredict half the time.
    q += np.uint64((twice > _I_LINE_DEN) | ((twice == _I_LINE_DEN) & ((q & _U_ONE) == _U_ONE)))
    return np.int64(q)


_U_MICRO_DEN = np.uint64(_QUANTITY_DEN * _BP2 // 1_000_000)  # a micro-fen's share of a line's denominator (exact)
_I_MICRO_DEN = np.int64(_QUANTITY_DEN * _BP2 // 1_000_000)
_INV_MICRO_DEN = 1.0 / float(_QUANTITY_DEN * _BP2 // 1_000_000)
_U_THOUSAND = np.uint64(1000)
_I_THOUSAND = np.int64(1000)
MICROFEN_PER_MILLIFEN = 1000
# floor(k / 1000) = (k · _THOUSANDTH) >> 32 for every k in 0..10^6 (checked in the tests): no division in the SIMD lanes.
_U_THOUSANDTH, _U_32 = np.uint64(4_294_968), np.uint64(32)


@njit(cache=True, nogil=True, inline="always")
def _round_line_microfen(base, m):
    """base · m / (_QUANTITY_DEN · _BP2) rounded half to even, exactly, to the micro-fen, as (milli-fen, micro-fen
    below them, 0..999): lines keep their sub-fen amount (the ledger accrues it, docs/billing.md). The fen quotient
    and its remainder as in _round_line, then the remainder (< 2^56) over a micro-fen's denominator: a float
    estimate within one, corrected by the exact remainder; the micro-fen of the fen (0..10^6 once rounded) split in
    milli-fen and rest by a multiply and a shift."""
    q, r = _line_quotient(base, m)
    k = np.int64(float(r) * _INV_MICRO_DEN)
    s = r - k * _I_MICRO_DEN
    k = k - np.int64(s < 0) + np.int64(s >= _I_MICRO_DEN)
    s = r - k * _I_MICRO_DEN
    twice = 2 * s
    k += np.int64((twice > _I_MICRO_DEN) | ((twice == _I_MICRO_DEN) & ((k & _ONE) == _ONE)))
    milli = (np.uint64(k) * _U_THOUSANDTH) >> _U_32
    return np.int64(q * _U_THOUSAND + milli), np.int16(k - np.int64(milli) * _I_THOUSAND)


# The exact form: numbers as five 32-bit limbs (least significant first), each in a uint64, so that a
# limb times a factor below 2^32 plus a carry never leaves 64 bits. 160 bits hold any line's numerator
# (three int64 quantities × prices below 2^32 × 128 × a multiplier below 2^32 < 2^131); the quotient
# fits int64 inside the limits (docs/billing.md, "Rating ranges").
_U_LIMB_BITS = np.uint64(32)
_U_LIMB_MASK = np.uint64(0xFFFFFFFF)
_U_QUANTITY_DEN = np.uint64(_QUANTITY_DEN)
_U_MICRO_BP2 = np.uint64(_BP2 // 1_000_000)  # _QUANTITY_DEN · _U_MICRO_BP2 is a micro-fen's share of a line's denominator
_U_ZERO = np.uint64(0)


@njit(cache=True, nogil=True)
def _exact_line_millifen(cpu_ms, memory_mb_s, gpu_ms, cpu_fen, memory_fen, gpu_fen, m):
    """(cpu_ms·cpu_fen·128 + gpu_ms·gpu_fen·128 + memory_mb_s·memory_fen·125) · m / (_QUANTITY_DEN · _BP2)
    rounded half to even to the micro-fen, as (milli-fen, micro-fen below them), for any uint64 quantities and
    prices and multiplier below 2^32: long multiplication and division by factors below 2^32, the remainder kept exact."""
    n = _limbs_add(_limbs_add(_limbs_term(cpu_ms, cpu_fen, _U_CPU_GPU_SCALE), _limbs_term(gpu_ms, gpu_fen, _U_CPU_GPU_SCALE)),
                   _limbs_term(memory_mb_s, memory_fen, _U_MEMORY_SCALE))
    q1, r1 = _limbs_divmod(_limbs_times(n, m), _U_QUANTITY_DEN)
    q2, r2 = _limbs_divmod(q1, _U_MICRO_BP2)  # q2: whole micro-fen (up to 2^72: three limbs)
    r = r2 * _U_QUANTITY_DEN + r1  # < _QUANTITY_DEN · _U_MICRO_BP2 < 2^36
    den = _U_QUANTITY_DEN * _U_MICRO_BP2
    twice = r + r
    up = np.uint64((twice > den) | ((twice == den) & ((q2[0] & _U_ONE) == _U_ONE)))
    millifen, rest = _limbs_divmod(_limbs_add(q2, (up, _U_ZERO, _U_ZERO, _U_ZERO, _U_ZERO)), _U_THOUSAND)
    return np.int64(millifen[0] | (millifen[1] << _U_LIMB_BITS)), np.int16(rest)


@njit(cache=True, nogil=True, inline="always")
def _limbs_term(quantity, price, scale):
    return _limbs_times(_limbs_times((quantity & _U_LIMB_MASK, quantity >> _U_LIMB_BITS, _U_ZERO, _U_ZERO, _U_ZERO), price), scale)


@njit(cache=True, nogil=True, inline="always")
def _limbs_times(a, factor):
    """a · factor (factor < 2^32)."""
    t0 = a[0] * factor
    t1 = a[1] * factor + (t0 >> _U_LIMB_BITS)
    t2 = a[2] * factor + (t1 >> _U_LIMB_BITS)
    t3 = a[3] * factor + (t2 >> _U_LIMB_BITS)
    t4 = a[4] * factor + (t3 >> _U_LIMB_BITS)
    return t0 & _U_LIMB_MASK, t1 & _U_LIMB_MASK, t2 & _U_LIMB_MASK, t3 & _U_LIMB_MASK, t4 & _U_LIMB_MASK


@njit(cache=True, nogil=True, inline="always")
def _limbs_add(a, b):
    t0 = a[0] + b[0]
    t1 = a[1] + b[1] + (t0 >> _U_LIMB_BITS)
    t2 = a[2] + b[2] + (t1 >> _U_LIMB_BITS)
    t3 = a[3] + b[3] + (t2 >> _U_LIMB_BITS)
    t4 = a[4] + b[4] + (t3 >> _U_LIMB_BITS)
    return t0 & _U_LIMB_MASK, t1 & _U_LIMB_MASK, t2 & _U_LIMB_MASK, t3 & _U_LIMB_MASK, t4 & _U_LIMB_MASK


@njit(cache=True, nogil=True, inline="always")
def _limbs_divmod(a, d):
    """(a // d, a % d) for 0 < d < 2^32: schoolbook from the top limb, each step (r·2^32 + limb) < 2^64."""
    q4, r = a[4] // d, a[4] % d
    t = (r << _U_LIMB_BITS) | a[3]
    q3, r = t // d, t % d
    t = (r << _U_LIMB_BITS) | a[2]
    q2, r = t // d, t % d
    t = (r << _U_LIMB_BITS) | a[1]
    q1, r = t // d, t % d
    t = (r << _U_LIMB_BITS) | a[0]
    q0, r = t // d, t % d
    return (q0, q1, q2, q3, q4), r


# Data charge -------------------------------------------------------------------------------------

_NO_END = np.int64(2**63 - 1)  # end of a product's last volume tier
# A volume slot's row in the volume state (64 bytes: one cache line per slot): its cumulative units,
# then what it remembers of the tier its volume lies in: the product (index + 1), the tier's end,
# price and capped price, and the product's unit column as three masks (all ones on the column).
_SLOT_FIELDS = 8
_DATA_SCRATCH_COLUMNS = 4
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
# 3. The milli-fen into the outputs (a line keeps its sub-fen amount).
@njit(cache=True, nogil=True, inline="always")
def _charge_data_chunk(product_index, free, rows, calls, queries, volume_slot, lookup, volume, scratch, charge, reduction):
    """Charge and cap reduction in milli-fen of one chunk of records into `charge` and `reduction`, moving
    `volume` (from _data_volume_state) on; equal to data.data_charge_twin.

    `scratch`: four int64 working columns at least as long as the chunk (slot row, product, milli-fen
    charged, milli-fen taken off by the cap)."""
    k = charge.shape[0]
    slot_row, product, charged, capped_off = scratch[0][:k], scratch[1][:k], scratch[2][:k], scratch[3][:k]
    _slots(product_index, free.view(np.uint8), volume_slot, volume.shape[0] // _SLOT_FIELDS - 1, slot_row, product)
    _price_in_order(rows, calls, queries, slot_row, product, lookup, volume, charged, capped_off)
    _round_lines(charged, capped_off, charge, reduction)


@njit(cache=True, nogil=True)
def _data_volume_state(units_before):
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
def _units_after(state):
    """Cumulative units per volume slot (the scratch slot left out) of a volume state."""
    n_slots = state.shape[0] // _SLOT_FIELDS - 1
    units = np.empty(n_slots, dtype=np.int64)
    for v in range(n_slots):
        units[v] = state[v * _SLOT_FIELDS + _CUMULATIVE]
    return units


@njit(cache=True, nogil=True)
def _data_lookup_tables(unit_kind, tier_offsets, tier_from_units, tier_price_millifen, guided_cap_millifen):
    """What _charge_data_chunk reads per product and tier, built once per rate table."""
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
        charge[i] = charged[i]  # milli-fen: the line keeps its exact amount; fen are made where a bill is
        reduction[i] = capped_off[i]


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


# Rounding at the line ----------------------------------------------------------------------------

MAX_ROUNDED_MILLIFEN = 2**60  # where the float estimate below is proven within one of the floor
_ONE = np.int64(1)
_MILLIFEN_PER_FEN = np.int64(1000)
_HALF_FEN = np.int64(500)


@njit(cache=True, nogil=True, inline="always")
def round_half_even_millifen(millifen):
    """Round milli-fen (0 <= millifen < 2^60, int64) to fen, half to even, exactly.

    SIMD lanes have no 64-bit integer division, so the quotient is estimated in float64 (three
    roundings of relative error 2^-53 on a value below 2^50: within 0.4 of the exact quotient),
    then corrected by the exact integer remainder. Selections are arithmetic, not branches: a
    loop of these runs eight lines at a time, and whether a line rounds up is data."""
    q = np.int64(float(millifen) * 0.001)
    r = millifen - q * _MILLIFEN_PER_FEN
    q = q - np.int64(r < 0) + np.int64(r >= _MILLIFEN_PER_FEN)
    r = millifen - q * _MILLIFEN_PER_FEN
    return q + np.int64((r > _HALF_FEN) | ((r == _HALF_FEN) & ((q & _ONE) == _ONE)))
