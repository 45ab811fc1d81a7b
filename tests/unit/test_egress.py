"""Egress policy rules, as pure functions over Arrow tables."""

from __future__ import annotations

import pyarrow as pa
import pytest

from shuniu.nodes.sandbox.egress import (
    ALLOWED,
    DENY_MISSING_GROUP_ROWS,
    DENY_RAW_VALUE,
    DENY_SENSITIVE_COLUMN,
    DENY_SMALL_GROUP,
    DENY_TOO_MANY_ROWS,
    GROUP_ROWS_COLUMN,
    EgressPolicy,
    add_laplace_noise,
    canonical_strings,
    check_egress,
    profile_input,
)

INPUT = pa.table({
    "patient_id": ["P-000123", "P-000456", "P-000789", "P-001000"],
    "id_number": [410102199001011234, 410102198502023456, 410102197003035678, 410102196004047890],
    "diagnosis": ["J45.909", "E11.9", "I10", "J45.909"],
    "city": ["Zhengzhou", "Luoyang", "Zhengzhou", "Kaifeng"],
    "age": [7, 42, 65, 33],
    "amount_fen": [120_00, 560_00, 89_00, 300_00],
})  # fmt: skip
PROFILE = profile_input(INPUT, sensitive_columns=["diagnosis", "id_number", "age"], identifier_columns=["patient_id"])


def _grouped(counts: list[int], **extra) -> pa.Table:
    columns = {"city": [f"c{i}" for i in range(len(counts))], "total": [10.0 * c for c in counts]}
    return pa.table({**columns, **extra, GROUP_ROWS_COLUMN: counts})


@pytest.mark.parametrize(
    ("output", "policy", "code"),
    [
        (_grouped([5, 9]), EgressPolicy(min_group_rows=5), ALLOWED),
        (_grouped([5, 4]), EgressPolicy(min_group_rows=5), DENY_SMALL_GROUP),
        (_grouped([1]), EgressPolicy(min_group_rows=2), DENY_SMALL_GROUP),
        (_grouped([5, 4]), EgressPolicy(min_group_rows=5, suppress_small_groups=True), ALLOWED),
        (pa.table({"total": [1.0]}), EgressPolicy(require_group_rows=True), DENY_MISSING_GROUP_ROWS),
        (pa.table({"n": list(range(11))}), EgressPolicy(max_rows=10), DENY_TOO_MANY_ROWS),
        (pa.table({"n": list(range(10))}), EgressPolicy(max_rows=10), ALLOWED),
        (pa.table({"diagnosis": ["x"]}), EgressPolicy(), DENY_SENSITIVE_COLUMN),
        (pa.table({"Patient_ID": ["x"]}), EgressPolicy(), DENY_SENSITIVE_COLUMN),
        (pa.table({"code": ["P-000456"]}), EgressPolicy(), DENY_RAW_VALUE),
        (pa.table({"code": [" P-000456 "]}), EgressPolicy(), DENY_RAW_VALUE),
        (pa.table({"v": [410102198502023456]}), EgressPolicy(), DENY_RAW_VALUE),
        (pa.table({"v": pa.array(["410102198502023456"])}), EgressPolicy(), DENY_RAW_VALUE),
        (pa.table({"v": pa.array([4101021985.0])}), EgressPolicy(), ALLOWED),
        (pa.table({"v": pa.array(["J45.909"]).dictionary_encode()}), EgressPolicy(), DENY_RAW_VALUE),
        (pa.table({"v": [7, 42]}), EgressPolicy(), ALLOWED),
        (pa.table({"holds": [True, False]}), EgressPolicy(), ALLOWED),
        (pa.table({"city": ["Zhengzhou"], "total_fen": [120_00]}), EgressPolicy(), ALLOWED),
    ],
    ids=[
        "groups-at-threshold-allowed",
        "group-below-threshold-denied",
        "group-of-one-denied",
        "small-group-suppressed-when-asked",
        "grouped-output-without-counts-denied",
        "rows-over-cap-denied",
        "rows-at-cap-allowed",
        "sensitive-column-name-denied",
        "identifier-column-name-any-case-denied",
        "identifier-value-renamed-denied",
        "identifier-value-padded-denied",
        "id-number-as-int-denied",
        "id-number-as-string-denied",
        "different-number-allowed",
        "dictionary-encoded-sensitive-value-denied",
        "short-common-values-are-not-leaks",
        "booleans-are-not-compared",
        "non-sensitive-input-values-allowed",
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
    assert verdict.table.column_names == ["city", "total"]
    assert verdict.table.column("city").to_pylist() == ["c0", "c2"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (pa.array([12345, None]), ["12345", None]),
        (pa.array([12345.0, 1.5]), ["12345", "1.5"]),
        (pa.array([" ab "]), ["ab"]),
        (pa.array([1e300]), ["1e+300"]),
    ],
    ids=["int", "integral-float-meets-int", "string-trimmed", "huge-float"],
)
def test_canonical_strings(values, expected):
    assert canonical_strings(values).to_pylist() == expected


def test_laplace_noise_is_seeded_and_scaled_by_epsilon():
    table = pa.table({"total": [1000.0] * 2000, "count": [50] * 2000})
    policy = EgressPolicy(dp_epsilon=0.5, dp_columns=("total", "count"), dp_sensitivity={"total": 10.0}, dp_seed=3)
    first, second = add_laplace_noise(table, policy), add_laplace_noise(table, policy)
    assert first.equals(second)
    noise_total = [v - 1000.0 for v in first.column("total").to_pylist()]
    noise_count = [v - 50.0 for v in first.column("count").to_pylist()]
    mean_abs = lambda xs: sum(abs(x) for x in xs) / len(xs)  # noqa: E731 — Laplace(b): E|X| = b
    assert mean_abs(noise_total) == pytest.approx(20.0, rel=0.15)
    assert mean_abs(noise_count) == pytest.approx(2.0, rel=0.15)


def test_no_noise_without_epsilon():
    table = pa.table({"total": [1.0, 2.0]})
    assert add_laplace_noise(table, EgressPolicy(dp_columns=("total",))).equals(table)


@pytest.mark.parametrize(
    "kwargs",
    [{"min_group_rows": 0}, {"max_rows": -1}, {"dp_epsilon": 0.0}, {"min_leak_chars": 0}],
    ids=["k-zero", "negative-row-cap", "epsilon-zero", "leak-chars-zero"],
)
def test_policy_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        EgressPolicy(**kwargs)
