"""Egress policy: what a sandbox's output must satisfy before anyone sees it.

Pure functions over Arrow tables (数据可用不可见 — usable but not visible). Expected
refusals are values (`EgressVerdict` with a reason code), never exceptions. The checks
compare keyed hashes (see profile.py): neither the profile nor a verdict holds a raw value.

Order: the output contract first (contract.py: flat primitive columns, names fixed, rebuilt
without metadata), then group sizes, caps, and the leak checks over every column the
contract allows (raw values, their disguises in disguises.py and windows.py). A denial's
message is fixed text per rule and the policy's own numbers: never a value, a name or a
count the job could have chosen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shuniu.nodes.sandbox.contract import GROUP_ROWS_COLUMN, OUTPUT_COLUMNS, OUTPUT_TYPE, OutputContract, conform
from shuniu.nodes.sandbox.disguises import EMBED_BUDGET_BYTES, column_disguise_hashes, embedded_hashes, pair_disguise_hashes
from shuniu.nodes.sandbox.profile import InputProfile, KeyCounts, canonical_forms, group_entity_bounds
from shuniu.nodes.sandbox.windows import output_window_hashes

# Built-in kinds add GROUP_ROWS_COLUMN: rows of input behind each output row. It is checked
# against the minimum group size and stripped before release.

ALLOWED = "ALLOWED"
DENY_SMALL_GROUP = "SMALL_GROUP"
DENY_SENSITIVE_COLUMN = "SENSITIVE_COLUMN"
DENY_RAW_VALUE = "RAW_VALUE_LEAK"
DENY_TOO_MANY_ROWS = "TOO_MANY_ROWS"
DENY_TOO_LARGE = "TOO_LARGE"
DENY_MISSING_GROUP_ROWS = "MISSING_GROUP_ROWS"
DENY_NOT_BOOLEAN = "NOT_BOOLEAN"
DENY_OUTPUT_TYPE = OUTPUT_TYPE  # a column not of the contract's flat primitive types
DENY_OUTPUT_COLUMNS = OUTPUT_COLUMNS  # columns other than the contract names
DENY_DISGUISED_VALUE = "DISGUISED_VALUE_LEAK"  # reversed, re-encoded, split, shifted or scaled input values

_NO_BOUND = np.iinfo(np.int64).max


@dataclasses.dataclass(frozen=True)
class EgressPolicy:
    """Rules for one grant's outputs.

    min_group_rows: every output row must stand for at least this many input rows (k).
    min_leak_chars: input values shorter than this (e.g. an age of 7) are too common to count as a leak.
    dp_epsilon_milli: when set, the ε of one release in thousandths, split evenly over the
      `dp_columns` present; each gets Laplace noise of scale sensitivity / its share of ε.
    """

    min_group_rows: int = 5
    max_rows: int = 10_000
    max_bytes: int = 16 << 20
    require_group_rows: bool = False
    suppress_small_groups: bool = False
    booleans_only: bool = False
    min_leak_chars: int = 4
    dp_epsilon_milli: int | None = None
    dp_columns: tuple[str, ...] = ()
    dp_sensitivity: Mapping[str, float] = dataclasses.field(default_factory=dict)
    dp_seed: int | None = None

    def __post_init__(self) -> None:
        if self.min_group_rows < 1 or self.max_rows < 0 or self.max_bytes < 0 or self.min_leak_chars < 1:
            raise ValueError("min_group_rows and min_leak_chars must be >= 1, max_rows and max_bytes >= 0")
        if self.dp_epsilon_milli is not None and not (isinstance(self.dp_epsilon_milli, int) and self.dp_epsilon_milli > 0):
            raise ValueError(f"dp_epsilon_milli must be an integer > 0 (thousandths of ε), got {self.dp_epsilon_milli!r}")
        bad = {c: s for c, s in self.dp_sensitivity.items() if not s > 0}
        if bad:
            raise ValueError(f"dp_sensitivity must be > 0 for every column, got {bad}")


@dataclasses.dataclass(frozen=True)
class EgressVerdict:
    allowed: bool
    code: str
    message: str
    table: pa.Table | None = None  # the releasable table when allowed
    epsilon_spent_milli: int = 0  # thousandths of ε the release used, for the grant's DP budget

    @classmethod
    def deny(cls, code: str, message: str) -> EgressVerdict:
        return cls(False, code, message, None)


def _member(hashes: np.ndarray, sorted_set: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(found mask, index into sorted_set) for each hash; sorted_set as profile.sorted_counts makes it."""
    if len(sorted_set) == 0:
        return np.zeros(len(hashes), dtype=bool), np.zeros(len(hashes), dtype=np.int64)
    hashes = hashes.view(np.int64)
    index = np.minimum(np.searchsorted(sorted_set, hashes), len(sorted_set) - 1)
    return sorted_set[index] == hashes, index


