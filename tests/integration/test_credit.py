"""Credit records (信用) through a real control plane: events where they happen, once per cause, thresholds, audit."""

from __future__ import annotations

import asyncio
import json
import time

import grpc
import pytest
import redis
import redis.asyncio as aioredis
from shuniu.market import credit
from shuniu.market.catalog import queue_product_write
from shuniu.protos.v1 import (
    audit_pb2,
    catalog_pb2,
    common_pb2,
    credit_pb2,
    grants_pb2,
    jobs_pb2,
)
from shuniu.scheduler.control_plane import ControlPlane  # noqa: F401  (imported first: the job layer needs it loaded)
from shuniu.scheduler.jobs.job_service import job_id_for
from shuniu.scheduler.jobs.runtime import JobRuntime
from typer.testing import CliRunner

DAY_MS = 86_400_000
BUYER = "bank-luoyang"
OPERATOR = (("shuniu-operator", "ops-wang"),)
AGGREGATE = common_pb2.JOB_KIND_AGGREGATE


@pytest.fixture
def plane(control_plane, redis_url):
    """A control plane with one listed public product (approved at once by policy)."""
    product = catalog_pb2.Product(product_id="p-power", state=catalog_pb2.PRODUCT_STATE_LISTED, spec=catalog_pb2.ProductSpec(
        holder_id="holder-grid", name="power", grade=common_pb2.CLASSIFICATION_GRADE_PUBLIC, home_site="zhengzhou",
        domain_node_ids=["n-zz"], row_count=100, allowed_purposes=["credit"], allowed_job_kinds=[AGGREGATE],
        schema=[catalog_pb2.Column(name="city", arrow_type="string"), catalog_pb2.Column(name="kwh", arrow_type="double")],
        pricing=catalog_pb2.Pricing(unit=catalog_pb2.PRICING_UNIT_PER_ROW, unit_price_fen=2, price_version=1)))
    client = redis.Redis.from_url(redis_url)
    with client.pipeline() as pipe:
        queue_product_write(pipe, product, new_price=True)
        pipe.execute()
    client.close()
    return control_plane


def apply(client, request_id: str) -> grants_pb2.Grant:
    spec = grants_pb2.GrantSpec(
        buyer_id=BUYER, scenario="SME credit", purpose="credit", purpose_category=common_pb2.PURPOSE_CATEGORY_COMMERCIAL,
        job_kinds=[AGGREGATE], products=[common_pb2.ProductColumns(product_id="p-power", columns=["city", "kwh"])],
        expires_unix_ms=int(time.time() * 1000) + 30 * DAY_MS,
        limits=grants_pb2.GrantLimits(max_rows=100_000, max_calls=100, max_budget_fen=10_000))
    return client.grants.ApplyGrant(grants_pb2.ApplyGrantRequest(request_id=request_id, spec=spec), timeout=5).grant


def _spec(grant_id: str, product_id: str = "p-power") -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(
        grant_id=grant_id, kind=AGGREGATE, products=[common_pb2.ProductColumns(product_id=product_id)],
        aggregate=jobs_pb2.AggregateArgs(group_by=["city"], aggregations=[
            jobs_pb2.Aggregation(function=jobs_pb2.AGGREGATE_FUNCTION_COUNT)]),
        resources=common_pb2.Capacity(cpu_milli=1000, memory_mb=512), compute_class=common_pb2.COMPUTE_CLASS_GENERAL,
        anchor_site="zhengzhou", max_tier=common_pb2.TIER_T1, price_cap_fen=1000, max_runtime_s=60)


def submit(client, grant_id: str, request_id: str, product_id: str = "p-power") -> jobs_pb2.Job:
    return client.jobs.SubmitJob(jobs_pb2.SubmitJobRequest(request_id=request_id, spec=_spec(grant_id, product_id)),
                                 timeout=10).job


def record(client, request_id: str, points: int, kind: int = credit.ADJUSTMENT, subject: str = "",
           org_id: str = BUYER) -> credit_pb2.RecordCreditEventResponse:
    event = credit_pb2.CreditEvent(org_id=org_id, kind=kind, points=points, subject_id=subject, note="test")
    return client.credit.RecordCreditEvent(credit_pb2.RecordCreditEventRequest(request_id=request_id, event=event),
                                           timeout=5, metadata=OPERATOR)


