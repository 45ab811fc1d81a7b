"""Egress policy rules, as pure functions over Arrow tables: cases, then properties."""

from __future__ import annotations

import pickle

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shuniu.nodes.sandbox.egress import (
    ALLOWED,
    DENY_MISSING_GROUP_ROWS,
    DENY_NOT_BOOLEAN,
    DENY_OUTPUT_TYPE,
    DENY_RAW_VALUE,
    DENY_SENSITIVE_COLUMN,
    DENY_SMALL_GROUP,
    DENY_TOO_LARGE,
    DENY_TOO_MANY_ROWS,
    GROUP_ROWS_COLUMN,
    EgressPolicy,
    add_laplace_noise,
    check_egress,
    group_row_bounds,
)
from shuniu.nodes.sandbox.profile import canonical_forms, profile_input
from shuniu.nodes.sandbox.siphash import TAG_INTEGER, hash_strings, siphash24

INPUT = pa.table({
    "patient_id": ["P-000123", "P-000456", "P-000789", "P-001000"],
    "id_number": [410102199001011234, 410102198502023456, 410102197003035678, 410102196004047890],
    "diagnosis": ["J45.909", "E11.9", "I10", "J45.909"],
    "card_no": ["0012345678", "0087654321", "0011112222", "0033334444"],
    "city": ["Zhengzhou", "Luoyang", "Zhengzhou", "Kaifeng"],
    "age": [7, 42, 65, 33],
    "amount_fen": [120_00, 560_00, 89_00, 300_00],
})  # fmt: skip
PROFILE = profile_input(
    INPUT, sensitive_columns=["diagnosis", "id_number", "age", "card_no"], identifier_columns=["patient_id"]
)
OPEN = EgressPolicy(min_group_rows=1)


def _grouped(counts: list[int], **extra) -> pa.Table:
    columns = {"region": [f"c{i}" for i in range(len(counts))], "total": [10.5 * c for c in counts]}
    return pa.table({**columns, **extra, GROUP_ROWS_COLUMN: counts})


