"""What egress knows about a job's input: keyed hashes of its values, never the values.

Each value is hashed in its canonical forms, so that equal values meet whatever their
type: text is trimmed and lower-cased ("EID01" meets " eid01 "); numbers are hashed as
numbers, so 12345, 12345.0 and "0012345" meet; an integer also gets the form it takes
after a round trip through float64, so an 18-digit identifier cast to a float is still
recognised. Numbers and text are hashed in separate domains (see siphash.hash_words).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shuniu.nodes.sandbox.disguises import MAX_EMBED_LENGTHS, leak_lengths
from shuniu.nodes.sandbox.siphash import KEY_BYTES, TAG_FLOAT, TAG_INTEGER, hash_strings, hash_words
from shuniu.nodes.sandbox.windows import input_window_hashes

_INT64_LIMIT = 9.2e18
_DECIMAL_TEXT = r"^-?[0-9]+(\.[0-9]+)?$"
_POWERS_OF_TEN = np.array([10**i for i in range(19)], dtype=np.uint64)


@dataclasses.dataclass(frozen=True, eq=False)
class Form:
    """Keyed hashes of one canonical form of a column's values, aligned with its rows."""

    hashes: np.ndarray  # uint64
    valid: np.ndarray  # bool: the form applies to this row
    chars: np.ndarray  # int64: length of the value's canonical text (for fractions, a lower bound)


