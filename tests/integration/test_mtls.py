"""mTLS and roles on a real control plane: who gets in, who may do what, and that refusals store nothing."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import time

import grpc
import pytest
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc
from conftest import stored_state

from shuniu.market.catalog import queue_product_write
from shuniu.market.negative_list.store import NEGATIVE_LIST_EVENTS_KEY
from shuniu.protos.v1 import (
    catalog_pb2,
    common_pb2,
    grants_pb2,
    jobs_pb2,
    negative_list_pb2,
    nodes_pb2,
    nodes_pb2_grpc,
)
from shuniu.scheduler.jobs.store import queue_job_write
from shuniu.security import pki, tls
from shuniu.security.roles import ROLE_CLAIM_HEADER

from shuniu.client import Client

DENIED, UNAVAILABLE = grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAVAILABLE
USERS = {"ops": "operator", "reg": "regulator", "bank-a": "buyer", "bank-b": "buyer", "holder-grid": "data_holder",
         "zhengzhou-dc": "compute_center"}


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory) -> pathlib.Path:
    directory = tmp_path_factory.mktemp("ca")
    pki.init_ca(directory)
    pki.issue_server(directory)
    for name, role in USERS.items():
        pki.issue_identity(directory, pki.user_identity(name, role))
    for node_id in ("n-a", "n-b"):
        pki.issue_identity(directory, pki.node_identity(node_id))
    return directory


@pytest.fixture(scope="module")
def foreign_ca_dir(tmp_path_factory) -> pathlib.Path:
    """Another CA issuing the same names: its certificates must not get in."""
    directory = tmp_path_factory.mktemp("foreign-ca")
    pki.init_ca(directory, common_name="not the exchange")
    pki.issue_identity(directory, pki.user_identity("ops", "operator"))
    return directory


@pytest.fixture
def plane(control_plane_factory, ca_dir):
    return control_plane_factory(tls_dir=str(ca_dir), tls=tls.load_client_tls(ca_dir, "ops"))


def as_(plane, ca_dir: pathlib.Path, identity: str) -> Client:
    return Client(plane.address, timeout_s=5, tls=tls.load_client_tls(ca_dir, identity))


def events(redis_url: str, key: str) -> list[dict[bytes, bytes]]:
    client = redis.Redis.from_url(redis_url)
    try:
        return [fields for _, fields in client.xrange(key)]
    finally:
        client.close()


def refused(call, code=DENIED, words: str = "") -> str:
    with pytest.raises(grpc.RpcError) as err:
        call()
    assert err.value.code() == code, err.value.details()
    assert words in (err.value.details() or ""), err.value.details()
    return err.value.details()


def register(client: Client, node_id: str, request_id: str = "") -> nodes_pb2.RegisterResponse:
    return client.register(nodes_pb2.RegisterRequest(
        request_id=request_id or f"reg-{node_id}-{time.time_ns()}", node_id=node_id, site="zhengzhou",
        compute_class=common_pb2.COMPUTE_CLASS_GENERAL, capacity=common_pb2.Capacity(cpu_milli=4000, memory_mb=8192),
        compute_center="zhengzhou-dc"))


def write_market(redis_url: str) -> None:
    """A listed sensitive product (grants on it wait for the operator) and one finished job per buyer."""
    product = catalog_pb2.Product(
        product_id="p-post", state=catalog_pb2.PRODUCT_STATE_LISTED,
        spec=catalog_pb2.ProductSpec(
            holder_id="holder-grid", name="p-post", grade=common_pb2.CLASSIFICATION_GRADE_SENSITIVE,
            schema=[catalog_pb2.Column(name="city", arrow_type="string")], allowed_purposes=["credit"],
            allowed_job_kinds=[common_pb2.JOB_KIND_AGGREGATE], domain_node_ids=["n-a"],
            pricing=catalog_pb2.Pricing(unit=catalog_pb2.PRICING_UNIT_PER_ROW, unit_price_fen=2, price_version=1)))
    client = redis.Redis.from_url(redis_url)
    with client.pipeline() as pipe:
        queue_product_write(pipe, product, new_price=True)
        now = int(time.time() * 1000)
        for buyer in ("bank-a", "bank-b"):
            job = jobs_pb2.Job(job_id=f"job-{buyer}", buyer_id=buyer, state=jobs_pb2.JOB_STATE_SUCCEEDED,
                               submitted_unix_ms=now, finished_unix_ms=now, seq=1)
            queue_job_write(pipe, job, jobs_pb2.JOB_STATE_UNSPECIFIED, now)
        pipe.execute()
    client.close()


def grant_spec(buyer_id: str = "") -> grants_pb2.GrantSpec:
    return grants_pb2.GrantSpec(
        buyer_id=buyer_id, scenario="SME credit scoring", purpose="credit",
        purpose_category=common_pb2.PURPOSE_CATEGORY_COMMERCIAL, job_kinds=[common_pb2.JOB_KIND_AGGREGATE],
        products=[common_pb2.ProductColumns(product_id="p-post", columns=["city"])],
        expires_unix_ms=int(time.time() * 1000) + 86_400_000,
        limits=grants_pb2.GrantLimits(max_rows=1000, max_calls=10, max_budget_fen=10_000))


# -- who gets in -----------------------------------------------------------------------------

def test_a_client_without_a_certificate_is_refused(plane, ca_dir, redis_url):
    before = stored_state(redis_url)
    with Client(plane.address, timeout_s=3, tls=None) as plain:
        refused(lambda: register(plain, "n-a"), UNAVAILABLE)
    ca_only = grpc.ssl_channel_credentials((ca_dir / "ca.pem").read_bytes())
    with grpc.secure_channel(plane.address, ca_only, options=[("grpc.ssl_target_name_override", tls.SERVER_NAME)]) as ch:
        stub = nodes_pb2_grpc.NodeServiceStub(ch)
        refused(lambda: stub.ListNodes(nodes_pb2.ListNodesRequest(), timeout=3), UNAVAILABLE)
    assert stored_state(redis_url) == before


def test_a_certificate_of_another_ca_is_refused(plane, foreign_ca_dir, redis_url):
    before = stored_state(redis_url)
    with as_(plane, foreign_ca_dir, "ops") as intruder:
        refused(lambda: list(intruder.list_nodes()), UNAVAILABLE)
        refused(lambda: register(intruder, "n-a"), UNAVAILABLE)
    assert stored_state(redis_url) == before


def test_health_stays_open_to_any_certificate_of_the_exchange(plane, ca_dir):
    with as_(plane, ca_dir, "node:n-b") as node:
        answer = health_pb2_grpc.HealthStub(node.channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


# -- nodes act only as themselves --------------------------------------------------------------

def test_a_node_registers_and_heartbeats_only_as_itself(plane, ca_dir, redis_url):
    with as_(plane, ca_dir, "node:n-a") as node_a:
        epoch = register(node_a, "n-a").epoch
        before = stored_state(redis_url)
        refused(lambda: register(node_a, "n-b"), words="rule own-node")
        once = nodes_pb2.HeartbeatOnceRequest(heartbeat=nodes_pb2.HeartbeatRequest(node_id="n-b", epoch=1, seq=1))
        refused(lambda: node_a.nodes.HeartbeatOnce(once, timeout=3), words="rule own-node")
        assert stored_state(redis_url) == before

        def beats(*node_ids):
            for seq, node_id in enumerate(node_ids, 1):
                yield nodes_pb2.HeartbeatRequest(node_id=node_id, epoch=epoch, seq=seq, ack_requested=True)

        answers = list(node_a.nodes.Heartbeat(beats("n-a", "n-a"), timeout=5))
        assert [a.seq for a in answers] == [1, 2]
        # A stream that turns to another node's heartbeats is cut at that message.
        with pytest.raises(grpc.RpcError) as err:
            list(node_a.nodes.Heartbeat(beats("n-a", "n-b"), timeout=5))
        assert err.value.code() == DENIED and "own-node" in err.value.details()
    with as_(plane, ca_dir, "node:n-b") as node_b:
        assert register(node_b, "n-b").epoch >= 1
    actors = {(e[b"node_id"], e[b"actor"]) for e in events(redis_url, "shuniu:events:nodes") if e[b"event"].startswith(b"registered")}
    assert actors == {(b"n-a", b"n-a"), (b"n-b", b"n-b")}


def test_a_node_may_not_use_operator_or_buyer_calls(plane, ca_dir, redis_url):
    before = stored_state(redis_url)
    with as_(plane, ca_dir, "node:n-a") as node:
        refused(lambda: node.drain("n-a"), words="role 'node' may not call /shuniu.v1.NodeService/Drain")
        refused(lambda: node.grants.ApplyGrant(grants_pb2.ApplyGrantRequest(request_id="x", spec=grant_spec()),
                                               timeout=3), words="allowed roles: buyer, operator")
    assert stored_state(redis_url) == before


def test_a_compute_center_drains_only_its_own_nodes(plane, ca_dir, redis_url):
    with as_(plane, ca_dir, "node:n-a") as node:
        register(node, "n-a")
    with as_(plane, ca_dir, "holder-grid") as stranger:
        refused(lambda: stranger.drain("n-a"), words="allowed roles: compute_center, operator")
    with as_(plane, ca_dir, "zhengzhou-dc") as center:
        assert center.drain("n-a", reason="maintenance").draining


# -- buyers, grants and jobs ----------------------------------------------------------------------

def test_a_buyer_sees_only_its_own_jobs(plane, ca_dir, redis_url):
    write_market(redis_url)
    before = stored_state(redis_url)
    with as_(plane, ca_dir, "bank-b") as bank_b:
        assert bank_b.jobs.GetJob(jobs_pb2.GetJobRequest(job_id="job-bank-b"), timeout=3).job.buyer_id == "bank-b"
        refused(lambda: bank_b.jobs.GetJob(jobs_pb2.GetJobRequest(job_id="job-bank-a"), timeout=3),
                words="belongs to another party")
        refused(lambda: bank_b.jobs.ListJobs(jobs_pb2.ListJobsRequest(buyer_id="bank-a"), timeout=3),
                words="rule own-buyer_id")
        # An empty buyer_id is forced to the caller's own.
        listed = bank_b.jobs.ListJobs(jobs_pb2.ListJobsRequest(), timeout=3).jobs
        assert [j.job_id for j in listed] == ["job-bank-b"]
        refused(lambda: bank_b.jobs.CancelJob(jobs_pb2.CancelJobRequest(request_id="c1", job_id="job-bank-a"),
                                              timeout=3), words="rule own-job")
        refused(lambda: list(bank_b.jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id="job-bank-a"), timeout=3)),
                words="rule own-job")
        refused(lambda: bank_b.jobs.GetJobResult(jobs_pb2.GetJobResultRequest(job_id="job-bank-a"), timeout=3),
                words="rule own-job")
    assert stored_state(redis_url) == before
    with as_(plane, ca_dir, "reg") as regulator:
        assert regulator.jobs.GetJob(jobs_pb2.GetJobRequest(job_id="job-bank-a"), timeout=3).job.buyer_id == "bank-a"


def test_only_the_operator_approves_a_grant(plane, ca_dir, redis_url):
    write_market(redis_url)
    with as_(plane, ca_dir, "bank-a") as bank_a:
        grant = bank_a.grants.ApplyGrant(grants_pb2.ApplyGrantRequest(request_id="apply-1", spec=grant_spec()),
                                         timeout=3).grant
        assert grant.spec.buyer_id == "bank-a" and grant.state == grants_pb2.GRANT_STATE_PENDING
        refused(lambda: bank_a.grants.ApplyGrant(grants_pb2.ApplyGrantRequest(
            request_id="apply-2", spec=grant_spec("bank-b")), timeout=3), words="rule own-spec.buyer_id")
        before = stored_state(redis_url)
        approve = grants_pb2.ApproveGrantRequest(request_id="approve-1", grant_id=grant.grant_id)
        refused(lambda: bank_a.grants.ApproveGrant(approve, timeout=3), words="allowed roles: operator")
    for who in ("bank-b", "reg", "holder-grid"):
        with as_(plane, ca_dir, who) as other:
            refused(lambda: other.grants.ApproveGrant(approve, timeout=3), words="ApproveGrant")
    with as_(plane, ca_dir, "bank-b") as bank_b:
        refused(lambda: bank_b.grants.GetGrant(grants_pb2.GetGrantRequest(grant_id=grant.grant_id), timeout=3),
                words="rule own-grant")
    assert stored_state(redis_url) == before
    with as_(plane, ca_dir, "ops") as operator:
        approved = operator.grants.ApproveGrant(approve, timeout=3, metadata=(("shuniu-operator", "someone-else"),)).grant
    # the decision is signed by the certificate's name, whatever the call's metadata claims
    assert approved.state == grants_pb2.GRANT_STATE_APPROVED and approved.decided_by == "ops"


def test_only_the_operator_edits_the_negative_list(plane, ca_dir, redis_url):
    entry = negative_list_pb2.NegativeListEntry(entry_id="no-id-cards", column_tag="id_card_number",
                                                reason="personal identifiers")
    add = negative_list_pb2.NegativeListServiceAddEntryRequest(request_id="add-1", entry=entry)
    before = stored_state(redis_url)
    for who in ("holder-grid", "bank-a", "reg"):
        with as_(plane, ca_dir, who) as other:
            refused(lambda: other.negative_list.AddEntry(add, timeout=3), words="allowed roles: operator")
    assert stored_state(redis_url) == before
    with as_(plane, ca_dir, "ops") as operator:
        operator.negative_list.AddEntry(add, timeout=3)
        assert [e.column_tag for e in operator.negative_list.ListEntries(
            negative_list_pb2.NegativeListServiceListEntriesRequest(), timeout=3).entries] == ["id_card_number"]
    # The caller the interceptor bound is who the stored event says acted.
    assert [e[b"actor"] for e in events(redis_url, NEGATIVE_LIST_EVENTS_KEY)] == [b"ops"]


def test_a_role_claim_for_another_role_is_refused(plane, ca_dir, redis_url):
    write_market(redis_url)
    before = stored_state(redis_url)
    with as_(plane, ca_dir, "bank-a") as bank_a:
        approve = grants_pb2.ApproveGrantRequest(request_id="approve-x", grant_id="g-any")
        refused(lambda: bank_a.grants.ApproveGrant(approve, timeout=3, metadata=((ROLE_CLAIM_HEADER, "operator"),)),
                words="rule role-claim")
        refused(lambda: bank_a.jobs.GetJob(jobs_pb2.GetJobRequest(job_id="job-bank-a"), timeout=3,
                                           metadata=((ROLE_CLAIM_HEADER, "regulator"),)), words="rule role-claim")
        own = bank_a.jobs.GetJob(jobs_pb2.GetJobRequest(job_id="job-bank-a"), timeout=3,
                                 metadata=((ROLE_CLAIM_HEADER, "buyer"),))
    assert own.job.buyer_id == "bank-a"
    assert stored_state(redis_url) == before


# -- the cost of mTLS is measured on the same bench ---------------------------------------------------

def test_heartbeat_bench_runs_under_mtls_with_the_fleet_certificate():
    result = subprocess.run(
        [sys.executable, "-m", "shuniu.cli", "bench", "heartbeats", "--nodes", "20", "--interval", "0.25",
         "--duration", "1", "--senders", "4", "--driver", "python", "--tls", "--json"],
        capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    figures = {f["name"]: f for f in report["figures"]}
    assert report["params"]["transport"] == "mTLS, roles enforced"
    assert report["params"]["errors_by_code"] == {"stream": {}, "unary": {}, "stream_max": {}, "unary_max": {}}
    assert figures["heartbeats/s held at target"]["value"] == pytest.approx(20 / 0.25, rel=0.2)
