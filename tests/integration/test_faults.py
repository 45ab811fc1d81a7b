"""Faults with jobs in flight: a control plane killed during submits, a node agent killed, an agent partitioned.

Real parts throughout: control-plane processes, Redis, agents (threads, or an agent
process killed with SIGKILL), and the session's Ray cluster where jobs run in sandboxes.
The biller's crash and Redis's restart under billing are in test_billing_pipeline.py; the
control plane killed with a job running (requeued from Redis) is in test_jobs_restart.py.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import threading
import time

import grpc
import pytest
import redis
from conftest import AgentThread
from shuniu.protos.usage_schema import USAGE_STREAM, batch_from_ipc
from shuniu.protos.v1 import catalog_pb2, common_pb2, grants_pb2, jobs_pb2, nodes_pb2
from test_jobs import CAPACITY, NODES, PRICE, aggregate_spec, power_spec, write_power

S = jobs_pb2
TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
ROWS = 600
# A run long enough to be RUNNING when its node is lost; it ends by itself well within max_runtime_s.
SLOW_RUN = ("import time\nimport pyarrow as pa\n"
            "def run(table):\n"
            "    until = time.monotonic() + 4.0\n"
            "    while time.monotonic() < until:\n"
            "        pass\n"
            "    return pa.table({'rows': [table.num_rows]})\n")
TERMINAL = {S.JOB_STATE_SUCCEEDED, S.JOB_STATE_FAILED, S.JOB_STATE_CANCELLED, S.JOB_STATE_EGRESS_DENIED}


def list_market(plane, root: pathlib.Path, domain: list[str], eventually) -> tuple[catalog_pb2.Product, grants_pb2.Grant]:
    """Lists the power product on `domain` (its file on domain[0]) and approves a grant roomy enough for hundreds of jobs."""
    with plane.client() as client:
        eventually(lambda: {n.node_id for n in client.list_nodes()} >= set(domain), what="domain registered")
        product = client.catalog.RegisterProduct(catalog_pb2.RegisterProductRequest(
            request_id="reg-power", spec=power_spec(write_power(root / "power.parquet", ROWS), ROWS, domain)),
            timeout=5).product
        eventually(lambda: client.catalog.GetProduct(catalog_pb2.GetProductRequest(product_id=product.product_id),
                                                     timeout=5).product.state == catalog_pb2.PRODUCT_STATE_LISTED,
                   timeout_s=20, what="product listed")
        grant = client.grants.ApplyGrant(grants_pb2.ApplyGrantRequest(request_id="apply-power", spec=grants_pb2.GrantSpec(
            buyer_id="zz-bank", scenario="fault tests", purpose="energy-planning",
            purpose_category=common_pb2.PURPOSE_CATEGORY_COMMERCIAL,
            products=[common_pb2.ProductColumns(product_id=product.product_id, columns=["credit_code", "city", "kwh"])],
            job_kinds=[common_pb2.JOB_KIND_AGGREGATE, common_pb2.JOB_KIND_CUSTOM],
            expires_unix_ms=int(time.time() * 1000) + 86_400_000,
            limits=grants_pb2.GrantLimits(max_rows=10**9, max_calls=10_000, max_budget_fen=10**12))), timeout=5).grant
    assert grant.state == grants_pb2.GRANT_STATE_APPROVED, grant.state_reason
    return product, grant


def get_job(client, job_id: str) -> S.Job:
    return client.jobs.GetJob(S.GetJobRequest(job_id=job_id), timeout=5).job


# -- 1. kill -9 of the control plane while clients submit ------------------------------------------------


def _submit_until_answered(address: str, spec: S.JobSpec, request_ids: list[str], answered: dict[str, str],
                           retries: list[int]) -> None:
    """One client: each request id is retried (same id, same body) until the control plane answers it."""
    from shuniu.client import Client

    with Client(address, timeout_s=5) as client:
        for request_id in request_ids:
            while True:
                try:
                    job = client.jobs.SubmitJob(S.SubmitJobRequest(request_id=request_id, spec=spec), timeout=5).job
                    break
                except grpc.RpcError as err:
                    if err.code() not in TRANSIENT:
                        raise
                    retries.append(1)
                    time.sleep(0.05)
            answered[request_id] = job.job_id


def test_submits_retried_across_control_plane_kills_make_one_job_each_counted_once(control_plane_factory, redis_url,
                                                                                    tmp_path, eventually):
    plane = control_plane_factory()
    agents = [AgentThread(plane.address, node_id, site, CAPACITY, price_card=PRICE).__enter__()
              for node_id, site in NODES.items()]
    try:
        product, grant = list_market(plane, tmp_path, ["ray-n1", "ray-n3"], eventually)
        spec = aggregate_spec(grant, product, max_tier=common_pb2.TIER_T4)
        request_ids = [f"sub-{i:03d}" for i in range(160)]
        answered: dict[str, str] = {}
        retries: list[int] = []
        clients = [threading.Thread(target=_submit_until_answered, daemon=True,
                                    args=(plane.address, spec, request_ids[i::8], answered, retries)) for i in range(8)]
        for thread in clients:
            thread.start()
        for at in (30, 90):  # two crashes, each with submits in flight
            eventually(lambda at=at: len(answered) >= at, timeout_s=60, what=f"{at} submits answered")
            plane.kill()
            plane.start()  # same port, same Redis; the clients' channels reconnect
        for thread in clients:
            thread.join(120)
        assert not any(t.is_alive() for t in clients)
        with plane.client() as client:
            jobs = {job_id: get_job(client, job_id) for job_id in answered.values()}
    finally:
        for agent in agents:
            agent.__exit__()
    assert sorted(answered) == request_ids, "every submit was answered"
    assert retries, "no submit was in flight during a crash; the test proved nothing"
    assert len(set(answered.values())) == len(request_ids), "two request ids share a job"
    assert all(jobs[job_id].request_id == request_id for request_id, job_id in answered.items())
    store = redis.Redis.from_url(redis_url)
    stored = {k.decode().removeprefix("shuniu:job:") for k in store.scan_iter("shuniu:job:*")}
    assert stored == set(answered.values()), "a job lost, or a job no client was answered with"
    usage = store.hgetall(f"shuniu:grant-usage:{grant.grant_id}")
    assert (int(usage[b"calls"]), int(usage[b"rows"])) == (len(request_ids), len(request_ids) * ROWS), \
        "grant use counted once per job"


# -- 2 and 3: a node lost with jobs running on it ----------------------------------------------------------


@pytest.fixture
def ray_plane(ray_cluster, control_plane_factory):
    """A control plane on the Ray cluster with agents for ray-n1, ray-n2 and ray-n4; ray-n3 is the test's to play."""
    plane = control_plane_factory(ray_address=ray_cluster.address, suspect_after=1.0, down_after=2.0)
    agents = [AgentThread(plane.address, node_id, NODES[node_id], CAPACITY, price_card=PRICE).__enter__()
              for node_id in ("ray-n1", "ray-n2", "ray-n4")]
    try:
        yield plane
    finally:
        for agent in agents:
            agent.__exit__()


