"""A real flow on the Ray cluster leaves an audit entry of every kind, and `audit trace` tells the job's story."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
import redis
from conftest import AgentThread
from shuniu.market.billing import Biller, BillerConfig
from shuniu.market.ledger import period_of_ms
from shuniu.protos.v1 import (
    audit_pb2,
    catalog_pb2,
    common_pb2,
    grants_pb2,
    jobs_pb2,
    negative_list_pb2,
    settlement_pb2,
)
from shuniu.security import signing
from test_jobs import (
    CAPACITY,
    NODES,
    PRICE,
    aggregate_spec,
    finished,
    power_spec,
    submit,
    write_power,
)

P = audit_pb2


def _grant_spec(product_id: str) -> grants_pb2.GrantSpec:
    return grants_pb2.GrantSpec(
        buyer_id="zz-bank", scenario="SME credit, Xinyang", purpose="energy-planning",
        purpose_category=common_pb2.PURPOSE_CATEGORY_COMMERCIAL,
        products=[common_pb2.ProductColumns(product_id=product_id, columns=["credit_code", "city", "kwh"])],
        job_kinds=[common_pb2.JOB_KIND_AGGREGATE], expires_unix_ms=int(time.time() * 1000) + 86_400_000,
        limits=grants_pb2.GrantLimits(max_rows=100_000, max_calls=20, max_budget_fen=10_000_000),
        egress=grants_pb2.EgressProfile(min_group_size=5, max_output_rows=100))


@pytest.fixture
def story(ray_cluster, control_plane_factory, redis_url, tmp_path, eventually):
    """Nodes with registered usage keys, a negative-list entry, a product, a grant, one job run, billed and settled."""
    plane = control_plane_factory(ray_address=ray_cluster.address)
    state = os.environ["SHUNIU_STATE_DIR"]  # the Ray workers' (set by the ray_cluster fixture): they sign with these keys
    agents = [AgentThread(plane.address, node_id, site, CAPACITY, price_card=PRICE, compute_center=f"{site}-dc",
                          usage_public_key=signing.load_or_create(signing.node_key_path(state, node_id)).public_raw).__enter__()
              for node_id, site in NODES.items()]
    store = redis.Redis.from_url(redis_url)
    try:
        with plane.client() as client:
            eventually(lambda: len(list(client.list_nodes())) == len(NODES), what="agents registered")
            client.negative_list.AddEntry(negative_list_pb2.NegativeListServiceAddEntryRequest(
                request_id="nl-biometric", entry=negative_list_pb2.NegativeListEntry(
                    column_tag="biometric", reason="biometric data is not traded", legal_basis="PIPL art. 28")), timeout=5)
            path = write_power(tmp_path / "power.parquet")
            product = client.catalog.RegisterProduct(catalog_pb2.RegisterProductRequest(
                request_id="reg-power", spec=power_spec(path, 600, ["ray-n1", "ray-n3"])), timeout=5).product
            eventually(lambda: client.catalog.GetProduct(catalog_pb2.GetProductRequest(
                product_id=product.product_id), timeout=5).product.state == catalog_pb2.PRODUCT_STATE_LISTED,
                timeout_s=20, what="product listed")
            grant = client.grants.ApplyGrant(grants_pb2.ApplyGrantRequest(
                request_id="apply-power", spec=_grant_spec(product.product_id)), timeout=5).grant
            job = finished(client, submit(client, aggregate_spec(grant, product), "audit-job-1").job_id, eventually)
            assert job.state == jobs_pb2.JOB_STATE_SUCCEEDED, job.state_message
            eventually(lambda: store.xlen("shuniu:usage") >= 1, what="usage sent")
            biller = Biller(store, BillerConfig(block_ms=0))
            biller.ensure_group()
            while biller.step(block_ms=0):
                pass
            assert biller.outcomes == {"posted": 1}, biller.outcomes
            client.settlement.ClosePeriod(settlement_pb2.ClosePeriodRequest(
                request_id="close-1", period=period_of_ms(int(time.time() * 1000))), timeout=60)
            client.drain("ray-n4", reason="maintenance")
            # The drain is the last change made: once it is chained, so is everything before it.
            eventually(lambda: _kinds(client) >= _ALL_KINDS and "node.drain" in {e.action for e in _entries(client)},
                       timeout_s=60, what="every kind chained, the drain last")
            yield plane, client, job, grant, path
    finally:
        for agent in agents:
            agent.__exit__()
        store.close()


_ALL_KINDS = {P.AUDIT_KIND_NODE, P.AUDIT_KIND_PRODUCT, P.AUDIT_KIND_GRANT, P.AUDIT_KIND_JOB, P.AUDIT_KIND_DATA_ACCESS,
              P.AUDIT_KIND_EGRESS, P.AUDIT_KIND_USAGE_BATCH, P.AUDIT_KIND_POSTING, P.AUDIT_KIND_SETTLEMENT,
              P.AUDIT_KIND_NEGATIVE_LIST}


def _entries(client) -> list[audit_pb2.AuditEntry]:
    return list(client.audit.ListEntries(P.AuditServiceListEntriesRequest(page_size=1000), timeout=10).entries)


def _kinds(client) -> set[int]:
    return {e.kind for e in _entries(client)}


def test_a_real_flow_chains_every_kind_with_actions_and_no_data_values(story):
    _, client, _, _, path = story
    entries = _entries(client)
    actions = {e.action for e in entries}
    assert {"node.register", "node.drain", "negative_list.add", "product.register", "product.transition", "grant.apply",
            "job.transition", "data.access", "egress.release", "usage.received", "ledger.post",
            "settlement.close"} <= actions, actions
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    data = pq.read_table(path)
    values = {str(v) for column in ("credit_code", "kwh") for v in data.column(column).to_pylist()}
    leaked = [(e.seq, v) for e in entries for v in values if v in e.details_json]
    assert leaked == [], "raw data values in audit details"
    result = client.audit.VerifyChain(P.VerifyChainRequest(), timeout=30)
    assert result.ok and result.entries_checked == len(entries), result.detail


def test_trace_tells_the_job_story_from_grant_to_settlement(story):
    plane, client, job, grant, _ = story
    trace = client.audit.TraceJob(P.TraceJobRequest(job_id=job.job_id), timeout=10)
    actions = [e.action for e in trace.entries]
    assert actions[0] == "grant.apply" and {e.subject_id for e in trace.entries if e.kind == P.AUDIT_KIND_GRANT} == {grant.grant_id}
    assert [e.seq for e in trace.entries] == sorted(e.seq for e in trace.entries)
    for action in ("job.transition", "data.access", "egress.release", "usage.received", "ledger.post", "settlement.close"):
        assert action in actions, (action, actions)
    assert actions.index("data.access") < actions.index("ledger.post") < actions.index("settlement.close")
    access = next(e for e in trace.entries if e.action == "data.access")
    assert json.loads(access.details_json)["rows"] == 600 and access.actor == job.assigned_node_ids[0]
    states = [json.loads(e.details_json)["to"] for e in trace.entries if e.action == "job.transition"]
    assert states[0] == "JOB_STATE_PENDING" and states[-1] == "JOB_STATE_SUCCEEDED"
    shown = subprocess.run([sys.executable, "-m", "shuniu.cli", "audit", "trace", job.job_id, "--addr", plane.address],
                           capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "250"}, check=False)
    assert shown.returncode == 0 and "settlement.close" in shown.stdout and "data.access" in shown.stdout, shown.stderr
