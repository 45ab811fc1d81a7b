"""Budgets on every answer, the pure parts: verification policies, DP defaults, noise scales, clamping."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pyarrow as pa
import pytest
from test_catalog import SITES, good_spec

from shuniu.market.catalog import CatalogError
from shuniu.market.catalog.spec import check_spec
from shuniu.market.catalog.verification import (
    answer_refusal, claims_per_key, default_grant_budget_milli, key_digest, release_epsilon_milli,
)
from shuniu.nodes.answer_budget import clamp_to_bounds, sensitivity
from shuniu.nodes.run_plan import plan_run
from shuniu.nodes.sandbox.egress import GROUP_ROWS_COLUMN, check_egress
from shuniu.nodes.sandbox.profile import profile_input
from shuniu.protos.v1 import catalog_pb2, common_pb2, jobs_pb2, runs_pb2

S = jobs_pb2
SENSITIVE = common_pb2.CLASSIFICATION_GRADE_SENSITIVE


def claims_product(grade=SENSITIVE, policy=True) -> catalog_pb2.Product:
    spec = good_spec()
    spec.grade = grade
    spec.schema.add(name="diagnosis", arrow_type="string")
    spec.privacy.bounds.add(column="kwh", lower=0, upper=10_000)
    if policy:
        spec.verification.CopyFrom(catalog_pb2.VerificationPolicy(
            key_columns=["credit_code"], max_claims_per_key=8, period_s=86_400,
            rules=[catalog_pb2.VerificationRule(column="kwh", operators=["in_range"], min_range_width=1000),
                   catalog_pb2.VerificationRule(column="diagnosis", operators=["equals", "in_set"])]))
    return catalog_pb2.Product(product_id="p-power", spec=spec)


def claim(op, column="kwh", key="91410100MA00000001", **fields) -> S.Claim:
    return S.Claim(claim_id="c", key_column="credit_code", key_value=key, column=column, operator=op, **fields)


def verify(*claims) -> S.JobSpec:
    return S.JobSpec(kind=common_pb2.JOB_KIND_VERIFY, verify=S.VerifyArgs(claims=claims))


def aggregate(*aggs) -> S.JobSpec:
    return S.JobSpec(kind=common_pb2.JOB_KIND_AGGREGATE, aggregate=S.AggregateArgs(group_by=["month"], aggregations=aggs))


@pytest.mark.parametrize(
    ("job", "product", "reason"),
    [
        (verify(claim(S.CLAIM_OPERATOR_IN_RANGE, low="0", high="1000")), claims_product(), None),
        (verify(claim(S.CLAIM_OPERATOR_IN_RANGE, low="5000")), claims_product(), None),
        (verify(claim(S.CLAIM_OPERATOR_IN_RANGE, low="0", high="999")), claims_product(), "verify_policy:range_width"),
        (verify(claim(S.CLAIM_OPERATOR_IN_RANGE, low="a", high="z")), claims_product(), "verify_policy:range_width"),
        (verify(claim(S.CLAIM_OPERATOR_EQUALS, value="1234")), claims_product(), "verify_policy:operator"),
        (verify(claim(S.CLAIM_OPERATOR_EQUALS, column="month", value="2026-01")), claims_product(),
         "verify_policy:operator"),
        (verify(claim(S.CLAIM_OPERATOR_EQUALS, column="diagnosis", value="J45")), claims_product(), None),
        (verify(claim(S.CLAIM_OPERATOR_EXISTS, column="")), claims_product(), None),
        (verify(S.Claim(claim_id="c", key_column="kwh", key_value="1", operator=S.CLAIM_OPERATOR_EXISTS)),
         claims_product(), "verify_policy:key_column"),
        (verify(claim(S.CLAIM_OPERATOR_EQUALS, value="1234")), claims_product(policy=False), "verify_policy:no_policy"),
        (verify(claim(S.CLAIM_OPERATOR_EQUALS, value="1234")),
         claims_product(grade=common_pb2.CLASSIFICATION_GRADE_INTERNAL, policy=False), None),
        (aggregate(S.Aggregation(function=S.AGGREGATE_FUNCTION_SUM, column="kwh")), claims_product(), None),
        (aggregate(S.Aggregation(function=S.AGGREGATE_FUNCTION_COUNT)), claims_product(), None),
        (aggregate(S.Aggregation(function=S.AGGREGATE_FUNCTION_MEAN, column="month")), claims_product(), "dp_bounds"),
    ],
    ids=["range-wide-enough", "open-range", "range-too-narrow", "range-not-numeric", "equality-on-range-only-column",
         "column-without-rule", "equality-where-declared", "exists-on-key", "key-not-declared",
         "sensitive-without-policy", "internal-without-policy", "sum-of-bounded", "count-needs-no-bounds",
         "mean-of-unbounded"],
)
def test_a_job_is_refused_naming_the_rule_its_product_budget_sets(job, product, reason):
    refusal = answer_refusal(job, [product])
    assert (refusal[0] if refusal else None) == reason


def test_claims_about_one_key_count_together_however_the_key_is_spelt():
    spellings = ["91410100MA00000001", " 91410100ma00000001 ", "91410100MA00000001\t"]
    counts = claims_per_key([claim(S.CLAIM_OPERATOR_EXISTS, key=k) for k in spellings] +
                            [claim(S.CLAIM_OPERATOR_EXISTS, key="0012345"), claim(S.CLAIM_OPERATOR_EXISTS, key="12345")],
                            "p-power")
    assert sorted(counts.values()) == [2, 3]
    assert key_digest("p-power", "credit_code", "12345") != key_digest("p-other", "credit_code", "12345")


@pytest.mark.parametrize(
    ("grade", "kinds", "budget", "epsilon"),
    [
        (SENSITIVE, [common_pb2.JOB_KIND_AGGREGATE], 10_000, 1_000),
        (common_pb2.CLASSIFICATION_GRADE_CORE, [common_pb2.JOB_KIND_AGGREGATE], 10_000, 1_000),
        (SENSITIVE, [common_pb2.JOB_KIND_VERIFY], 0, 1_000),
        (common_pb2.CLASSIFICATION_GRADE_INTERNAL, [common_pb2.JOB_KIND_AGGREGATE], 0, 0),
    ],
    ids=["sensitive", "core", "verify-only-grant", "internal"],
)
def test_sensitive_and_core_aggregates_are_noisy_by_default_and_grants_get_a_budget(grade, kinds, budget, epsilon):
    product = claims_product(grade=grade)
    assert default_grant_budget_milli(kinds, [product]) == budget
    assert release_epsilon_milli(aggregate(S.Aggregation(function=S.AGGREGATE_FUNCTION_COUNT)), [product]) == epsilon
    product.spec.privacy.epsilon_per_release_milli, product.spec.privacy.grant_budget_milli = 250, 2_000
    assert default_grant_budget_milli(kinds, [product]) == (2_000 if budget else 0)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.privacy.bounds.add(column="kwh", lower=5, upper=5), "lower < upper"),
        (lambda s: s.privacy.bounds.add(column="nope", lower=0, upper=1), "unknown or bounded twice"),
        (lambda s: setattr(s.privacy, "epsilon_per_release_milli", 100_001), "at most 100000"),
        (lambda s: s.verification.CopyFrom(catalog_pb2.VerificationPolicy(key_columns=["credit_code"])),
         "max_claims_per_key is 0"),
        (lambda s: s.verification.CopyFrom(catalog_pb2.VerificationPolicy(max_claims_per_key=3)), "key_columns is empty"),
        (lambda s: s.verification.CopyFrom(catalog_pb2.VerificationPolicy(
            key_columns=["credit_code"], max_claims_per_key=3,
            rules=[catalog_pb2.VerificationRule(column="kwh", operators=["less_than"])])), "expected some of"),
    ],
    ids=["empty-bounds", "unknown-bounds-column", "epsilon-too-large", "no-claim-limit", "no-key-column",
         "unknown-operator"],
)
def test_a_malformed_budget_is_refused_at_registration(mutate, message):
    spec = good_spec()
    mutate(spec)
    with pytest.raises(CatalogError, match=message):
        check_spec(spec, SITES)


@pytest.mark.parametrize(
    ("function", "bounds", "k", "expected"),
    [("count", None, 5, 1.0), ("sum", (-300.0, 100.0), 5, 300.0), ("mean", (0.0, 100.0), 5, 25.0),
     ("p50", (0.0, 100.0), 5, 100.0)],
    ids=["count", "sum", "mean", "quantile"],
)
def test_noise_scales_with_what_one_record_can_move(function, bounds, k, expected):
    assert sensitivity(function, bounds, k) == expected


def test_values_are_clamped_to_declared_bounds_before_aggregating():
    table = pa.table({"kwh": pa.array([-5, 50, 20_000, None], pa.int64()), "x": [-1.5, 2.0, 1e9, 0.0]})
    clamped = clamp_to_bounds(table, {"kwh": (0, 10_000), "x": (-1.0, 1.0), "absent": (0, 1)})
    assert clamped.column("kwh").to_pylist() == [0, 50, 10_000, None]
    assert clamped.column("x").to_pylist() == [-1.0, 1.0, 1.0, 0.0]
    assert clamped.schema == table.schema


def _request(epsilon_milli: int) -> runs_pb2.NodeRunRequest:
    spec = S.JobSpec(kind=common_pb2.JOB_KIND_AGGREGATE, aggregate=S.AggregateArgs(aggregations=[
        S.Aggregation(function=S.AGGREGATE_FUNCTION_SUM, column="kwh", output_name="sum_kwh"),
        S.Aggregation(function=S.AGGREGATE_FUNCTION_COUNT, output_name="n")]))
    data = runs_pb2.RunInput(product_id="p", columns=["kwh"], bounds=[catalog_pb2.ColumnBounds(
        column="kwh", lower=0, upper=10_000)])
    return runs_pb2.NodeRunRequest(spec=spec, inputs=[data], dp_epsilon_milli=epsilon_milli)


def test_differencing_two_sums_that_differ_by_one_record_no_longer_gives_its_value():
    """Two sums over the same 40 records but one (worth 7,345) are released with the plan's default noise.

    Without noise their difference is the record, exactly. With ε = 1 split over the two released
    columns and the declared bounds [0, 10,000], each sum carries Laplace noise of scale
    b = 10,000 / 0.5 = 20,000, so the difference of two releases has standard deviation 2b = 40,000
    (two Laplace draws of variance 2b² each). Over 2,000 seeded pairs the difference lands within
    100 of the record's value in well under 1 % of pairs; the bound of 3 % fails if the noise is
    missing or too small.
    """
    plan = plan_run(_request(1_000))
    assert plan.policy.dp_columns == ("kwh_sum", "kwh_count")
    assert plan.policy.dp_sensitivity == {"kwh_sum": 10_000.0, "kwh_count": 1.0}
    others = [float(v) for v in range(100, 4100, 100)]
    secret = 7_345.0
    with_it, without = sum(others) + secret, sum(others)
    profile = profile_input(pa.table({"kwh": others + [secret]}), [], [])

    def release(total: float, seed: int) -> float:
        policy = dataclasses.replace(plan.policy, dp_seed=seed, min_group_rows=1)
        output = pa.table({"kwh_sum": [total], "kwh_count": [41], GROUP_ROWS_COLUMN: [41]})
        verdict = check_egress(output, profile, policy)
        assert verdict.allowed and verdict.epsilon_spent_milli == 1_000
        return verdict.table.column("kwh_sum")[0].as_py()

    differences = np.array([release(with_it, 2 * i) - release(without, 2 * i + 1) for i in range(2_000)])
    assert np.mean(np.abs(differences - secret) < 100) < 0.03
    assert 30_000 < np.std(differences) < 50_000  # σ = 2b = 40,000 for b = 20,000
    assert not math.isclose(np.median(differences), secret, abs_tol=1)


def test_the_seeded_sensitive_product_carries_a_verification_policy_and_dp_defaults():
    from shuniu.stack.seed import SEED_PRODUCTS

    seeded = {p.slug: p for p in SEED_PRODUCTS}["medical-claims-2025"]
    spec = seeded.spec(seeded.table(np.random.default_rng(0)).schema)
    product = catalog_pb2.Product(product_id="p-claims", spec=spec)
    assert spec.grade == SENSITIVE and spec.privacy.epsilon_per_release_milli == 500
    assert release_epsilon_milli(aggregate(S.Aggregation(function=S.AGGREGATE_FUNCTION_COUNT)), [product]) == 500

    def about(column, op, **fields):
        return verify(S.Claim(claim_id="c", key_column="patient_id", key_value="P4100000001", column=column,
                              operator=op, **fields))

    assert answer_refusal(about("diagnosis_code", S.CLAIM_OPERATOR_EQUALS, value="I10"), [product])[0] == \
        "verify_policy:operator"
    assert answer_refusal(about("diagnosis_code", S.CLAIM_OPERATOR_IN_SET, values=["I10"]), [product])[0] == \
        "verify_policy:operator"
    assert answer_refusal(about("diagnosis_code", S.CLAIM_OPERATOR_IN_SET, values=["I10", "E11.9"]), [product]) is None
    assert answer_refusal(about("amount_fen", S.CLAIM_OPERATOR_IN_RANGE, low="0", high="99999"), [product])[0] == \
        "verify_policy:range_width"