def _slow_jobs_running_on_n3(plane, product, grant, count: int, eventually) -> list[str]:
    """Submits `count` slow jobs (Xinyang anchor, any tier) and waits until each runs on ray-n3.

    ray-n1, the other node of the domain, is drained meanwhile so that the first attempts land
    on ray-n3, and undrained once they run there: it is where they must go when ray-n3 is lost.
    """
    spec = aggregate_spec(grant, product, kind=common_pb2.JOB_KIND_CUSTOM, max_tier=common_pb2.TIER_T4)
    spec.custom.CopyFrom(S.CustomArgs(source=SLOW_RUN))
    with plane.client() as client:
        client.drain("ray-n1", reason="first attempts on ray-n3")
        ids = [client.jobs.SubmitJob(S.SubmitJobRequest(request_id=f"slow-{i}", spec=spec), timeout=10).job.job_id
               for i in range(count)]
        for job_id in ids:
            eventually(lambda job_id=job_id: get_job(client, job_id).state == S.JOB_STATE_RUNNING, timeout_s=60, what="running")
            assert list(get_job(client, job_id).assigned_node_ids) == ["ray-n3"]
        client.undrain("ray-n1")
    return ids


def _ended(plane, job_ids: list[str], eventually) -> dict[str, S.Job]:
    with plane.client() as client:
        return {j: eventually(lambda j=j: (job := get_job(client, j)).state in TERMINAL and job, timeout_s=120,
                              what=f"job {j} ended") for j in job_ids}