@pytest.mark.parametrize(
    ("output", "policy", "code"),
    [
        (_grouped([5, 9]), EgressPolicy(min_group_rows=5), ALLOWED),
        (_grouped([5, 4]), EgressPolicy(min_group_rows=5), DENY_SMALL_GROUP),
        (_grouped([1]), EgressPolicy(min_group_rows=2), DENY_SMALL_GROUP),
        (_grouped([5, 4]), EgressPolicy(min_group_rows=5, suppress_small_groups=True), ALLOWED),
        (pa.table({"total": [1.5]}), EgressPolicy(require_group_rows=True), DENY_MISSING_GROUP_ROWS),
        (pa.table({"n": list(range(11))}), EgressPolicy(max_rows=10), DENY_TOO_MANY_ROWS),
        (pa.table({"n": list(range(10))}), EgressPolicy(max_rows=10), ALLOWED),
        (pa.table({"blob": ["x" * 100] * 10}), EgressPolicy(max_bytes=500), DENY_TOO_LARGE),
        (pa.table({"holds": [True], "n": [3]}), EgressPolicy(booleans_only=True), DENY_NOT_BOOLEAN),
        (pa.table({"holds": [True, False]}), EgressPolicy(booleans_only=True), ALLOWED),
        (pa.table({"diagnosis": ["x"]}), EgressPolicy(), DENY_SENSITIVE_COLUMN),
        (pa.table({"Patient_ID": ["x"]}), EgressPolicy(), DENY_SENSITIVE_COLUMN),
        (pa.table({"code": ["P-000456"]}), EgressPolicy(), DENY_RAW_VALUE),
        (pa.table({"code": [" P-000456 "]}), EgressPolicy(), DENY_RAW_VALUE),
        (pa.table({"v": [410102198502023456]}), EgressPolicy(), DENY_RAW_VALUE),
        (pa.table({"v": pa.array(["410102198502023456"])}), EgressPolicy(), DENY_RAW_VALUE),
        (pa.table({"v": pa.array([410102198502023456.0])}), EgressPolicy(), DENY_RAW_VALUE),
        (pa.table({"v": pa.array([12345678.0])}), EgressPolicy(), DENY_RAW_VALUE),
        (pa.table({"v": pa.array(["12345678"])}), EgressPolicy(), DENY_RAW_VALUE),
        (pa.table({"v": pa.array([4101021985.0])}), EgressPolicy(), ALLOWED),
        (pa.table({"v": pa.array(["J45.909"]).dictionary_encode()}), EgressPolicy(), DENY_OUTPUT_TYPE),
        (pa.table({"v": [7, 42]}), EgressPolicy(), ALLOWED),
        (pa.table({"holds": [True, False]}), EgressPolicy(), ALLOWED),
        (pa.table({"town": ["Zhengzhou"], "total_fen": [120_00]}), EgressPolicy(min_group_rows=2), ALLOWED),
        (pa.table({"town": ["Luoyang"], "total_fen": [560_00]}), EgressPolicy(min_group_rows=2), DENY_SMALL_GROUP),
        (pa.table({"city": ["Kaifeng"], "n": [99]}), EgressPolicy(min_group_rows=2), DENY_SMALL_GROUP),
        (pa.table({"city": ["Anyang"], "n": [99]}), EgressPolicy(min_group_rows=2), ALLOWED),
    ],
    ids=[
        "groups-at-threshold-allowed",
        "group-below-threshold-denied",
        "group-of-one-denied",
        "small-group-suppressed-when-asked",
        "grouped-output-without-counts-denied",
        "rows-over-cap-denied",
        "rows-at-cap-allowed",
        "bytes-over-cap-denied",
        "verify-answer-with-a-number-denied",
        "verify-booleans-allowed",
        "sensitive-column-name-denied",
        "identifier-column-name-any-case-denied",
        "identifier-value-renamed-denied",
        "identifier-value-padded-denied",
        "id-number-as-int-denied",
        "id-number-as-string-denied",
        "id-number-cast-to-float-denied",
        "card-number-with-leading-zeros-as-float-denied",
        "card-number-without-leading-zeros-denied",
        "different-number-allowed",
        "dictionary-encoded-column-denied-by-its-type",
        "short-common-values-are-not-leaks",
        "booleans-are-not-compared",
        "renamed-key-of-a-big-group-allowed",
        "renamed-key-of-a-group-of-one-denied",
        "key-of-a-group-of-one-despite-its-claimed-count-denied",
        "key-value-absent-from-input-allowed",
    ],
)
def test_check_egress(output, policy, code):
    verdict = check_egress(output, PROFILE, policy)
    assert verdict.code == code, verdict.message
    assert verdict.allowed == (code == ALLOWED)
    assert (verdict.table is not None) == verdict.allowed


def test_identifier_cast_to_float_is_a_leak():
    profile = profile_input(pa.table({"uid": [12345678, 87654321]}), [], ["uid"])
    verdict = check_egress(pa.table({"score": [87654321.0, 0.5]}), profile, EgressPolicy())
    assert verdict.code == DENY_RAW_VALUE


def test_leak_message_does_not_repeat_the_value():
    verdict = check_egress(pa.table({"code": ["P-000456"]}), PROFILE, EgressPolicy())
    assert "P-000456" not in verdict.message


def test_group_rows_column_is_stripped_and_small_groups_dropped():
    verdict = check_egress(_grouped([5, 4, 8]), PROFILE, EgressPolicy(min_group_rows=5, suppress_small_groups=True))
    assert verdict.table.column_names == ["region", "total"]
    assert verdict.table.column("region").to_pylist() == ["c0", "c2"]


def test_trusted_bound_counts_input_rows_per_key():
    bounds = group_row_bounds(pa.table({"city": ["Zhengzhou", "Kaifeng", "Anyang", None]}), PROFILE)
    assert bounds[:2].tolist() == [2, 1]
    assert bounds[2] == bounds[3] == np.iinfo(np.int64).max


KEY = bytes(range(16))


