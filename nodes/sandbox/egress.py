"""Egress policy: what a sandbox's output must satisfy before anyone sees it.

Pure functions over Arrow tables (数据可用不可见 — usable but not visible). Expected
refusals are values (`EgressVerdict` with a reason code), never exceptions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# The `aggregate` kind adds this column: rows of input behind each output row. It is
# checked against the minimum group size and stripped before release.
GROUP_ROWS_COLUMN = "__group_rows"

ALLOWED = "ALLOWED"
DENY_SMALL_GROUP = "SMALL_GROUP"
DENY_SENSITIVE_COLUMN = "SENSITIVE_COLUMN"
DENY_RAW_VALUE = "RAW_VALUE_LEAK"
DENY_TOO_MANY_ROWS = "TOO_MANY_ROWS"
DENY_MISSING_GROUP_ROWS = "MISSING_GROUP_ROWS"

_INT64_LIMIT = 9.2e18


@dataclasses.dataclass(frozen=True)
class EgressPolicy:
    """Rules for one grant's outputs.

    min_group_rows: every grouped output row must stand for at least this many input rows (k).
    min_leak_chars: input values shorter than this (e.g. an age of 7) are too common to count as a leak.
    dp_epsilon: when set, Laplace noise of scale sensitivity/epsilon is added to `dp_columns`.
    """

    min_group_rows: int = 5
    max_rows: int = 10_000
    require_group_rows: bool = False
    suppress_small_groups: bool = False
    min_leak_chars: int = 4
    dp_epsilon: float | None = None
    dp_columns: tuple[str, ...] = ()
    dp_sensitivity: Mapping[str, float] = dataclasses.field(default_factory=dict)
    dp_seed: int | None = None

    def __post_init__(self) -> None:
        if self.min_group_rows < 1 or self.max_rows < 0 or self.min_leak_chars < 1:
            raise ValueError("min_group_rows and min_leak_chars must be >= 1, max_rows >= 0")
        if self.dp_epsilon is not None and not self.dp_epsilon > 0:
            raise ValueError(f"dp_epsilon must be > 0, got {self.dp_epsilon!r}")


@dataclasses.dataclass(frozen=True)
class InputProfile:
    """What egress needs to know about the input, without the input itself."""

    sensitive_columns: frozenset[str]
    identifier_columns: frozenset[str]
    leak_values: pa.Array  # canonical strings of sensitive and identifier values, unique


@dataclasses.dataclass(frozen=True)
class EgressVerdict:
    allowed: bool
    code: str
    message: str
    table: pa.Table | None = None  # the releasable table when allowed

    @classmethod
    def deny(cls, code: str, message: str) -> EgressVerdict:
        return cls(False, code, message, None)


def canonical_strings(array: pa.Array | pa.ChunkedArray) -> pa.Array | None:
    """Values as strings such that 12345, 12345.0 and "12345" meet; None for types never compared."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    kind = array.type
    if pa.types.is_dictionary(kind):
        array, kind = array.dictionary_decode(), kind.value_type
    if pa.types.is_boolean(kind) or pa.types.is_null(kind):
        return None  # one bit is what a verify answer is; it is not a raw value
    if pa.types.is_integer(kind):
        return pc.cast(pc.cast(array, pa.int64()), pa.string())
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        floats = pc.cast(array, pa.float64())
        integral = pc.and_(pc.equal(pc.floor(floats), floats), pc.less(pc.abs(floats), _INT64_LIMIT))
        as_int = pc.cast(pc.cast(pc.if_else(integral, floats, 0.0), pa.int64()), pa.string())
        return pc.if_else(integral, as_int, pc.cast(floats, pa.string()))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pc.utf8_trim_whitespace(pc.cast(array, pa.string()))
    try:
        return pc.cast(array, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return None


def profile_input(
    table: pa.Table, sensitive_columns: Iterable[str], identifier_columns: Iterable[str], min_leak_chars: int = 4
) -> InputProfile:
    """Collect the distinct sensitive and identifier values of `table` that are long enough to matter."""
    sensitive, identifiers = frozenset(sensitive_columns), frozenset(identifier_columns)
    pieces = []
    for name in sorted((sensitive | identifiers) & set(table.column_names)):
        values = canonical_strings(table.column(name))
        if values is not None:
            values = values.filter(pc.greater_equal(pc.utf8_length(values), min_leak_chars))
            pieces.append(values.drop_null())
    leak = pc.unique(pa.concat_arrays(pieces)) if pieces else pa.array([], pa.string())
    return InputProfile(sensitive, identifiers, leak)


def _check_columns(output: pa.Table, profile: InputProfile) -> EgressVerdict | None:
    forbidden = {n.lower() for n in profile.sensitive_columns | profile.identifier_columns}
    named = [n for n in output.column_names if n.lower() in forbidden]
    if named:
        return EgressVerdict.deny(DENY_SENSITIVE_COLUMN, f"output has sensitive or identifier column(s) {named}")
    return None


def _check_raw_values(output: pa.Table, profile: InputProfile) -> EgressVerdict | None:
    if len(profile.leak_values) == 0:
        return None
    for name in output.column_names:
        values = canonical_strings(output.column(name))
        if values is None:
            continue
        hits = pc.sum(pc.cast(pc.is_in(values, value_set=profile.leak_values), pa.int64())).as_py() or 0
        if hits:
            # The message names the column and count only: repeating the value would leak it.
            return EgressVerdict.deny(
                DENY_RAW_VALUE, f"column {name!r} has {hits} cell(s) equal to input sensitive or identifier values"
            )
    return None


def _apply_group_threshold(output: pa.Table, policy: EgressPolicy) -> pa.Table | EgressVerdict:
    if GROUP_ROWS_COLUMN not in output.column_names:
        if policy.require_group_rows:
            return EgressVerdict.deny(DENY_MISSING_GROUP_ROWS, f"grouped output lacks {GROUP_ROWS_COLUMN}")
        return output
    big_enough = pc.greater_equal(output.column(GROUP_ROWS_COLUMN), policy.min_group_rows)
    small = len(output) - (pc.sum(pc.cast(big_enough, pa.int64())).as_py() or 0)
    if small and not policy.suppress_small_groups:
        return EgressVerdict.deny(
            DENY_SMALL_GROUP, f"{small} group(s) aggregate fewer than {policy.min_group_rows} input rows"
        )
    kept = output.filter(big_enough) if small else output
    return kept.drop_columns([GROUP_ROWS_COLUMN])


def add_laplace_noise(table: pa.Table, policy: EgressPolicy) -> pa.Table:
    """Add Laplace(sensitivity / epsilon) noise to each of `policy.dp_columns` (seeded when dp_seed is set)."""
    if policy.dp_epsilon is None or not policy.dp_columns:
        return table
    rng = np.random.default_rng(policy.dp_seed)
    for name in policy.dp_columns:
        if name not in table.column_names:
            continue
        column = table.column(name)
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            raise ValueError(f"dp column {name!r} is {column.type}; expected a numeric column")
        scale = policy.dp_sensitivity.get(name, 1.0) / policy.dp_epsilon
        values = column.to_numpy(zero_copy_only=False).astype(np.float64)
        noised = pa.array(values + rng.laplace(0.0, scale, size=len(values)), mask=column.is_null().to_numpy(zero_copy_only=False))
        table = table.set_column(table.column_names.index(name), name, noised)
    return table


def check_egress(output: pa.Table, profile: InputProfile, policy: EgressPolicy) -> EgressVerdict:
    """Run every egress rule; on success the verdict carries the table to release."""
    thresholded = _apply_group_threshold(output, policy)
    if isinstance(thresholded, EgressVerdict):
        return thresholded
    if len(thresholded) > policy.max_rows:
        return EgressVerdict.deny(DENY_TOO_MANY_ROWS, f"output has {len(thresholded)} rows; the cap is {policy.max_rows}")
    for check in (_check_columns, _check_raw_values):
        verdict = check(thresholded, profile)
        if verdict is not None:
            return verdict
    released = add_laplace_noise(thresholded, policy)
    return EgressVerdict(True, ALLOWED, f"{len(released)} row(s) released", released)
