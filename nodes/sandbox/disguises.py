"""Disguised forms of input values the leak check also recognises: defence in depth behind the contract. Pure.

Text (identifiers, codes, numbers as text): inside a longer text, reversed, hex- and
base64-encoded (of the text, or of an integer's 8 bytes, or an integer written in base 16),
and split in two: side by side in one row, or across two neighbouring rows of a column. Every candidate is hashed
in its canonical forms (profile.canonical_forms) and looked up in the profile's leak
hashes; decoding is numpy over the Arrow buffers, one pass per column, no per-row Python.

Numbers shifted or scaled by a constant across a column are in windows.py.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shuniu.nodes.sandbox.siphash import TAG_INTEGER, hash_strings, hash_words

_HEX_TEXT = r"^([0-9a-f]{2})+$"
_HEX_NUMBER = r"^[0-9a-f]{9,16}$"  # 2^36 and up: identity and phone numbers, not amounts (any short hex is one)
_BASE64 = r"^[A-Za-z0-9+/_-]{2,}={0,2}$"
_SEPARATORS = r"[^A-Za-z0-9+/_-]+"  # "=" too: base64 is decoded without its padding
_HEX_DIGITS = np.full(256, 0, dtype=np.uint8)
_HEX_DIGITS[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16, dtype=np.uint8)
_SEXTETS = np.full(256, 0, dtype=np.uint8)
_SEXTETS[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", np.uint8)] = np.arange(64)
_SEXTETS[ord("-")], _SEXTETS[ord("_")] = 62, 63  # the URL-safe alphabet
_POWERS = np.array([10**k for k in range(19)], dtype=np.int64)
# Ordered column pairs tried for a split are bounded by cells hashed; past it, neighbours only.
SPLIT_PAIR_CELLS = 2_000_000
EMBED_MIN_DIGITS = 8  # a number this long inside text is looked for as it is
DERIVED_MIN_DIGITS = 11  # a number made by joining, reversing or decoding: identity and phone numbers
MAX_EMBED_LENGTHS = 32
# Text bytes × lengths looked for, beyond which an output is too large to check (egress denies it).
EMBED_BUDGET_BYTES = 64_000_000
_WINDOWS_PER_PASS = 1 << 18


def _hashes(array: pa.Array, key: bytes) -> list[np.ndarray]:
    """Hashes of a derived text's canonical forms: as text always, as a number only when long.

    A number made by joining, reversing or decoding pieces is any number: checked against a
    dense column of amounts it would refuse ordinary answers (two counts joined make a nine-digit
    amount). Long ones (an identity or phone number, DERIVED_MIN_DIGITS digits and more) are
    what a disguise of an identifier carries; amounts are left to the windows and the raw check.
    """
    from shuniu.nodes.sandbox.profile import canonical_forms  # profile imports this module (leak_lengths)

    forms = canonical_forms(array, key)
    text = pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
    return [form.hashes[form.valid & ((i == 0 and text) | (form.chars >= DERIVED_MIN_DIGITS))] for i, form in enumerate(forms)]


def _buffers(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets relative to the first value, bytes) of a string array with no nulls."""
    strings = strings.cast(pa.large_string())
    _, offsets, data = strings.buffers()
    offsets = np.frombuffer(offsets, dtype=np.int64)[strings.offset : strings.offset + len(strings) + 1]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    return offsets - offsets[0], data[offsets[0] : offsets[-1]]


def _decoded_hashes(offsets: np.ndarray, data: np.ndarray, key: bytes) -> list[np.ndarray]:
    """Hashes of decoded bytes: as text (ASCII lower-cased, as the profile's canonical text), and as a 64-bit integer."""
    lower = np.where((data >= 65) & (data <= 90), data + 32, data).astype(np.uint8)
    n = len(offsets) - 1
    text = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets.astype(np.int64)), pa.py_buffer(lower))
    found = [hash_strings(text, key)]  # exact bytes: also any UTF-8 text (a name), which has no case
    lengths = np.diff(offsets)
    bad = np.concatenate(([0], np.cumsum((data < 32) | (data > 126))))
    printable = bad[offsets[1:]] == bad[offsets[:-1]]
    if printable.any():  # ASCII text may be a number: hash its numeric forms too
        found += _hashes(pc.filter(text, pa.array(printable)).cast(pa.string()), key)
    words = lengths == 8
    if words.any():
        starts = offsets[:-1][words]
        block = data[starts[:, None] + np.arange(8)].copy()  # the integer's own bytes, not lower-cased
        for order in ("<i8", ">i8"):
            found.append(hash_words(block.view(order).reshape(-1).astype(np.int64), TAG_INTEGER, key))
    return found