def _transitions(store: redis.Redis, job_id: str) -> list[str]:
    names = S.JobState.Name
    return [names(int(f[b"to"])).removeprefix("JOB_STATE_") for _, f in store.xrange("shuniu:events:jobs")
            if f[b"job_id"].decode() == job_id]


def _usage_attempts(store: redis.Redis, job_id: str) -> list[tuple[int, str]]:
    """(attempt, node) of every usage record of the job on the usage stream, each batch counted once.

    Sending is at least once: the run's own send and its node's sender may both append a spooled
    batch, and the biller posts a batch id once. A record in two different batches would be metered twice."""
    found = []
    batches = {fields[b"batch_id"]: fields for _, fields in store.xrange(USAGE_STREAM)}
    for fields in batches.values():
        batch, _ = batch_from_ipc(fields[b"arrow_ipc"])
        for row in batch.to_pylist():
            if row["job_id"] == job_id:
                found.append((row["attempt"], row["node_id"]))
    return sorted(found)


def _assert_requeued_in_domain_and_done_once(store, jobs: dict[str, S.Job], lost_after_ms: int, eventually) -> None:
    for job_id, job in jobs.items():
        assert job.state == S.JOB_STATE_SUCCEEDED, (job.state_reason, job.state_message)
        assert job.attempt == 2, [(S.FailureCategory.Name(f.category), f.node_id, f.attempt, f.message) for f in job.failures]
        (failure,) = job.failures
        assert (failure.category, failure.node_id, failure.attempt) == (S.FAILURE_CATEGORY_NODE_DOWN, "ray-n3", 1)
        assert failure.failed_unix_ms >= lost_after_ms, "requeued before the down grace passed"
        # Within its domain (ray-n1, ray-n3): never ray-n2 or ray-n4, though both are within the tier.
        assert list(job.assigned_node_ids) == ["ray-n1"]
        assert _transitions(store, job_id) == [
            "PENDING", "ADMITTED", "SCHEDULED", "RUNNING", "ADMITTED", "SCHEDULED", "RUNNING", "SUCCEEDED"], \
            "runs once to completion"
        # The attempt on the lost node was stopped through Ray before its sandbox finished: only the
        # attempt that completed is metered.
        eventually(lambda job_id=job_id: _usage_attempts(store, job_id), timeout_s=20, what="usage of the completed attempt")
        time.sleep(1.0)
        assert _usage_attempts(store, job_id) == [(2, "ray-n1")]


# The node agent of `shuniu node join`, in a process of its own, reporting a fixed load: `node join`
# reports this machine's load average, which other work on two shared cores can push past 1 (no free CPU).
_AGENT = """
import asyncio, sys, grpc
from shuniu.nodes.agent import NodeAgent, NodeSpec
from shuniu.protos.v1 import common_pb2
spec = NodeSpec("ray-n3", "xinyang", common_pb2.COMPUTE_CLASS_GENERAL, common_pb2.Capacity(cpu_milli=8000, memory_mb=16384),
                price_card=common_pb2.PriceCard(cpu_core_hour_fen=12, memory_gb_hour_fen=1))
async def main():
    async with grpc.aio.insecure_channel(sys.argv[1]) as channel:
        await NodeAgent(spec, channel, load=lambda: 0.1, interval_s=0.2).run(asyncio.Event())
asyncio.run(main())
"""


