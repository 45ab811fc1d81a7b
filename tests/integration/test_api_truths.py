"""Small truths of the API on a real control plane: ListJobs totals count what the filter selects, and
PlanJob says "not admissible", with the submit's own reason, whenever SubmitJob would refuse."""

from __future__ import annotations

import subprocess
import sys
import time

import grpc
import pytest
import redis
from conftest import AgentThread
from test_jobs import CAPACITY, NODES, PRICE, aggregate_spec, power_spec, write_power

from shuniu.protos.v1 import catalog_pb2, common_pb2, grants_pb2, jobs_pb2
from shuniu.scheduler.jobs.store import queue_job_write

S = jobs_pb2
# (job id, buyer, grant, state) written straight to the store, as finished jobs are kept.
JOBS = [(f"job-{i:02d}", buyer, grant, state) for i, (buyer, grant, state) in enumerate(
    [("bank-a", "g-1", S.JOB_STATE_SUCCEEDED)] * 4 + [("bank-a", "g-1", S.JOB_STATE_FAILED)] * 3
    + [("bank-a", "g-2", S.JOB_STATE_SUCCEEDED)] * 2 + [("bank-b", "g-3", S.JOB_STATE_CANCELLED)] * 5)]


@pytest.fixture
def stored_jobs(control_plane, redis_url):
    client = redis.Redis.from_url(redis_url)
    now = int(time.time() * 1000)
    with client.pipeline() as pipe:
        for n, (job_id, buyer, grant, state) in enumerate(JOBS):
            job = S.Job(job_id=job_id, buyer_id=buyer, state=state, spec=S.JobSpec(grant_id=grant),
                        submitted_unix_ms=now - n, finished_unix_ms=now, seq=1)
            queue_job_write(pipe, job, S.JOB_STATE_UNSPECIFIED, now)
        pipe.execute()
    client.close()
    return control_plane


@pytest.mark.parametrize("request_", [
    S.ListJobsRequest(),
    S.ListJobsRequest(buyer_id="bank-a"),
    S.ListJobsRequest(states=[S.JOB_STATE_SUCCEEDED]),
    S.ListJobsRequest(buyer_id="bank-a", states=[S.JOB_STATE_FAILED]),
    S.ListJobsRequest(buyer_id="bank-a", grant_id="g-2"),
    S.ListJobsRequest(buyer_id="bank-b", grant_id="g-1"),
    S.ListJobsRequest(grant_id="g-1", states=[S.JOB_STATE_SUCCEEDED, S.JOB_STATE_CANCELLED]),
], ids=["all", "buyer", "state", "buyer-and-state", "buyer-and-grant", "buyer-and-another-buyers-grant",
        "grant-and-two-states"])
def test_list_jobs_total_counts_what_the_filter_selects_across_pages(stored_jobs, request_):
    expected = sorted(job_id for job_id, buyer, grant, state in JOBS
                      if (not request_.buyer_id or buyer == request_.buyer_id)
                      and (not request_.grant_id or grant == request_.grant_id)
                      and (not request_.states or state in request_.states))
    listed, token = [], ""
    with stored_jobs.client() as client:
        while True:
            request_.page_size, request_.page_token = 2, token
            page = client.jobs.ListJobs(request_, timeout=10)
            assert page.total == len(expected)
            listed += [j.job_id for j in page.jobs]
            token = page.next_page_token
            if not token:
                break
    assert sorted(listed) == expected