@pytest.mark.parametrize(
    ("left", "right", "meet"),
    [
        (pa.array([12345]), pa.array([12345.0]), True),
        (pa.array([12345]), pa.array(["12345"]), True),
        (pa.array(["0012345"]), pa.array([12345]), True),
        (pa.array([" EID01 "]), pa.array(["eid01"]), True),
        (pa.array(["5234.50"]), pa.array([5234.5]), True),
        (pa.array([410102198502023456]), pa.array([410102198502023456.0]), True),
        (pa.array([12345]), pa.array([12345.5]), False),
        (pa.array(["abc"]), pa.array(["abd"]), False),
        (pa.array([True]), pa.array([True]), False),
    ],
    ids=["int-meets-integral-float", "int-meets-text", "leading-zeros-meet-int", "text-trimmed-and-lowered",
         "decimal-text-meets-float", "18-digit-int-meets-its-float64", "fraction-differs", "text-differs",
         "booleans-never-compared"],
)  # fmt: skip
def test_canonical_forms(left, right, meet):
    left_hashes = {int(h) for f in canonical_forms(left, KEY) for h in f.hashes[f.valid]}
    right_hashes = {int(h) for f in canonical_forms(right, KEY) for h in f.hashes[f.valid]}
    assert bool(left_hashes & right_hashes) == meet


def test_numbers_are_hashed_as_tagged_words():
    (form,) = canonical_forms(pa.array([12345, None]), KEY)
    assert form.valid.tolist() == [True, False] and form.chars[0] == 5
    assert int(form.hashes[0]) == siphash24(KEY, (12345).to_bytes(8, "little", signed=True) + bytes([TAG_INTEGER]))


def test_laplace_noise_is_seeded_scaled_and_charged():
    table = pa.table({"total": [1000.0] * 4000, "count": [50] * 4000})
    policy = EgressPolicy(dp_epsilon_milli=1000, dp_columns=("total", "count"), dp_sensitivity={"total": 10.0}, dp_seed=3)
    (first, spent), (second, _) = add_laplace_noise(table, policy), add_laplace_noise(table, policy)
    assert first.equals(second) and spent == 1000
    mean_abs = lambda xs: float(np.mean(np.abs(xs)))  # noqa: E731 — Laplace(b): E|X| = b
    # ε = 1 split over two columns: each gets ε = 0.5, so b = sensitivity / 0.5.
    assert mean_abs(first.column("total").to_numpy() - 1000.0) == pytest.approx(20.0, rel=0.1)
    assert mean_abs(first.column("count").to_numpy() - 50.0) == pytest.approx(2.0, rel=0.1)


def test_released_output_reports_the_epsilon_it_spent():
    policy = EgressPolicy(min_group_rows=5, dp_epsilon_milli=250, dp_columns=("total",), dp_seed=1)
    verdict = check_egress(_grouped([5, 9]), PROFILE, policy)
    assert verdict.allowed and verdict.epsilon_spent_milli == 250
    assert check_egress(_grouped([1]), PROFILE, policy).epsilon_spent_milli == 0  # nothing released, nothing spent


def test_no_noise_without_epsilon():
    table = pa.table({"total": [1.0, 2.0]})
    noised, spent = add_laplace_noise(table, EgressPolicy(dp_columns=("total",)))
    assert noised.equals(table) and spent == 0


@pytest.mark.parametrize(
    "kwargs",
    [{"min_group_rows": 0}, {"max_rows": -1}, {"max_bytes": -1}, {"dp_epsilon_milli": 0},
     {"dp_epsilon_milli": 0.5}, {"min_leak_chars": 0}, {"dp_sensitivity": {"x": 0.0}}],
    ids=["k-zero", "negative-row-cap", "negative-byte-cap", "epsilon-zero", "epsilon-not-integer",
         "leak-chars-zero", "sensitivity-zero"],
)  # fmt: skip
def test_policy_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        EgressPolicy(**kwargs)


# ---- properties ---------------------------------------------------------------------------

_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
identifiers = st.integers(min_value=10**7, max_value=10**18 - 1)


@_SETTINGS
@given(st.binary(max_size=40), st.binary(min_size=16, max_size=16))
def test_siphash_kernel_equals_its_twin(data, key):
    strings = pa.array([data.decode("latin-1")])  # every byte value, as UTF-8 text
    encoded = strings[0].as_py().encode()
    assert int(hash_strings(strings, key)[0]) == siphash24(key, encoded)


def test_siphash_twin_matches_the_reference_vectors():
    key = bytes(range(16))
    assert siphash24(key, b"") == 0x726FDB47DD0E0E31
    assert siphash24(key, bytes(range(15))) == 0xA129CA6149BE45E5