def _hex_hashes(canonical: pa.Array, key: bytes) -> list[np.ndarray]:
    text = pc.replace_substring_regex(canonical, "^0x", "")
    found = []
    pairs = pc.filter(text, pc.match_substring_regex(text, _HEX_TEXT))
    if len(pairs):
        offsets, data = _buffers(pairs)
        decoded = (_HEX_DIGITS[data[0::2]] << 4) | _HEX_DIGITS[data[1::2]]
        found += _decoded_hashes(offsets // 2, decoded.astype(np.uint8), key)
    # A number in base 16: only text with a letter or an 0x, so "2024" stays a year.
    number = pc.and_(pc.match_substring_regex(text, _HEX_NUMBER),
                     pc.or_(pc.match_substring_regex(text, "[a-f]"), pc.starts_with(canonical, "0x")))
    digits = pc.filter(text, number)
    if len(digits):
        offsets, data = _buffers(digits)
        lengths = np.diff(offsets)
        padded = np.zeros((len(digits), 16), dtype=np.uint64)
        rows = np.repeat(np.arange(len(digits)), lengths)
        columns = np.arange(len(data)) - offsets[:-1][rows] + (16 - lengths)[rows]
        padded[rows, columns] = _HEX_DIGITS[data]
        values = (padded << (np.uint64(4) * np.arange(15, -1, -1, dtype=np.uint64))).sum(axis=1, dtype=np.uint64)
        found.append(hash_words(values.view(np.int64), TAG_INTEGER, key))
    return found


def _base64_hashes(trimmed: pa.Array, key: bytes) -> list[np.ndarray]:
    text = pc.filter(trimmed, pc.match_substring_regex(trimmed, _BASE64))
    text = pc.replace_substring_regex(text, "=+$", "")
    if not len(text):
        return []
    offsets, data = _buffers(text)
    lengths = np.diff(offsets)
    padded_lengths = (lengths + 3) // 4 * 4
    padded_starts = np.concatenate(([0], np.cumsum(padded_lengths)[:-1])).astype(np.int64)
    sextets = np.zeros(int(padded_lengths.sum()), dtype=np.uint16)
    rows = np.repeat(np.arange(len(text)), lengths)
    sextets[padded_starts[rows] + np.arange(len(data)) - offsets[:-1][rows]] = _SEXTETS[data]
    quads = sextets.reshape(-1, 4)
    triples = np.empty((len(quads), 3), dtype=np.uint16)
    triples[:, 0] = (quads[:, 0] << 2) | (quads[:, 1] >> 4)
    triples[:, 1] = ((quads[:, 1] & 15) << 4) | (quads[:, 2] >> 2)
    triples[:, 2] = ((quads[:, 2] & 3) << 6) | quads[:, 3]
    decoded = (triples.reshape(-1) & 0xFF).astype(np.uint8)
    out_lengths = lengths * 3 // 4
    out_offsets = np.concatenate(([0], np.cumsum(out_lengths))).astype(np.int64)
    gather = np.repeat(padded_starts * 3 // 4 - out_offsets[:-1], out_lengths) + np.arange(out_offsets[-1])
    return _decoded_hashes(out_offsets, decoded[gather], key)


def leak_lengths(column: pa.Array | pa.ChunkedArray, min_leak_chars: int) -> np.ndarray:
    """Byte lengths of an input column's canonical text that embedded_hashes looks for inside output text.

    Text of min_leak_chars or more characters; integers of EMBED_MIN_DIGITS digits or more
    (an identity or phone number inside a sentence), not amounts, whose digits any number has.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_integer(column.type):
        magnitudes = np.abs(column.drop_null().cast(pa.int64()).to_numpy(zero_copy_only=False)).astype(np.uint64)
        digits = np.maximum(np.searchsorted(_POWERS.astype(np.uint64), magnitudes, side="right"), 1)
        lengths = pa.array(digits[digits >= EMBED_MIN_DIGITS])
    elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        # Bytes as stored: trimming and lower-casing (what canonical text does) rarely change them,
        # and a length too many only costs a pass.
        lengths = pc.binary_length(column.drop_null())
        lengths = pc.filter(lengths, pc.greater_equal(lengths, min_leak_chars))
    else:
        return np.zeros(0, dtype=np.int64)
    values, counts = np.unique(lengths.to_numpy(zero_copy_only=False).astype(np.int64), return_counts=True)
    return np.sort(values[np.argsort(-counts, kind="stable")[:MAX_EMBED_LENGTHS]])  # free text: its commonest lengths


def embedded_hashes(column: pa.Array | pa.ChunkedArray, lengths: np.ndarray, key: bytes) -> list[np.ndarray]:
    """Hashes of every substring of each output text, of each length in `lengths`: a value inside a longer text.

    Each window is hashed as text and, when all digits, as an integer: str(table.to_pylist())
    in one cell holds every identifier of the table.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)) or not len(column):
        return []
    offsets, data = _buffers(pc.utf8_lower(pc.fill_null(column, "")))
    row_lengths = np.diff(offsets)
    found = []
    for length in (int(n) for n in lengths):
        counts = np.where(row_lengths > length, row_lengths - length + 1, 0)  # equal length: the raw check's
        ends = np.cumsum(counts)
        for first in range(0, int(ends[-1]), _WINDOWS_PER_PASS):
            index = np.arange(first, min(int(ends[-1]), first + _WINDOWS_PER_PASS))
            row = np.searchsorted(ends, index, side="right")
            starts = offsets[:-1][row] + index - (ends - counts)[row]
            windows = data[starts[:, None] + np.arange(length)]
            text = pa.LargeStringArray.from_buffers(len(index), pa.py_buffer(np.arange(0, len(index) * length + 1,
                                                                                  length, dtype=np.int64)),
                                                   pa.py_buffer(np.ascontiguousarray(windows).reshape(-1)))
            found.append(hash_strings(text, key))
            numeric = ((windows >= 48) & (windows <= 57)).all(axis=1)
            if EMBED_MIN_DIGITS <= length <= 18 and numeric.any():
                values = ((windows[numeric] - 48).astype(np.int64) * _POWERS[length - 1 :: -1][:length]).sum(axis=1)
                found.append(hash_words(values, TAG_INTEGER, key))
    return found


