"""A product replicated on several nodes of its data domain is read once: counts, usage and the bill follow its rows.

Real parts: the control plane, node agents on the session's Ray cluster, the sandbox on the
node, the usage stream, and the biller posting to the ledger.
"""

from __future__ import annotations

import os
import time

import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pytest
import redis
from conftest import AgentThread
from test_jobs import CAPACITY, NODES, PRICE, aggregate_spec, finished, power_spec, submit, write_power

from shuniu.market.billing import Biller, BillerConfig
from shuniu.market.ledger import LedgerStore
from shuniu.market.ledger.lines import read_lines
from shuniu.protos.usage_schema import USAGE_STREAM, batch_from_ipc
from shuniu.protos.v1 import catalog_pb2, common_pb2, grants_pb2, jobs_pb2
from shuniu.security import signing

ROWS = 600
PRICE_PER_ROW_FEN = 3
# ray-n1 (Zhengzhou) and ray-n3 (Xinyang) each hold a replica; a Xinyang anchor at T1 places on ray-n3.
REPLICAS = ["ray-n1", "ray-n3"]


@pytest.fixture
def replicated(ray_cluster, control_plane_factory, tmp_path, eventually):
    """A listed product whose one file is replicated on two domain nodes, priced per row, and a grant on it."""
    plane = control_plane_factory(ray_address=ray_cluster.address)
    # Each agent registers the usage key its node's Ray workers sign with, so that the biller takes their batches.
    state_dir = os.environ["SHUNIU_STATE_DIR"]
    agents = [AgentThread(plane.address, node_id, site, CAPACITY, price_card=PRICE, usage_public_key=signing.load_or_create(
        signing.node_key_path(state_dir, node_id)).public_raw).__enter__() for node_id, site in NODES.items()]
    try:
        with plane.client() as client:
            eventually(lambda: len(list(client.list_nodes())) == len(NODES), what="agents registered")
            path = write_power(tmp_path / "power.parquet", ROWS)
            spec = power_spec(path, ROWS, REPLICAS)
            del spec.files[:]
            spec.files.extend(catalog_pb2.ProductFile(node_id=n, path=path) for n in REPLICAS)
            spec.pricing.unit = catalog_pb2.PRICING_UNIT_PER_ROW
            spec.pricing.unit_price_fen = PRICE_PER_ROW_FEN
            product = client.catalog.RegisterProduct(
                catalog_pb2.RegisterProductRequest(request_id="reg-replicated", spec=spec), timeout=5).product
            eventually(lambda: client.catalog.GetProduct(catalog_pb2.GetProductRequest(
                product_id=product.product_id), timeout=5).product.state == catalog_pb2.PRODUCT_STATE_LISTED,
                timeout_s=20, what="product listed")
            grant = client.grants.ApplyGrant(grants_pb2.ApplyGrantRequest(request_id="apply-replicated",
                spec=grants_pb2.GrantSpec(
                    buyer_id="zz-bank", scenario="SME credit, Xinyang", purpose="energy-planning",
                    purpose_category=common_pb2.PURPOSE_CATEGORY_COMMERCIAL,
                    products=[common_pb2.ProductColumns(product_id=product.product_id,
                                                        columns=["credit_code", "city", "kwh"])],
                    job_kinds=[common_pb2.JOB_KIND_AGGREGATE], expires_unix_ms=int(time.time() * 1000) + 86_400_000,
                    limits=grants_pb2.GrantLimits(max_rows=100_000, max_calls=20, max_budget_fen=10_000_000),
                    egress=grants_pb2.EgressProfile(min_group_size=5, max_output_rows=100))), timeout=5).grant
            assert grant.state == grants_pb2.GRANT_STATE_APPROVED, grant.state_reason
        yield plane, product, grant
    finally:
        for agent in agents:
            agent.__exit__()


def _usage_records(store: redis.Redis, job_id: str) -> list[dict]:
    records = []
    for _, fields in store.xrange(USAGE_STREAM):
        batch, _ = batch_from_ipc(fields[b"arrow_ipc"])
        records += [r for r in batch.to_pylist() if r["job_id"] == job_id]
    return records


def _billed_lines(store: redis.Redis, job_id: str) -> list[dict]:
    ledger = LedgerStore(store)
    lines = [read_lines(ledger.lines(batch_id)) for batch_id in ledger.batch_order()]
    return [line for table in lines for line in table.filter(pc.equal(table.column("job_id"), job_id)).to_pylist()]


def test_a_replicated_product_is_read_once_and_billed_for_its_rows(replicated, redis_url, eventually):
    plane, product, grant = replicated
    with plane.client() as client:
        job = submit(client, aggregate_spec(grant, product), "sub-replicated")
        done = finished(client, job.job_id, eventually)
    assert done.state == jobs_pb2.JOB_STATE_SUCCEEDED, (done.state_reason, done.state_message, list(done.failures))
    assert list(done.assigned_node_ids) == ["ray-n3"]
    store = redis.Redis.from_url(redis_url)
    try:
        table = ipc.open_stream(store.get(done.result.result_ref)).read_all()
        records = eventually(lambda: _usage_records(store, job.job_id), timeout_s=20, what="the run's usage record")
        biller = Biller(store, BillerConfig(block_ms=0))
        biller.ensure_group()
        while biller.step(block_ms=0):
            pass
        billed = [(line["units"], line["data_fen"]) for line in _billed_lines(store, job.job_id) if line["data_fen"]]
        # Counted, metered and billed once per row, not once per replica: all three compared together,
        # so that a failure shows each of them.
        assert (sorted(table.column("count").to_pylist()), [r["rows"] for r in records], billed) == \
            ([ROWS // 3] * 3, [ROWS], [(ROWS, ROWS * PRICE_PER_ROW_FEN)])
        assert LedgerStore(store).check().ok
    finally:
        store.close()