@_SETTINGS
@given(st.lists(identifiers, min_size=1, max_size=30, unique=True), st.data())
def test_an_identifier_in_any_numeric_or_text_form_is_caught(ids, data):
    profile = profile_input(pa.table({"uid": ids}), [], ["uid"])
    leaked = data.draw(st.sampled_from(ids))
    form = data.draw(st.sampled_from(["int", "float", "text", "padded-text", "float-text"]))
    value = {
        "int": pa.array([leaked]),
        "float": pa.array([float(leaked)]),
        "text": pa.array([str(leaked)]),
        "padded-text": pa.array([f"  {leaked} "]),
        "float-text": pa.array([f"{leaked}.0"]),
    }[form]
    verdict = check_egress(pa.table({"renamed": value, "noise": [0.25]}), profile, OPEN)
    assert verdict.code == DENY_RAW_VALUE


@_SETTINGS
@given(st.lists(identifiers, min_size=1, max_size=30, unique=True), st.lists(st.floats(0.01, 0.99), min_size=1, max_size=30))
def test_values_absent_from_the_input_are_released(ids, fractions):
    profile = profile_input(pa.table({"uid": ids}), [], ["uid"])
    verdict = check_egress(pa.table({"score": fractions}), profile, OPEN)
    assert verdict.allowed


@_SETTINGS
@given(st.lists(st.text(alphabet="ABCDEFGHJK0123456789-", min_size=8, max_size=20), min_size=1, max_size=20, unique=True))
def test_the_profile_holds_no_raw_value(ids):
    profile = profile_input(pa.table({"uid": ids}), [], ["uid"])
    stored = pickle.dumps(profile)
    assert not any(value.encode() in stored for value in ids)


@_SETTINGS
@given(st.lists(st.integers(0, 50), min_size=1, max_size=40), st.integers(1, 20), st.booleans())
def test_group_threshold(counts, k, suppress):
    verdict = check_egress(_grouped(counts), PROFILE, EgressPolicy(min_group_rows=k, suppress_small_groups=suppress))
    big = [c for c in counts if c >= k]
    if suppress:
        assert verdict.allowed and verdict.table.num_rows == len(big)
    else:
        assert verdict.allowed == (len(big) == len(counts))


@_SETTINGS
@given(st.integers(0, 60), st.integers(0, 60))
def test_row_cap(rows, cap):
    verdict = check_egress(pa.table({"n": [0.5] * rows}), PROFILE, EgressPolicy(max_rows=cap, min_group_rows=1))
    assert verdict.allowed == (rows <= cap)


@_SETTINGS
@given(st.lists(st.sampled_from(["north", "south", "east", "west", "centre"]), min_size=1, max_size=60), st.integers(1, 12), st.data())
def test_output_keyed_by_a_rare_value_is_denied_whatever_it_claims(regions, k, data):
    profile = profile_input(pa.table({"region": regions, "kwh": [1.5] * len(regions)}), [], [])
    key = data.draw(st.sampled_from(sorted(set(regions))))
    claimed_rows = data.draw(st.integers(k, 10_000))  # custom code may claim any count
    output = pa.table({data.draw(st.sampled_from(["region", "renamed"])): [key], "total": [3.5], "n": [claimed_rows]})
    verdict = check_egress(output, profile, EgressPolicy(min_group_rows=k))
    assert verdict.allowed == (regions.count(key) >= k)


@_SETTINGS
@given(st.integers(1, 5000), st.lists(st.sampled_from(["a_sum", "b_mean", "c"]), max_size=3, unique=True))
def test_epsilon_spent_is_the_policy_epsilon_when_noise_was_added(epsilon_milli, dp_columns):
    output = _grouped([6, 7], a_sum=[1.0, 2.0], b_mean=[3.0, 4.0])
    policy = EgressPolicy(dp_epsilon_milli=epsilon_milli, dp_columns=tuple(dp_columns), dp_seed=0)
    verdict = check_egress(output, PROFILE, policy)
    noised = [c for c in dp_columns if c in output.column_names]
    assert verdict.epsilon_spent_milli == (epsilon_milli if noised else 0)