def _joined_integers(high: np.ndarray, low: np.ndarray, key: bytes) -> list[np.ndarray]:
    """high·10^k + low for every k that could hold low: an integer split in two, leading zeros of its low part lost.

    Only joins of DERIVED_MIN_DIGITS digits or more: two short numbers joined are any number.
    """
    found = []
    for k in range(1, 19):
        fits = (low >= 0) & (low < _POWERS[k]) & (np.abs(high) <= (np.iinfo(np.int64).max - _POWERS[k]) // _POWERS[k])
        joined = high[fits] * _POWERS[k] + np.where(high[fits] < 0, -low[fits], low[fits])
        joined = joined[np.abs(joined) >= _POWERS[DERIVED_MIN_DIGITS - 1]]
        if len(joined):
            found.append(hash_words(joined, TAG_INTEGER, key))
    return found


def _is_string(column: pa.Array) -> bool:
    return pa.types.is_string(column.type) or pa.types.is_large_string(column.type)


def _as_text(column: pa.Array) -> pa.Array | None:
    if pa.types.is_boolean(column.type):
        return None
    return pc.fill_null(column.cast(pa.string()), "")


def _integers(column: pa.Array) -> np.ndarray | None:
    if not pa.types.is_integer(column.type):
        return None
    return pc.fill_null(column.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)


def _joined_hashes(left: pa.Array, right: pa.Array, key: bytes, decode: bool) -> list[np.ndarray]:
    """Two pieces joined: as they are, and (`decode`: both were text) reversed or decoded, an encoding split in two."""
    joined = pc.binary_join_element_wise(left, right, "")
    return _hashes(joined, key) + (_decoded_token_hashes(pc.utf8_trim_whitespace(joined), key) if decode else [])


def _decoded_token_hashes(trimmed: pa.Array, key: bytes) -> list[np.ndarray]:
    canonical = pc.utf8_lower(trimmed)
    return _hashes(pc.utf8_reverse(canonical), key) + _hex_hashes(canonical, key) + _base64_hashes(trimmed, key)


def column_disguise_hashes(column: pa.Array, key: bytes) -> list[np.ndarray]:
    """Hashes of one column's values (and tokens) reversed, decoded from hex or base64, and each value joined to the next row's."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    text = _as_text(column)
    if text is None or not len(text):
        return []
    trimmed = pc.utf8_trim_whitespace(text)
    found = _decoded_token_hashes(trimmed, key)
    # An encoded value inside a sentence ("id=RUlEMDE=;"): each token between separators, decoded alike.
    tokens = pc.list_flatten(pc.split_pattern_regex(trimmed, _SEPARATORS))
    tokens = tokens.filter(pc.greater(pc.utf8_length(tokens), 0))
    if len(tokens) > len(trimmed):
        found += _decoded_token_hashes(tokens, key)
    if len(text) > 1:
        found += _joined_hashes(text[:-1], text[1:], key, _is_string(column))
        integers = _integers(column)
        if integers is not None:
            found += _joined_integers(integers[:-1], integers[1:], key)
    return found


def pair_disguise_hashes(table: pa.Table, key: bytes) -> list[np.ndarray]:
    """Hashes of every ordered pair of columns joined row by row (neighbours only past SPLIT_PAIR_CELLS)."""
    columns = [table.column(i).combine_chunks() for i in range(table.num_columns)]
    texts = [(i, _as_text(c)) for i, c in enumerate(columns)]
    texts = [(i, t) for i, t in texts if t is not None]
    pairs = [(a, b) for a in texts for b in texts if a[0] != b[0]]
    if len(pairs) * table.num_rows > SPLIT_PAIR_CELLS:
        pairs = [(texts[j], texts[j + 1]) for j in range(len(texts) - 1)]
        pairs += [(b, a) for a, b in pairs]
    found = []
    for (i, left), (j, right) in pairs:
        found += _joined_hashes(left, right, key, _is_string(columns[i]) and _is_string(columns[j]))
        high, low = _integers(columns[i]), _integers(columns[j])
        if high is not None and low is not None:
            found += _joined_integers(high, low, key)
    return found
