"""Sensitive numbers shifted or scaled by a constant across a column, recognised by their gaps. Pure.

y = x + c keeps the differences between neighbouring sorted values, y = c·x their ratios,
y = a·x + b the ratios of neighbouring differences. The profile keeps keyed hashes of
windows of two consecutive such invariants of each sensitive or identifier column that
holds numbers (quantised to six significant digits, so float rounding meets); the check
computes the same windows over each output column that holds numbers, sorted both ways (a
negative constant reverses the order), and looks them up. Nothing but hashes is kept.

An input window counts only if its two gaps carry at least 2 × min_leak_chars significant
digits (and, for a·x + b, its two ratios too): the gaps 1, 1 of a dense column, 100, 100 of
round amounts, or the equal gaps of a sequence, are what any count or price list has. Limits: three values adjacent in the input's sorted order must reach the
output (four for a·x + b); a sparse sample under a secret offset is not recognised.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shuniu.nodes.sandbox.siphash import hash_words

# Tags after a window's 8 bytes: never the last byte of UTF-8 text, nor the number tags 0xFE/0xFF.
TAG_SHIFT, TAG_SCALE, TAG_AFFINE = 0xFD, 0xFC, 0xFB
_DIGITS = 6
_NUMBER_TEXT = r"^-?[0-9]+(\.[0-9]+)?$"
_EXACT_SPAN = 2**62  # integer differences below this are exact in int64


def _numbers(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The distinct finite numbers of a column, sorted: int64 where all are integers, else float64."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = array.drop_null()
        digits = pc.ascii_is_decimal(text)  # a cheap first look: most text columns hold no number at all
        if not pc.any(digits).as_py() and not pc.any(pc.starts_with(text, "-")).as_py():
            return np.zeros(0)
        text = pc.utf8_trim_whitespace(text)
        text = text.filter(pc.match_substring_regex(text, _NUMBER_TEXT))
        if not len(text):
            return np.zeros(0)
        whole = pc.all(pc.invert(pc.match_substring(text, "."))).as_py() and pc.max(pc.utf8_length(text)).as_py() <= 18
        array = text.cast(pa.int64() if whole else pa.float64())
    elif not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)):
        return np.zeros(0)
    values = array.drop_null()
    if pa.types.is_integer(values.type) and not (values.type == pa.uint64() and len(values) and pc.max(values).as_py() >= 2**63):
        numbers = values.cast(pa.int64()).to_numpy(zero_copy_only=False)
    else:
        numbers = values.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        numbers = numbers[np.isfinite(numbers)]
    ordered = np.sort(numbers)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered


def _gaps(ordered: np.ndarray) -> np.ndarray:
    """Absolute differences of neighbours, exact for integers within a safe span."""
    if ordered.dtype == np.int64 and len(ordered) and int(ordered[-1]) - int(ordered[0]) < _EXACT_SPAN:
        return np.abs(np.diff(ordered)).astype(np.float64)
    return np.abs(np.diff(ordered.astype(np.float64)))


with np.errstate(over="ignore"):
    _POWERS_OF_TEN = 10.0 ** np.arange(-350, 350)  # a lookup is several times faster than np.power


def _quantised(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mantissa of six digits, decimal exponent) of positive finite values; 0, 0 for anything else."""
    ok = np.isfinite(values) & (values > 0)
    safe = np.where(ok, values, 1.0)
    exponent = np.clip(np.floor(np.log10(safe)).astype(np.int64), -340, 340)
    mantissa = np.rint(safe / _POWERS_OF_TEN[exponent - (_DIGITS - 1) + 350]).astype(np.int64)
    over = mantissa >= 10**_DIGITS  # 9.999996 rounds up to 10.00000
    mantissa = np.where(over, mantissa // 10, mantissa)
    exponent = exponent + over
    return np.where(ok, mantissa, 0), np.where(ok, np.clip(exponent, -511, 511), 0)


@functools.cache
def _significant_table() -> np.ndarray:
    """Significant digits of every mantissa below 10**6 (trailing zeros do not count): a lookup, built once."""
    mantissa = np.arange(10**_DIGITS, dtype=np.int64)
    digits = np.full(len(mantissa), _DIGITS, dtype=np.int8)
    for k in range(1, _DIGITS):
        digits -= ((mantissa % 10**k == 0) & (mantissa > 0)).astype(np.int8)
    return digits


def _significant(mantissa: np.ndarray) -> np.ndarray:
    """Significant digits of each six-digit mantissa."""
    return _significant_table()[mantissa].astype(np.int64)


def _words(mantissa: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """Each consecutive pair of quantised values packed in one 64-bit word (20 + 10 bits each)."""
    one = (mantissa << 10) | (exponent + 512)
    return (one[:-1] << 30) | one[1:]


def _invariants(ordered: np.ndarray, digits: bool) -> dict[int, tuple[tuple, np.ndarray | None]]:
    """For each tag: the quantised invariant sequence of sorted values, and (if asked) the significant
    digits of the gaps each of its values came from, counted once for the tags that share them."""
    gaps = _gaps(ordered)
    quantised_gaps = _quantised(gaps)
    gap_digits = _significant(quantised_gaps[0]) if digits else None
    out = {TAG_SHIFT: (quantised_gaps, gap_digits)}
    if len(ordered) and (ordered[0] > 0 or ordered[-1] < 0):  # one sign: magnitudes keep the order (or reverse it)
        ascending = ordered[0] > 0
        magnitudes = ordered if ascending else -ordered[::-1]
        magnitude_gaps = gaps if ascending else gaps[::-1]
        magnitude_digits = gap_digits if ascending or gap_digits is None else gap_digits[::-1]
    else:
        magnitudes = _numbers(pa.array(np.abs(ordered[ordered != 0])))
        magnitude_gaps = _gaps(magnitudes)
        magnitude_digits = _significant(_quantised(magnitude_gaps)[0]) if digits else None
    if len(magnitudes) > 1:
        out[TAG_SCALE] = (_quantised(magnitude_gaps / np.abs(magnitudes[:-1].astype(np.float64))), magnitude_digits)
    if len(gaps) > 1:
        out[TAG_AFFINE] = (_quantised(gaps[1:] / gaps[:-1]), None if gap_digits is None else gap_digits[1:])
    return out


def input_window_hashes(column: pa.Array | pa.ChunkedArray, key: bytes, min_leak_chars: int) -> np.ndarray:
    """Keyed hashes (uint64) of the distinctive windows of one input column's sorted numbers."""
    ordered = _numbers(column)
    if len(ordered) < 3:
        return np.zeros(0, dtype=np.uint64)
    found = []
    for tag, ((mantissa, exponent), digits) in _invariants(ordered, digits=True).items():
        if len(mantissa) < 2:
            continue
        informative = (digits[:-1] + digits[1:] >= 2 * min_leak_chars)[-(len(mantissa) - 1):]
        if tag == TAG_AFFINE:  # equal gaps (ratio 1) are any arithmetic progression: the ratios must say something too
            ratio_digits = _significant(mantissa)
            informative = informative & (ratio_digits[:-1] + ratio_digits[1:] >= 2 * min_leak_chars)
        valid = (mantissa[:-1] > 0) & (mantissa[1:] > 0) & informative
        found.append(hash_words(_words(mantissa, exponent)[valid], tag, key))
    return np.concatenate(found) if found else np.zeros(0, dtype=np.uint64)


def output_window_hashes(column: pa.Array | pa.ChunkedArray, key: bytes) -> np.ndarray:
    """Keyed hashes of every window of one output column's sorted numbers, in both orders."""
    ordered = _numbers(column)
    if len(ordered) < 3:
        return np.zeros(0, dtype=np.uint64)
    found = []
    for values in (ordered, ordered[::-1]):
        for tag, ((mantissa, exponent), _) in _invariants(values, digits=False).items():
            if len(mantissa) >= 2:
                found.append(hash_words(_words(mantissa, exponent), tag, key))
    return np.concatenate(found) if found else np.zeros(0, dtype=np.uint64)