def _agent_process(address: str, log: pathlib.Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-c", _AGENT, address], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def test_a_killed_agent_s_running_jobs_requeue_in_their_domain_and_complete_once(ray_plane, redis_url, tmp_path,
                                                                                 eventually):
    agent = _agent_process(ray_plane.address, tmp_path / "agent-ray-n3.log")
    try:
        product, grant = list_market(ray_plane, tmp_path, ["ray-n1", "ray-n3"], eventually)
        job_ids = _slow_jobs_running_on_n3(ray_plane, product, grant, 2, eventually)
        killed_ms = int(time.time() * 1000)
        agent.kill()  # SIGKILL: the node's heartbeats stop mid-stream, its jobs still running
        agent.wait()
        jobs = _ended(ray_plane, job_ids, eventually)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    with ray_plane.client() as client:
        assert client.get_node("ray-n3").state == nodes_pb2.NODE_STATE_DOWN
    store = redis.Redis.from_url(redis_url)
    # down_after is 2 s; the last heartbeat left up to one interval (0.2 s) before the kill.
    _assert_requeued_in_domain_and_done_once(store, jobs, killed_ms + 1_600, eventually)


class PartitionedNode:
    """Plays ray-n3's agent by hand with unary heartbeats, so that its heartbeats can be held back and resumed."""

    def __init__(self, plane) -> None:
        from shuniu.client import Client

        self.client = Client(plane.address, timeout_s=5)
        self.epoch = self.client.register(nodes_pb2.RegisterRequest(
            request_id="reg-n3", node_id="ray-n3", site="xinyang", compute_class=common_pb2.COMPUTE_CLASS_GENERAL,
            capacity=CAPACITY, price_card=common_pb2.PriceCard(cpu_core_hour_fen=12, memory_gb_hour_fen=1))).epoch
        self.partitioned = threading.Event()
        self.stop = threading.Event()
        self.seq = 0
        self.thread = threading.Thread(target=self._beat, daemon=True)
        self.thread.start()

    def beat(self, epoch: int) -> nodes_pb2.HeartbeatResponse:
        self.seq += 1
        return self.client.nodes.HeartbeatOnce(nodes_pb2.HeartbeatOnceRequest(heartbeat=nodes_pb2.HeartbeatRequest(
            node_id="ray-n3", epoch=epoch, seq=self.seq, load=0.1, free=CAPACITY)), timeout=5).ack

    def _beat(self) -> None:
        while not self.stop.wait(0.2):
            if not self.partitioned.is_set():
                self.beat(self.epoch)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.client.close()


def test_a_partitioned_agent_is_fenced_on_return_and_no_job_completes_twice(ray_plane, redis_url, tmp_path,
                                                                            eventually):
    node = PartitionedNode(ray_plane)
    try:
        product, grant = list_market(ray_plane, tmp_path, ["ray-n1", "ray-n3"], eventually)
        job_ids = _slow_jobs_running_on_n3(ray_plane, product, grant, 1, eventually)
        partitioned_ms = int(time.time() * 1000)
        node.partitioned.set()
        with ray_plane.client() as client:
            eventually(lambda: client.get_node("ray-n3").state == nodes_pb2.NODE_STATE_DOWN, timeout_s=10, what="DOWN")
        # Back, with the epoch it had: told it is DOWN (register again), and its heartbeat changes nothing.
        ack = node.beat(node.epoch)
        assert ack.state == nodes_pb2.NODE_STATE_DOWN
        with ray_plane.client() as client:
            assert client.get_node("ray-n3").state == nodes_pb2.NODE_STATE_DOWN
            again = client.register(nodes_pb2.RegisterRequest(
                request_id="reg-n3-again", node_id="ray-n3", site="xinyang",
                compute_class=common_pb2.COMPUTE_CLASS_GENERAL, capacity=CAPACITY))
        assert again.epoch == node.epoch + 1
        with pytest.raises(grpc.RpcError) as fenced:
            node.beat(node.epoch)  # the old epoch after the new registration: fenced for good
        assert fenced.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "fenced" in fenced.value.details()
        jobs = _ended(ray_plane, job_ids, eventually)
    finally:
        node.close()
    store = redis.Redis.from_url(redis_url)
    _assert_requeued_in_domain_and_done_once(store, jobs, partitioned_ms + 1_600, eventually)