def _flat(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array


def _valid(array: pa.Array) -> np.ndarray:
    return array.is_valid().to_numpy(zero_copy_only=False)


def _integer_chars(values: np.ndarray) -> np.ndarray:
    magnitude = np.abs(values).astype(np.uint64)  # |int64 min| wraps to itself: still 19 digits
    digits = np.maximum(np.searchsorted(_POWERS_OF_TEN, magnitude, side="right"), 1)
    return digits.astype(np.int64) + (values < 0)


def _integer_forms(values: np.ndarray, valid: np.ndarray, key: bytes) -> list[Form]:
    forms = [Form(hash_words(values, TAG_INTEGER, key), valid, _integer_chars(values))]
    rounded = values.astype(np.float64)
    fits = np.abs(rounded) < _INT64_LIMIT
    rounded_int = np.where(fits, rounded, 0.0).astype(np.int64)
    differs = valid & fits & (rounded_int != values)
    if differs.any():  # past 2**53 a float64 holds a neighbour of the integer: that one leaks it too
        forms.append(Form(hash_words(rounded_int, TAG_INTEGER, key), differs, _integer_chars(rounded_int)))
    return forms


def _number_forms(floats: np.ndarray, valid: np.ndarray, key: bytes) -> list[Form]:
    finite = np.isfinite(floats)
    integral = valid & finite & (np.floor(floats) == floats) & (np.abs(floats) < _INT64_LIMIT)
    fractional = valid & ~integral
    forms = []
    if integral.any():
        as_int = np.where(integral, floats, 0.0).astype(np.int64)
        forms.append(Form(hash_words(as_int, TAG_INTEGER, key), integral, _integer_chars(as_int)))
    if fractional.any():
        whole = np.clip(np.where(finite, np.trunc(floats), 0.0), -_INT64_LIMIT, _INT64_LIMIT).astype(np.int64)
        forms.append(Form(hash_words(floats.view(np.int64), TAG_FLOAT, key), fractional, _integer_chars(whole) + 2))
    return forms


def _text_forms(strings: pa.Array, key: bytes) -> list[Form]:
    canonical = pc.utf8_lower(pc.utf8_trim_whitespace(strings))
    chars = pc.fill_null(pc.utf8_length(canonical), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    forms = [Form(hash_strings(canonical, key), _valid(canonical), chars)]
    numeric = pc.fill_null(pc.match_substring_regex(canonical, _DECIMAL_TEXT), False)
    if not pc.any(numeric).as_py():
        return forms  # the common case for names and codes: one regex pass, no number parsing
    integer_like = pc.and_(numeric, pc.invert(pc.fill_null(pc.match_substring(canonical, "."), False)))
    # 18 digits at most, whatever the sign: 19 may not fit int64, and the cast would raise
    integer_like = pc.and_(integer_like, pc.less_equal(pc.utf8_length(pc.utf8_ltrim(canonical, "-")), 18))
    if pc.any(integer_like).as_py():
        numbers = pc.cast(pc.if_else(integer_like, canonical, pa.scalar(None, pa.string())), pa.int64())
        values = pc.fill_null(numbers, 0).to_numpy(zero_copy_only=False)
        forms += _integer_forms(values, integer_like.to_numpy(zero_copy_only=False), key)
    decimal_like = pc.and_(numeric, pc.invert(integer_like))
    if pc.any(decimal_like).as_py():
        numbers = pc.cast(pc.if_else(decimal_like, canonical, pa.scalar(None, pa.string())), pa.float64())
        floats = pc.fill_null(numbers, 0.0).to_numpy(zero_copy_only=False)
        forms += _number_forms(floats, decimal_like.to_numpy(zero_copy_only=False), key)
    return forms


def canonical_forms(array: pa.Array | pa.ChunkedArray, key: bytes) -> list[Form]:
    """The keyed hashes of every canonical form of the values; [] for types never compared (booleans)."""
    array = _flat(array)
    kind = array.type
    if pa.types.is_boolean(kind) or pa.types.is_null(kind):
        return []  # one bit is what a verify answer is; it is not a raw value
    valid = _valid(array)
    if pa.types.is_integer(kind) and not (kind == pa.uint64() and (pc.max(array).as_py() or 0) >= 2**63):
        values = pc.fill_null(pc.cast(array, pa.int64()), 0).to_numpy(zero_copy_only=False)
        return _integer_forms(values, valid, key)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        floats = pc.fill_null(pc.cast(array, pa.float64(), safe=False), 0.0).to_numpy(zero_copy_only=False)
        return _number_forms(floats, valid, key)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _text_forms(array, key)
    try:
        return _text_forms(pc.cast(array, pa.string()), key)  # dates, times: their ISO text
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return []


def sorted_counts(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct hashes and how often each occurs, sorted as int64 (numpy sorts int64 ~2x faster than uint64).

    Sort-based: numpy 2.4's np.unique is ten times slower on a million hashes here.
    """
    ordered = np.sort(hashes.view(np.int64))
    if len(ordered) == 0:
        return ordered, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    return ordered[starts], np.diff(np.append(starts, len(ordered))).astype(np.int64)


def _weighted_counts(hashes: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Like sorted_counts, but each hash stands for `weights` rows (distinct values may share a form)."""
    order = np.argsort(hashes.view(np.int64), kind="stable")
    ordered, weights = hashes.view(np.int64)[order], weights[order]
    if len(ordered) == 0:
        return ordered, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    return ordered[starts], np.add.reduceat(weights, starts).astype(np.int64)


@dataclasses.dataclass(frozen=True, eq=False)
class KeyCounts:
    """Entities per distinct value of one input column, by hash: the most entities a group keyed by it can hold.

    An entity is a distinct value of the product's identifier column (one person, one meter);
    without one in the input, every row counts as its own entity.
    """

    hashes: np.ndarray  # the uint64 hash bits as int64, sorted, unique
    rows: np.ndarray  # int64, aligned with hashes: distinct entities (rows when no identifier was read)


@dataclasses.dataclass(frozen=True, eq=False)
class InputProfile:
    """What egress needs to know about the input, without the input itself."""

    sensitive_columns: frozenset[str]
    identifier_columns: frozenset[str]
    hash_key: bytes
    leak_hashes: np.ndarray  # hashes of sensitive and identifier values: uint64 bits as int64, sorted, unique
    key_counts: Mapping[str, KeyCounts]  # by lower-cased column name: non-float columns a group may be keyed by
    input_rows: int
    entity_column: str | None = None  # the identifier whose distinct values the counts count
    group_keys: tuple[str, ...] = ()  # an aggregate's group-by columns, for `group_counts`
    group_counts: KeyCounts | None = None  # entities per combination of `group_keys`, by combined hash
    # windows.py: hashes of the gaps between sorted sensitive numbers, to know them shifted or scaled
    window_hashes: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # disguises.py: byte lengths of leaky text, to find those values inside longer output text
    text_lengths: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def key_column(self, name: str) -> KeyCounts | None:
        return self.key_counts.get(name.lower())


def _entity_codes(table: pa.Table, entity_column: str | None) -> np.ndarray | None:
    """A small integer per row naming its entity (all nulls share one), or None without an entity column."""
    if entity_column is None or entity_column not in table.column_names:
        return None
    encoded = pc.dictionary_encode(_flat(table.column(entity_column)))
    nulls_as = len(encoded.dictionary)  # counting unknown entities as one is the cautious side of k
    return pc.fill_null(encoded.indices, nulls_as).to_numpy(zero_copy_only=False).astype(np.int64)


def _distinct_pairs(keys: np.ndarray, entities: np.ndarray) -> np.ndarray:
    """The key of each distinct (key, entity) pair, sorted by key: one per entity a key holds."""
    order = np.lexsort((entities, keys))
    keys, entities = keys[order], entities[order]
    first = np.concatenate(([True], (keys[1:] != keys[:-1]) | (entities[1:] != entities[:-1]))) if len(keys) else []
    return keys[first]


def _key_counts(column: pa.ChunkedArray, key: bytes, entities: np.ndarray | None) -> KeyCounts | None:
    """Entities per value, hashing each distinct value once: a key column has few values and many rows."""
    encoded = pc.dictionary_encode(_flat(column))
    forms = canonical_forms(encoded.dictionary, key)
    if not forms:
        return None
    indices = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    held = indices >= 0
    per_value = indices[held] if entities is None else _distinct_pairs(indices[held], entities[held])
    rows = np.bincount(per_value, minlength=len(encoded.dictionary)).astype(np.int64)
    present = forms[0].valid & (rows > 0)
    return KeyCounts(*_weighted_counts(forms[0].hashes[present], rows[present]))


def combined_hashes(table: pa.Table, columns: Sequence[str], key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """One keyed hash per row over the values of `columns` together, and whether every one was hashable.

    Each column's first canonical form is hashed again with the running hash, so that the
    combination depends on order and cannot be undone without the key.
    """
    combined = np.zeros(table.num_rows, dtype=np.uint64)
    valid = np.ones(table.num_rows, dtype=bool)
    for tag, name in enumerate(columns):
        forms = canonical_forms(table.column(name), key)
        if not forms:
            return combined, np.zeros(table.num_rows, dtype=bool)
        valid &= forms[0].valid
        combined = hash_words(combined ^ forms[0].hashes, tag & 0xFF, key)
    return combined, valid


def _group_counts(table: pa.Table, keys: Sequence[str], key: bytes, entities: np.ndarray | None) -> KeyCounts | None:
    """Entities per combination of the group-by columns (a multi-column group is narrower than any one column)."""
    if len(keys) < 2 or any(k not in table.column_names for k in keys):
        return None  # one column is counted in key_counts already
    combined, valid = combined_hashes(table, keys, key)
    if not valid.any():
        return None
    hashes = combined.view(np.int64)[valid]
    per_group = hashes if entities is None else _distinct_pairs(hashes, entities[valid])
    return KeyCounts(*sorted_counts(per_group))


def _is_key_like(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return not (pa.types.is_floating(kind) or pa.types.is_decimal(kind) or pa.types.is_null(kind))


def profile_input(
    table: pa.Table,
    sensitive_columns: Iterable[str],
    identifier_columns: Iterable[str],
    min_leak_chars: int = 4,
    key: bytes | None = None,
    *,
    entity_column: str | None = None,
    group_keys: Sequence[str] = (),
) -> InputProfile:
    """Hash the sensitive and identifier values long enough to matter, and count entities per key-like value.

    Entities are the distinct values of `entity_column`, by default the first identifier column
    in the input (the product's identifier): ten rows of two people are a group of two.
    `group_keys` (an aggregate's group-by) also counts entities per combination of those columns.
    """
    key = key if key is not None else os.urandom(KEY_BYTES)
    sensitive, identifiers = frozenset(sensitive_columns), frozenset(identifier_columns)
    if entity_column is None:
        entity_column = next((c for c in identifier_columns if c in table.column_names), None)
    entities = _entity_codes(table, entity_column)
    pieces = [np.empty(0, dtype=np.uint64)]
    windows = [np.empty(0, dtype=np.uint64)]
    lengths = [np.empty(0, dtype=np.int64)]
    key_counts = {}
    for name in table.column_names:
        key_like = _is_key_like(table.schema.field(name).type)
        if name not in sensitive and name not in identifiers:
            counts = _key_counts(table.column(name), key, entities) if key_like else None
            if counts is not None:
                key_counts[name.lower()] = counts
            continue
        forms = canonical_forms(table.column(name), key)
        pieces += [form.hashes[form.valid & (form.chars >= min_leak_chars)] for form in forms]
        windows.append(input_window_hashes(table.column(name), key, min_leak_chars))
        lengths.append(leak_lengths(table.column(name), min_leak_chars))
        if key_like and forms:
            # A leaky column's long values are refused by the leak check wherever they appear:
            # its group sizes matter only for the short ones (an age, a 3-character code).
            short = forms[0].valid & (forms[0].chars < min_leak_chars)
            hashes = forms[0].hashes.view(np.int64)[short]
            per_value = hashes if entities is None else _distinct_pairs(hashes, entities[short])
            key_counts[name.lower()] = KeyCounts(*sorted_counts(per_value))
    leak_hashes, _ = sorted_counts(np.concatenate(pieces))
    group_keys = tuple(group_keys)
    return InputProfile(sensitive, identifiers, key, leak_hashes, key_counts, table.num_rows,
                        entity_column if entities is not None else None, group_keys,
                        _group_counts(table, group_keys, key, entities),
                        window_hashes=sorted_counts(np.concatenate(windows))[0],
                        text_lengths=np.unique(np.concatenate(lengths))[-MAX_EMBED_LENGTHS:])


def group_entity_bounds(output: pa.Table, profile: InputProfile) -> np.ndarray | None:
    """For each output row keyed by all of the aggregate's group-by columns, the entities of its group.

    Rows whose combination the input does not hold get 0; None when the profile counted no combination.
    """
    counts = profile.group_counts
    if counts is None or any(k not in output.column_names for k in profile.group_keys):
        return None
    combined, valid = combined_hashes(output, profile.group_keys, profile.hash_key)
    hashes = combined.view(np.int64)
    if len(counts.hashes) == 0:
        return np.zeros(len(output), dtype=np.int64)
    index = np.minimum(np.searchsorted(counts.hashes, hashes), len(counts.hashes) - 1)
    found = counts.hashes[index] == hashes
    return np.where(found & valid, counts.rows[index], np.where(valid, 0, np.iinfo(np.int64).max))