def events(client, org_id: str = BUYER) -> list[credit_pb2.CreditEvent]:
    return list(client.credit.ListCreditEvents(credit_pb2.ListCreditEventsRequest(org_id=org_id), timeout=5).events)


def audited(client, eventually, actions: set[str]) -> list[audit_pb2.AuditEntry]:
    def found():
        entries = client.audit.ListEntries(audit_pb2.AuditServiceListEntriesRequest(
            kind=audit_pb2.AUDIT_KIND_CREDIT, page_size=1000), timeout=5).entries
        return entries if {e.action for e in entries} >= actions else None
    return eventually(found, what=f"audit entries {sorted(actions)}")


def test_a_revocation_is_one_credit_event_even_when_replayed_and_it_is_audited(plane, eventually):
    with plane.client() as client:
        grant = apply(client, "apply-1")
        assert grant.state == grants_pb2.GRANT_STATE_APPROVED
        revoke = grants_pb2.RevokeGrantRequest(request_id="rev-1", grant_id=grant.grant_id, reason="data misuse")
        for _ in range(2):  # a retry of the same request
            client.grants.RevokeGrant(revoke, timeout=5, metadata=OPERATOR)
        with pytest.raises(grpc.RpcError):  # a new request on a revoked grant is refused and records nothing
            client.grants.RevokeGrant(grants_pb2.RevokeGrantRequest(request_id="rev-2", grant_id=grant.grant_id,
                                                                    reason="again"), timeout=5, metadata=OPERATOR)
        found = events(client)
        record_now = client.credit.GetCreditRecord(credit_pb2.GetCreditRecordRequest(org_id=BUYER), timeout=5).record
        entries = audited(client, eventually, {"credit.grant_revoked"})
    assert [(e.kind, e.subject_id, e.points) for e in found] == [(credit.GRANT_REVOKED, grant.grant_id, -100)]
    assert (record_now.score, record_now.events, record_now.blocked) == (900, 1, False)
    assert [e.subject_id for e in entries] == [BUYER]


def test_an_egress_denial_is_one_credit_event_on_replay_of_the_jobs_end(plane, redis_url, eventually):
    job = jobs_pb2.Job(job_id="job-leak", buyer_id=BUYER, state=jobs_pb2.JOB_STATE_EGRESS_DENIED,
                       state_message="raw identifier column in the output", finished_unix_ms=int(time.time() * 1000),
                       spec=jobs_pb2.JobSpec(grant_id="g-1"))

    async def end_twice():
        client = aioredis.Redis.from_url(redis_url)
        for _ in range(2):  # the job's end written, then written again (a replay of the same transition)
            async with client.pipeline(transaction=True) as pipe:
                JobRuntime.end_writes(pipe, job)
                await pipe.execute()
        await client.aclose()

    asyncio.run(end_twice())
    with plane.client() as client:
        found = events(client)
        audited(client, eventually, {"credit.egress_denial"})
    assert [(e.kind, e.subject_id, e.points, e.note) for e in found] == [
        (credit.EGRESS_DENIAL, "job-leak", -50, "raw identifier column in the output")]


def test_a_low_score_needs_an_operator_and_a_blocked_buyer_cannot_submit(plane):
    with plane.client() as client:
        approved = apply(client, "apply-before")
        assert approved.state == grants_pb2.GRANT_STATE_APPROVED
        after = record(client, "adj-1", -350).record
        assert (after.score, after.needs_operator, after.blocked) == (650, True, False)
        pending = apply(client, "apply-low")
        assert pending.state == grants_pb2.GRANT_STATE_PENDING
        assert pending.state_reason.startswith("needs_operator:credit_score") and "650 < 700" in pending.state_reason
        record(client, "adj-2", -300)
        with pytest.raises(grpc.RpcError) as refused:
            submit(client, approved.grant_id, "sub-blocked")
        plan = client.jobs.PlanJob(jobs_pb2.PlanJobRequest(spec=_spec(approved.grant_id)), timeout=10)
        assert not plan.admissible and "credit_blocked" in plan.admission_reason  # the dry run says what a submit would
        blocked = client.credit.ListCreditRecords(credit_pb2.ListCreditRecordsRequest(blocked_only=True), timeout=5)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "credit_blocked" in refused.value.details() and "credit score 350" in refused.value.details()
    assert "admission threshold 400" in refused.value.details()
    assert [(r.org_id, r.score, r.blocked) for r in blocked.records] == [(BUYER, 350, True)]
    _cli_shows_and_lifts_the_block(plane.address)


