"""Approved analyses, the pure rules: proposals, who decides, parameter values, and the rule a custom job meets."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shuniu.market import analyses
from shuniu.market.analyses import AnalysisRefusal
from shuniu.protos.v1 import analyses_pb2, catalog_pb2, common_pb2, grants_pb2, jobs_pb2

A = analyses_pb2
SOURCE = "import pyarrow as pa\n\ndef run(table, min_kwh, city='x'):\n    return table\n"
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def product(grade=common_pb2.CLASSIFICATION_GRADE_SENSITIVE, approver=0, product_id="prd-s",
            state=catalog_pb2.PRODUCT_STATE_LISTED) -> catalog_pb2.Product:
    return catalog_pb2.Product(product_id=product_id, state=state, spec=catalog_pb2.ProductSpec(
        holder_id="state-grid-henan", grade=grade, analysis_approver=approver))


def spec(**fields) -> analyses_pb2.AnalysisSpec:
    base = dict(product_id="prd-s", name="kwh by city", source=SOURCE,
                output_schema=[A.OutputColumn(name="city", arrow_type="string"),
                               A.OutputColumn(name="households", arrow_type="int64")],
                parameters=[A.ParameterDeclaration(name="min_kwh", type=A.PARAMETER_TYPE_FLOAT64, min="0", max="5000")])
    base.update(fields)
    return A.AnalysisSpec(**base)


def approved(product_id="prd-s", source=SOURCE) -> analyses_pb2.Analysis:
    stored = analyses.check_proposal(spec(product_id=product_id, source=source), product(product_id=product_id))
    proposed = analyses.new_analysis("an-1", "r-1", stored, product(product_id=product_id), "zz-bank", 1)
    return analyses.approve(proposed, decider="state-grid-henan", reviewed_sha256=stored.code_sha256, note="", now_ms=2)


def test_a_proposal_is_stored_with_the_hash_of_its_source():
    stored = analyses.check_proposal(spec(), product())
    assert stored.code_sha256 == hashlib.sha256(SOURCE.encode()).hexdigest()


@pytest.mark.parametrize("fields, rule, words", [
    ({"source": "def run(:\n"}, "invalid:source", "does not parse"),
    ({"source": "def go(table):\n    return table\n"}, "invalid:source", "def run(table, **params)"),
    ({"source": "def run(table):\n    return table\n"}, "invalid:source", "does not take parameter 'min_kwh'"),
    ({"code_sha256": "0" * 64}, "code_hash", "does not match the source"),
    ({"output_schema": [A.OutputColumn(name="ids", arrow_type="list<string>")]}, "invalid:output_schema",
     "flat primitive type"),
    ({"output_schema": []}, "invalid:output_schema", "1-256"),
    ({"output_schema": [A.OutputColumn(name="a", arrow_type="int64")] * 2}, "invalid:output_schema", "twice"),
    ({"parameters": [A.ParameterDeclaration(name="table", type=A.PARAMETER_TYPE_INT64)]}, "invalid:parameters",
     "not 'table'"),
    ({"parameters": [A.ParameterDeclaration(name="n", type=A.PARAMETER_TYPE_INT64, min="9", max="1")]},
     "invalid:parameters", "above max"),
    ({"parameters": [A.ParameterDeclaration(name="b", type=A.PARAMETER_TYPE_BOOL, min="0")]}, "invalid:parameters",
     "only int64 and float64"),
    ({"name": ""}, "invalid:name", "1-128"),
], ids=["syntax", "no-run", "run-lacks-parameter", "hash-mismatch", "nested-output", "no-output", "output-twice",
        "parameter-named-table", "min-above-max", "range-on-bool", "no-name"])
def test_a_malformed_proposal_is_refused_naming_the_field(fields, rule, words):
    with pytest.raises(AnalysisRefusal) as err:
        analyses.check_proposal(spec(**fields), product())
    assert err.value.rule == rule and words in err.value.message


@pytest.mark.parametrize("state", [catalog_pb2.PRODUCT_STATE_REGISTERED, catalog_pb2.PRODUCT_STATE_DELISTED],
                         ids=["registered", "delisted"])
def test_code_is_proposed_only_for_a_verified_product(state):
    with pytest.raises(AnalysisRefusal, match="UNDER_REVIEW or LISTED"):
        analyses.check_proposal(spec(), product(state=state))


@pytest.mark.parametrize("approver, role, name, allowed", [
    (0, "data_holder", "state-grid-henan", True),
    (A.ANALYSIS_APPROVER_HOLDER, "data_holder", "state-grid-henan", True),
    (A.ANALYSIS_APPROVER_HOLDER, "data_holder", "other-holder", False),
    (A.ANALYSIS_APPROVER_HOLDER, "operator", "ops", False),
    (A.ANALYSIS_APPROVER_OPERATOR, "operator", "ops", True),
    (A.ANALYSIS_APPROVER_OPERATOR, "data_holder", "state-grid-henan", False),
    (A.ANALYSIS_APPROVER_HOLDER, "buyer", "state-grid-henan", False),
], ids=["default-holder", "holder", "another-holder", "operator-under-holder-policy", "operator-policy",
        "holder-under-operator-policy", "buyer"])
def test_only_the_approver_the_products_policy_names_decides(approver, role, name, allowed):
    if allowed:
        analyses.check_decider(product(approver=approver), role, name)
        return
    with pytest.raises(AnalysisRefusal) as err:
        analyses.check_decider(product(approver=approver), role, name)
    assert err.value.kind == "PERMISSION_DENIED" and "rule analysis-approver" in err.value.message


def test_approval_binds_the_hash_the_approver_reviewed_and_happens_once():
    stored = analyses.check_proposal(spec(), product())
    proposed = analyses.new_analysis("an-1", "r-1", stored, product(), "zz-bank", 1)
    with pytest.raises(AnalysisRefusal, match="code_sha256 does not match"):
        analyses.approve(proposed, decider="h", reviewed_sha256="a" * 64, note="", now_ms=2)
    done = analyses.approve(proposed, decider="h", reviewed_sha256=stored.code_sha256.upper(), note="ok", now_ms=2)
    assert done.state == A.ANALYSIS_STATE_APPROVED and done.state_reason == "approved: ok"
    with pytest.raises(AnalysisRefusal, match="only a PROPOSED analysis"):
        analyses.reject(done, decider="h", reason="late", now_ms=3)


@given(st.integers(INT64_MIN, INT64_MAX), st.integers(INT64_MIN, INT64_MAX), st.integers(INT64_MIN, INT64_MAX))
def test_an_int64_parameter_is_taken_exactly_when_within_its_bounds(value, a, b):
    low, high = min(a, b), max(a, b)
    declared = [A.ParameterDeclaration(name="n", type=A.PARAMETER_TYPE_INT64, min=str(low), max=str(high))]
    if low <= value <= high:
        assert analyses.parse_values(declared, {"n": str(value)})[0].int64_value == value
    else:
        with pytest.raises(AnalysisRefusal, match="expected n:int64"):
            analyses.parse_values(declared, {"n": str(value)})


@given(st.floats(allow_nan=False, allow_infinity=False), st.floats(-1e6, 1e6), st.floats(0, 1e6))
def test_a_float64_parameter_is_taken_exactly_when_within_its_bounds(value, low, width):
    high = low + width
    declared = [A.ParameterDeclaration(name="x", type=A.PARAMETER_TYPE_FLOAT64, min=repr(low), max=repr(high))]
    if low <= value <= high:
        assert analyses.parse_values(declared, {"x": repr(value)})[0].float64_value == value
    else:
        with pytest.raises(AnalysisRefusal):
            analyses.parse_values(declared, {"x": repr(value)})


@pytest.mark.parametrize("given_values, words", [
    ({}, "missing"),
    ({"min_kwh": "1", "limit": "2"}, "not declared"),
    ({"min_kwh": "lots"}, "expected min_kwh:float64[0..5000]"),
    ({"min_kwh": "nan"}, "expected min_kwh:float64"),
    ({"min_kwh": "5000.5"}, "expected min_kwh:float64[0..5000]"),
], ids=["missing", "unknown", "not-a-number", "nan", "above-max"])
def test_a_bad_parameter_value_is_refused_naming_the_parameter(given_values, words):
    with pytest.raises(AnalysisRefusal) as err:
        analyses.parse_values(spec().parameters, given_values)
    assert err.value.rule == "parameter" and words in err.value.message


def job(analysis_id="an-1", product_id="prd-s", **custom) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(grant_id="g-1", kind=common_pb2.JOB_KIND_CUSTOM,
                            products=[common_pb2.ProductColumns(product_id=product_id)],
                            custom=jobs_pb2.CustomArgs(analysis_id=analysis_id, **custom))


def grant(*analysis_ids: str) -> grants_pb2.Grant:
    return grants_pb2.Grant(grant_id="g-1", spec=grants_pb2.GrantSpec(analysis_ids=analysis_ids))


def test_an_approved_analysis_resolves_to_its_code_contract_and_typed_values():
    resolved = analyses.resolve_custom(job(parameters={"min_kwh": "1500"}), grant("an-1"), {"prd-s": product()},
                                       approved())
    assert resolved.source == SOURCE and resolved.code_sha256 == hashlib.sha256(SOURCE.encode()).hexdigest()
    assert [(c.name, c.arrow_type) for c in resolved.output_schema] == [("city", "string"), ("households", "int64")]
    assert analyses.as_python(resolved.parameter_values) == {"min_kwh": 1500.0}


def _tampered() -> analyses_pb2.Analysis:
    analysis = approved()
    analysis.spec.source += "# changed after approval\n"
    return analysis


@pytest.mark.parametrize("spec_, analysis, rule", [
    (job(analysis_id="", source=SOURCE), None, "approved_analysis_required"),
    (job(), None, "analysis_not_found"),
    (job(product_id="prd-other", parameters={"min_kwh": "1"}), approved(), "analysis_product"),
    (job(analysis_id="an-1", parameters={"min_kwh": "1"}), approved(), "analysis_not_granted"),
    (job(parameters={"min_kwh": "1"}, code_sha256="f" * 64), approved(), "code_hash"),
    (job(parameters={"min_kwh": "1"}, source="def run(table, min_kwh):\n    return table\n"), approved(), "code_hash"),
    (job(parameters={"min_kwh": "1"}), _tampered(), "code_hash"),
    (job(parameters={"min_kwh": "-1"}), approved(), "parameter"),
], ids=["free-code-above-public", "unknown-analysis", "wrong-product", "not-named-by-grant", "pinned-hash-differs",
        "source-differs", "stored-code-changed", "parameter-out-of-range"])
def test_a_custom_job_outside_the_approved_analysis_rule_is_refused_naming_it(spec_, analysis, rule):
    granted = grant() if rule == "analysis_not_granted" else grant("an-1")
    products = {"prd-s": product(), "prd-other": product(product_id="prd-other")}
    with pytest.raises(AnalysisRefusal) as err:
        analyses.resolve_custom(spec_, granted, products, analysis)
    assert err.value.rule == rule


def test_free_custom_code_stays_allowed_on_a_public_product():
    free = job(analysis_id="", source=SOURCE)
    public = {"prd-s": product(grade=common_pb2.CLASSIFICATION_GRADE_PUBLIC)}
    assert analyses.resolve_custom(free, grant(), public, None).source == SOURCE


@pytest.mark.parametrize("before, after, action", [
    ("ANALYSIS_STATE_UNSPECIFIED", "ANALYSIS_STATE_PROPOSED", "analysis.propose"),
    ("ANALYSIS_STATE_PROPOSED", "ANALYSIS_STATE_APPROVED", "analysis.approve"),
    ("ANALYSIS_STATE_PROPOSED", "ANALYSIS_STATE_REJECTED", "analysis.reject"),
], ids=["propose", "approve", "reject"])
def test_each_decision_is_an_audit_entry_naming_the_hash_it_binds(before, after, action):
    from shuniu.scheduler.control_plane.audit_events import analysis_drafts

    fields = {"analysis_id": b"an-1", "product_id": b"prd-s", "from": before.encode(), "to": after.encode(),
              "reason": b"approved", "code_sha256": b"ab" * 32, "unix_ms": b"7", "actor": b"state-grid-henan"}
    (draft,) = analysis_drafts(fields, 9)
    assert (draft.action, draft.subject_id, draft.actor, draft.refs) == (action, "an-1", "state-grid-henan",
                                                                         ("an-1", "prd-s"))
    assert draft.details["code_sha256"] == "ab" * 32 and "source" not in draft.details