@pytest.fixture
def market(control_plane_factory, tmp_path, eventually):
    """A control plane (no Ray: admitted jobs wait), agents for its nodes, a listed product and a grant of 3 calls."""
    plane = control_plane_factory()
    agents = [AgentThread(plane.address, node_id, site, CAPACITY, price_card=PRICE).__enter__()
              for node_id, site in NODES.items()]
    try:
        with plane.client() as client:
            eventually(lambda: len(list(client.list_nodes())) == len(NODES), what="agents registered")
            spec = power_spec(write_power(tmp_path / "power.parquet"), 600, ["ray-n1", "ray-n3"])
            product = client.catalog.RegisterProduct(
                catalog_pb2.RegisterProductRequest(request_id="reg-power", spec=spec), timeout=5).product
            eventually(lambda: client.catalog.GetProduct(catalog_pb2.GetProductRequest(
                product_id=product.product_id), timeout=5).product.state == catalog_pb2.PRODUCT_STATE_LISTED,
                timeout_s=20, what="product listed")
            grant = client.grants.ApplyGrant(grants_pb2.ApplyGrantRequest(request_id="apply", spec=grants_pb2.GrantSpec(
                buyer_id="zz-bank", scenario="SME credit, Xinyang", purpose="energy-planning",
                purpose_category=common_pb2.PURPOSE_CATEGORY_COMMERCIAL,
                products=[common_pb2.ProductColumns(product_id=product.product_id, columns=["credit_code", "city", "kwh"])],
                job_kinds=[common_pb2.JOB_KIND_AGGREGATE], expires_unix_ms=int(time.time() * 1000) + 86_400_000,
                limits=grants_pb2.GrantLimits(max_rows=100_000, max_calls=3, max_budget_fen=1_000_000),
                egress=grants_pb2.EgressProfile(min_group_size=5, max_output_rows=100))), timeout=5).grant
            assert grant.state == grants_pb2.GRANT_STATE_APPROVED, grant.state_reason
        yield plane, product, grant
    finally:
        for agent in agents:
            agent.__exit__()


def _planned_then_submitted(client, spec, request_id: str) -> tuple[S.PlanJobResponse, grpc.RpcError | None]:
    plan = client.jobs.PlanJob(S.PlanJobRequest(spec=spec), timeout=10)
    try:
        client.jobs.SubmitJob(S.SubmitJobRequest(request_id=request_id, spec=spec), timeout=10)
    except grpc.RpcError as err:
        return plan, err
    return plan, None


def test_plan_says_not_admissible_exactly_when_submit_refuses_and_why(market):
    plane, product, grant = market
    cases = {  # in this order: the calls case comes after three admitted jobs used the grant's three calls
        "admissible": aggregate_spec(grant, product),
        "over-budget": aggregate_spec(grant, product, price_cap_fen=2_000_000),
        "no-node-ever-fits": aggregate_spec(grant, product, resources=common_pb2.Capacity(cpu_milli=64_000, memory_mb=512)),
        "admissible-2": aggregate_spec(grant, product),
        "admissible-3": aggregate_spec(grant, product),
        "calls-used-up": aggregate_spec(grant, product),
    }
    with plane.client() as client:
        for name, spec in cases.items():
            plan, refusal = _planned_then_submitted(client, spec, f"sub-{name}")
            if name.startswith("admissible"):
                assert plan.admissible and refusal is None, (name, plan.admission_reason, refusal)
            else:
                assert refusal is not None, name
                assert not plan.admissible, (name, refusal.details())
                assert plan.admission_reason == refusal.details(), name
        assert "limit max_calls" in plan.admission_reason
        unsatisfiable = client.jobs.PlanJob(S.PlanJobRequest(spec=cases["no-node-ever-fits"]), timeout=10)
    assert unsatisfiable.explanation.rejections, "a refused plan still says what each filter removed"
    assert not unsatisfiable.placement.node_ids


def test_cli_plan_prints_not_admissible_with_the_reason(market):
    plane, product, grant = market
    result = subprocess.run([sys.executable, "-m", "shuniu.cli", "plan", "--addr", plane.address, "--grant", grant.grant_id,
                             "--product", product.product_id, "--agg", "count", "--anchor", "xinyang", "--cpu", "64"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "not admissible: unsatisfiable" in " ".join(result.stdout.split()), result.stdout