def _apply_group_threshold(output: pa.Table, policy: EgressPolicy) -> pa.Table | EgressVerdict:
    if GROUP_ROWS_COLUMN not in output.column_names:
        if policy.require_group_rows:
            return EgressVerdict.deny(DENY_MISSING_GROUP_ROWS, f"grouped output lacks {GROUP_ROWS_COLUMN}")
        return output
    big_enough = pc.fill_null(pc.greater_equal(output.column(GROUP_ROWS_COLUMN), policy.min_group_rows), False)
    small = len(output) - (pc.sum(pc.cast(big_enough, pa.int64())).as_py() or 0)
    if small and not policy.suppress_small_groups:
        return EgressVerdict.deny(
            DENY_SMALL_GROUP, f"a group aggregates fewer than {policy.min_group_rows} input rows"
        )
    kept = output.filter(big_enough) if small else output
    return kept.drop_columns([GROUP_ROWS_COLUMN])


def _check_caps(output: pa.Table, policy: EgressPolicy) -> EgressVerdict | None:
    if len(output) > policy.max_rows:
        return EgressVerdict.deny(DENY_TOO_MANY_ROWS, f"the output has more rows than the cap of {policy.max_rows}")
    if output.nbytes > policy.max_bytes:
        return EgressVerdict.deny(DENY_TOO_LARGE, f"the output holds more bytes than the cap of {policy.max_bytes}")
    if policy.booleans_only:
        others = [f.name for f in output.schema if not pa.types.is_boolean(f.type)]
        if others:
            return EgressVerdict.deny(DENY_NOT_BOOLEAN, "only yes/no answers may leave; a column is not boolean")
    return None


def _check_columns(output: pa.Table, profile: InputProfile) -> EgressVerdict | None:
    forbidden = {n.lower() for n in profile.sensitive_columns | profile.identifier_columns}
    named = [n for n in output.column_names if n.lower() in forbidden]
    if named:
        return EgressVerdict.deny(DENY_SENSITIVE_COLUMN, "an output column is named as a sensitive or identifier column")
    return None


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _key_matches(name: str, column, profile: InputProfile) -> list[tuple[KeyCounts, np.ndarray, np.ndarray]]:
    """Input key columns this output column may be a group key of: same name, or (for text) all values found."""
    forms = canonical_forms(column, profile.hash_key)
    if not forms or len(column) == 0:
        return []
    hashes, valid = forms[0].hashes, forms[0].valid
    same_name = profile.key_column(name)
    candidates = [same_name] if same_name is not None else []
    if _is_text(column.type) and valid.any():
        for counts in profile.key_counts.values():
            if counts is not same_name and _member(hashes[valid], counts.hashes)[0].all():
                candidates.append(counts)
    return [(counts, hashes, valid) for counts in candidates]


def group_row_bounds(output: pa.Table, profile: InputProfile) -> np.ndarray:
    """For each output row, the most input rows that share its key values (int64 max where no key matched)."""
    bound = np.full(len(output), _NO_BOUND, dtype=np.int64)
    for name in output.column_names:
        for counts, hashes, valid in _key_matches(name, output.column(name), profile):
            found, index = _member(hashes, counts.hashes)
            bound = np.minimum(bound, np.where(found & valid, counts.rows[index], _NO_BOUND))
    grouped = group_entity_bounds(output, profile)  # an aggregate's key combination: narrower than any one key
    return bound if grouped is None else np.minimum(bound, grouped)


def _check_group_bounds(output: pa.Table, profile: InputProfile, policy: EgressPolicy) -> pa.Table | EgressVerdict:
    """Trusted k check: counted on the input, so output that lies about its group sizes is still caught."""
    small = group_row_bounds(output, profile) < policy.min_group_rows
    if not small.any():
        return output
    if policy.suppress_small_groups:
        return output.filter(pa.array(~small))
    return EgressVerdict.deny(
        DENY_SMALL_GROUP,
        f"an output row is keyed by values that fewer than {policy.min_group_rows} input entities hold",
    )


def _checked_columns(output: pa.Table, names_chosen: bool) -> list:
    """Every column the contract allows, and the names themselves when the job chose them."""
    columns = [output.column(i) for i in range(output.num_columns)]
    return columns + [pa.array(output.column_names, pa.string())] if names_chosen else columns