def _cli_shows_and_lifts_the_block(address: str) -> None:
    from shuniu.cli import app

    def shuniu(*args: str):
        result = CliRunner().invoke(app, [*args, "--addr", address], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        return result.output

    assert json.loads(shuniu("credit", "list", "--blocked", "--json"))["records"][0]["org_id"] == BUYER
    assert "score 350 / 1000" in shuniu("credit", "show", BUYER) and "blocked" in shuniu("credit", "show", BUYER)
    assert [e["points"] for e in json.loads(shuniu("credit", "events", BUYER, "--json"))["events"]] == [-300, -350]
    lifted = json.loads(shuniu("credit", "record", BUYER, "--points", "400", "--note", "paid in full", "--json"))
    assert (lifted["record"]["score"], lifted["record"]["blocked"]) == (750, False)
    assert "adjustment" in shuniu("credit", "events", BUYER)


def test_a_job_reaching_outside_its_grant_is_one_grant_violation_however_often_retried(plane):
    with plane.client() as client:
        grant = apply(client, "apply-v")
        for _ in range(2):
            with pytest.raises(grpc.RpcError) as refused:
                submit(client, grant.grant_id, "sub-outside", product_id="p-other")
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        found = events(client)
    assert [(e.kind, e.subject_id, e.points) for e in found] == [
        (credit.GRANT_VIOLATION, job_id_for("sub-outside"), -200)]
    assert "product_outside_grant" in found[0].note


BAD_EVENTS = {  # one control plane for the whole table: each case is refused and stores nothing
    "bad-org": (credit_pb2.CreditEvent(org_id="bad org", kind=credit.ADJUSTMENT, points=5, note="x"), "org_id"),
    "zero-adjustment": (credit_pb2.CreditEvent(org_id=BUYER, kind=credit.ADJUSTMENT, points=0, note="x"), "event.points"),
    "adjustment-without-note": (credit_pb2.CreditEvent(org_id=BUYER, kind=credit.ADJUSTMENT, points=5), "event.note"),
    "penalty-without-cause": (credit_pb2.CreditEvent(org_id=BUYER, kind=credit.EGRESS_DENIAL, points=-5),
                              "event.subject_id"),
    "positive-penalty": (credit_pb2.CreditEvent(org_id=BUYER, kind=credit.EGRESS_DENIAL, points=5, subject_id="j"),
                         "event.points"),
    "unknown-kind": (credit_pb2.CreditEvent(org_id=BUYER, kind=42, points=-5, subject_id="j"), "event.kind"),
}


def test_bad_credit_events_are_refused_and_store_nothing(plane):
    with plane.client() as client:
        for case, (event, words) in BAD_EVENTS.items():
            with pytest.raises(grpc.RpcError) as refused:
                client.credit.RecordCreditEvent(credit_pb2.RecordCreditEventRequest(request_id=case, event=event),
                                                timeout=5, metadata=OPERATOR)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, case
            assert words in refused.value.details(), (case, refused.value.details())
        assert client.credit.ListCreditRecords(credit_pb2.ListCreditRecordsRequest(), timeout=5).total == 0


def test_an_operator_penalty_is_once_per_cause_and_a_retry_answers_the_same(plane):
    with plane.client() as client:
        first = record(client, "pen-1", -30, kind=credit.GRANT_VIOLATION, subject="job-x")
        again = record(client, "pen-1", -30, kind=credit.GRANT_VIOLATION, subject="job-x")
        with pytest.raises(grpc.RpcError) as refused:
            record(client, "pen-2", -30, kind=credit.GRANT_VIOLATION, subject="job-x")
        found = events(client)
    assert again == first and first.event.recorded_by == "ops-wang" and first.record.score == 970
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION and first.event.event_id in refused.value.details()
    assert [e.event_id for e in found] == [first.event.event_id]