def _any_member(hashes: list[np.ndarray], sorted_set: np.ndarray) -> bool:
    """Whether any hash is in the set: one lookup of all of them, sorted (sorted needles keep the search in cache)."""
    present = [h for h in hashes if len(h)]
    if not len(sorted_set) or not present:
        return False
    needles = np.sort(np.concatenate(present).view(np.int64))
    needles = needles[np.concatenate(([True], needles[1:] != needles[:-1]))]  # answers repeat: look each up once
    return bool(_member(needles, sorted_set)[0].any())


def _check_raw_values(output: pa.Table, profile: InputProfile, names_chosen: bool = False) -> EgressVerdict | None:
    for column in _checked_columns(output, names_chosen):
        forms = canonical_forms(column, profile.hash_key)
        if _any_member([form.hashes[form.valid] for form in forms], profile.leak_hashes):
            # Which column, and how many cells, are the job's choice: saying either would carry data.
            return EgressVerdict.deny(DENY_RAW_VALUE, "an output value equals a value of a sensitive or identifier column")
    return None


def _check_disguised(output: pa.Table, profile: InputProfile, names_chosen: bool) -> EgressVerdict | None:
    """Defence in depth behind the contract: reversed, re-encoded, split, shifted and scaled input values."""
    key = profile.hash_key
    columns = _checked_columns(output, names_chosen)
    text_bytes = sum(c.nbytes for c in columns if pa.types.is_string(c.type))
    if text_bytes * len(profile.text_lengths) > EMBED_BUDGET_BYTES:
        return EgressVerdict.deny(DENY_TOO_LARGE, f"the output holds more text than the leak check reads "
                                  f"({EMBED_BUDGET_BYTES} bytes of windows)")
    for column in columns:
        if (_any_member(embedded_hashes(column, profile.text_lengths, key), profile.leak_hashes)
                or _any_member(column_disguise_hashes(column, key), profile.leak_hashes)
                or _any_member([output_window_hashes(column, key)], profile.window_hashes)):
            return EgressVerdict.deny(DENY_DISGUISED_VALUE, "an output column holds input sensitive or identifier "
                                      "values inside other text, reversed, re-encoded, split, shifted or scaled")
    if _any_member(pair_disguise_hashes(output, key), profile.leak_hashes):
        return EgressVerdict.deny(DENY_DISGUISED_VALUE, "two output columns joined hold input sensitive or identifier values")
    return None


def add_laplace_noise(table: pa.Table, policy: EgressPolicy) -> tuple[pa.Table, int]:
    """Add Laplace noise to the `dp_columns` present; returns the table and the ε spent in thousandths."""
    present = [name for name in policy.dp_columns if name in table.column_names]
    if policy.dp_epsilon_milli is None or not present:
        return table, 0
    column_epsilon = policy.dp_epsilon_milli / 1000.0 / len(present)  # sequential composition over columns
    rng = np.random.default_rng(policy.dp_seed)
    for name in present:
        column = table.column(name)
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            raise ValueError(f"dp column {name!r} is {column.type}; expected a numeric column")
        scale = policy.dp_sensitivity.get(name, 1.0) / column_epsilon
        values = column.to_numpy().astype(np.float64)
        nulls = column.is_null().to_numpy(zero_copy_only=False)
        noised = pa.array(values + rng.laplace(0.0, scale, size=len(values)), mask=nulls)
        table = table.set_column(table.column_names.index(name), name, noised)
    return table, policy.dp_epsilon_milli


def check_egress(
    output: pa.Table, profile: InputProfile, policy: EgressPolicy, contract: OutputContract | None = None
) -> EgressVerdict:
    """Run every egress rule; on success the verdict carries the table to release.

    `contract` None: the output's own names and types, still held to flat primitive columns.
    """
    conformed = conform(output, contract)
    if not isinstance(conformed, tuple):
        return EgressVerdict.deny(conformed.code, conformed.message)
    output, contract = conformed
    thresholded = _apply_group_threshold(output, policy)
    if isinstance(thresholded, EgressVerdict):
        return thresholded
    verdict = _check_caps(thresholded, policy) or _check_columns(thresholded, profile)
    if verdict is not None:
        return verdict
    verdict = (_check_raw_values(thresholded, profile, contract.derived)
               or _check_disguised(thresholded, profile, contract.derived))
    if verdict is not None:
        return verdict
    bounded = _check_group_bounds(thresholded, profile, policy)
    if isinstance(bounded, EgressVerdict):
        return bounded
    released, spent_milli = add_laplace_noise(bounded, policy)
    return EgressVerdict(True, ALLOWED, f"{len(released)} row(s) released", released, spent_milli)
