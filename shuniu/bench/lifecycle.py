"""The end-to-end section of `shuniu bench scheduler`: jobs through gRPC, Redis, the scheduler, Ray and the sandbox.

Starts a stack of its own in a temporary directory (Redis, a Ray head hosting the simulated
nodes, the control plane, a simulated fleet), lists one product, approves one grant, then
submits jobs from concurrent clients. Latencies come from the job records the control
plane stamps (submitted, scheduled, started, finished), so client-side queueing is not
counted. Two figures are kept apart, as they measure different things on two cores:
the scheduler's own path (submit → SCHEDULED, dispatch to Ray included) and whole runs
(sandboxed jobs completed per second, bound by the CPU the sandboxes need).
"""

from __future__ import annotations

import concurrent.futures
import os
import pathlib
import tempfile
import threading
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shuniu.bench.report import Report
from shuniu.client import Client
from shuniu.nodes.product_verify import content_sha256
from shuniu.nodes.simulator import FleetPlan
from shuniu.protos.v1 import catalog_pb2, common_pb2, grants_pb2, jobs_pb2
from shuniu.stack import LocalRedis, ManagedProcess, free_port
from shuniu.stack.ray_cluster import LocalRayCluster

_TERMINAL = {jobs_pb2.JOB_STATE_SUCCEEDED, jobs_pb2.JOB_STATE_FAILED, jobs_pb2.JOB_STATE_CANCELLED,
             jobs_pb2.JOB_STATE_EGRESS_DENIED}
_ROWS = 2_000


def _product(root: pathlib.Path, domain: list[str], site: str) -> catalog_pb2.ProductSpec:
    path = root / "bench-power.parquet"
    rng = np.random.default_rng(3)
    pq.write_table(pa.table({"city": rng.choice(["zhengzhou", "luoyang", "kaifeng"], _ROWS),
                             "kwh": rng.uniform(100, 1000, _ROWS)}), path)
    spec = catalog_pb2.ProductSpec(
        holder_id="bench-holder", name="bench power use", category="energy",
        grade=common_pb2.CLASSIFICATION_GRADE_PUBLIC, home_site=site, domain_node_ids=domain,
        files=[catalog_pb2.ProductFile(node_id=domain[0], path=str(path))],
        schema=[catalog_pb2.Column(name="city", arrow_type="string"), catalog_pb2.Column(name="kwh", arrow_type="double")],
        row_count=_ROWS, content_sha256=content_sha256([str(path)]), allowed_purposes=["bench"],
        allowed_job_kinds=[common_pb2.JOB_KIND_AGGREGATE],
        pricing=catalog_pb2.Pricing(unit=catalog_pb2.PRICING_UNIT_PER_CALL, unit_price_fen=1,
                                    basis=catalog_pb2.PriceBasis(negotiated=catalog_pb2.NegotiatedBasis(
                                        agreement_ref="bench", party_ids=["bench-holder", "exchange"]))))
    for right in ("holding", "processing_use", "product_operation"):
        getattr(spec.rights, right).holders.add(holder_id="bench-holder", share_bp=10_000)
    return spec


def _wait(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout_s:g} s")
        time.sleep(0.1)


def _market(client: Client, root: pathlib.Path, node_ids: list[str], site: str) -> tuple[str, str]:
    product = client.catalog.RegisterProduct(catalog_pb2.RegisterProductRequest(
        request_id="bench-product", spec=_product(root, node_ids, site)), timeout=10).product
    _wait(lambda: client.catalog.GetProduct(catalog_pb2.GetProductRequest(product_id=product.product_id), timeout=5)
          .product.state == catalog_pb2.PRODUCT_STATE_LISTED, 60, "product listed")
    grant = client.grants.ApplyGrant(grants_pb2.ApplyGrantRequest(request_id="bench-grant", spec=grants_pb2.GrantSpec(
        buyer_id="bench-buyer", scenario="scheduler benchmark", purpose="bench",
        purpose_category=common_pb2.PURPOSE_CATEGORY_COMMERCIAL,
        products=[common_pb2.ProductColumns(product_id=product.product_id, columns=["city", "kwh"])],
        job_kinds=[common_pb2.JOB_KIND_AGGREGATE], expires_unix_ms=int(time.time() * 1000) + 86_400_000,
        limits=grants_pb2.GrantLimits(max_rows=10**12, max_calls=10**9, max_budget_fen=10**12))), timeout=10).grant
    return product.product_id, grant.grant_id


def _job(grant_id: str, product_id: str) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(
        grant_id=grant_id, kind=common_pb2.JOB_KIND_AGGREGATE,
        products=[common_pb2.ProductColumns(product_id=product_id)],
        aggregate=jobs_pb2.AggregateArgs(group_by=["city"], aggregations=[
            jobs_pb2.Aggregation(function=jobs_pb2.AGGREGATE_FUNCTION_SUM, column="kwh")]),
        resources=common_pb2.Capacity(cpu_milli=100, memory_mb=256), max_tier=common_pb2.TIER_T4,
        price_cap_fen=1_000_000, max_runtime_s=120)


def _submit_all(address: str, spec: jobs_pb2.JobSpec, n_jobs: int, clients: int, prefix: str) -> list[str]:
    """Submits from `clients` threads, each a client with one channel kept for all its submits (as a real client)."""
    local = threading.local()
    opened: list[Client] = []
    lock = threading.Lock()

    def one(i: int) -> str:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = Client(address, timeout_s=60)
            with lock:
                opened.append(client)
        return client.jobs.SubmitJob(jobs_pb2.SubmitJobRequest(request_id=f"{prefix}-{i}", spec=spec),
                                     timeout=60).job.job_id
    try:
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            return list(pool.map(one, range(n_jobs)))
    finally:
        for client in opened:
            client.close()


def _finished_jobs(client: Client, n_jobs: int, timeout_s: float) -> list[jobs_pb2.Job]:
    deadline = time.monotonic() + timeout_s
    while True:
        jobs, token = [], ""
        while True:
            page = client.jobs.ListJobs(jobs_pb2.ListJobsRequest(page_size=1000, page_token=token), timeout=30)
            jobs += page.jobs
            token = page.next_page_token
            if not token:
                break
        if len(jobs) >= n_jobs and all(j.state in _TERMINAL for j in jobs):
            return jobs
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sum(j.state in _TERMINAL for j in jobs)} of {n_jobs} jobs ended within {timeout_s} s")
        time.sleep(2.0)  # listing thousands of jobs costs the control plane: not too often


def _start_stack(root: pathlib.Path, n_nodes: int, step: Callable[[str], None]):
    redis_server = LocalRedis(root / "redis").start()
    fleet = FleetPlan(count=n_nodes, mix={common_pb2.COMPUTE_CLASS_GENERAL: 1}, seed=11).specs()
    os.environ.update({"SHUNIU_STATE_DIR": str(root), "SHUNIU_REDIS_URL": redis_server.url})
    step(f"starting Ray hosting {n_nodes} nodes")
    ray_cluster = LocalRayCluster(root / "ray").start([s.node_id for s in fleet])
    address = f"127.0.0.1:{free_port()}"
    plane = ManagedProcess("control-plane", ["control-plane", "--listen", address, "--ray-address", ray_cluster.address,
                                             "--interval", "2", "--suspect-after", "10", "--down-after", "20"],
                           root / "logs", env={"REDIS_URL": redis_server.url, **ray_cluster.env}).start()
    agents = ManagedProcess("fleet", ["node", "simulate", "--count", str(n_nodes), "--mix", "general=1", "--seed", "11",
                                      "--interval", "2", "--addr", address], root / "logs")
    return redis_server, ray_cluster, plane, agents, fleet, address


def _one_at_a_time(client: Client, spec: jobs_pb2.JobSpec, n_jobs: int) -> list[jobs_pb2.Job]:
    """Each job submitted once the one before ended: latency on a warm, otherwise idle stack."""
    done = []
    for i in range(n_jobs):
        job = client.jobs.SubmitJob(jobs_pb2.SubmitJobRequest(request_id=f"solo-{i}", spec=spec), timeout=30).job
        for change in client.jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=job.job_id), timeout=120):
            job = change.job
        done.append(job)
    return done


def lifecycle_section(report: Report, n_jobs: int, n_nodes: int, step: Callable[[str], None],
                      clients: int = 16, solo_jobs: int = 50) -> None:
    """Adds submit → SCHEDULED / RUNNING latencies (one job at a time) and jobs/s under a burst."""
    with tempfile.TemporaryDirectory(prefix="shuniu-bench-") as tmp:
        root = pathlib.Path(tmp)
        redis_server, ray_cluster, plane, agents, fleet, address = _start_stack(root, n_nodes, step)
        try:
            with Client(address, timeout_s=5) as client:
                plane.wait_for(client.serving, timeout_s=60, what="serving")
                agents.start()
                _wait(lambda: len(list(client.list_nodes())) >= n_nodes, 60, "fleet registered")
                step("listing a product and approving a grant")
                product_id, grant_id = _market(client, root, [s.node_id for s in fleet], fleet[0].site)
                spec = _job(grant_id, product_id)
                step(f"warming up: {clients} jobs")
                _submit_all(address, spec, clients, clients, "warm")
                _finished_jobs(client, clients, 300)
                step(f"{solo_jobs} jobs one at a time")
                solo = _one_at_a_time(client, spec, solo_jobs)
                step(f"a burst of {n_jobs:,} jobs from {clients} clients")
                started = time.time()
                _submit_all(address, spec, n_jobs, clients, "burst")
                submit_s = time.time() - started
                step(f"waiting for {n_jobs:,} jobs to end")
                burst = [j for j in _finished_jobs(client, clients + solo_jobs + n_jobs, 3600)
                         if j.request_id.startswith("burst-")]
        finally:
            agents.stop()
            plane.stop()
            ray_cluster.stop()
            redis_server.stop()
    _figures(report, solo, burst, submit_s, n_nodes, clients)


def _percentiles_ms(jobs: list[jobs_pb2.Job], field: str) -> tuple[float, float]:
    values = np.array([getattr(j, field) - j.submitted_unix_ms for j in jobs if getattr(j, field)], dtype=np.float64)
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def _figures(report: Report, solo: list[jobs_pb2.Job], burst: list[jobs_pb2.Job], submit_s: float, n_nodes: int,
             clients: int) -> None:
    first = min(j.submitted_unix_ms for j in burst)
    ran = [j for j in burst if j.scheduled_unix_ms]
    span_scheduled_s = max(1e-3, (max(j.scheduled_unix_ms for j in ran) - first) / 1000)
    span_finished_s = (max(j.finished_unix_ms for j in burst) - first) / 1000
    report.params.update(lifecycle_jobs=len(burst), lifecycle_nodes=n_nodes, lifecycle_clients=clients,
                         one_at_a_time_jobs=len(solo),
                         succeeded=sum(j.state == jobs_pb2.JOB_STATE_SUCCEEDED for j in solo + burst))
    for label, field in (("SCHEDULED (placed, dispatched to Ray)", "scheduled_unix_ms"),
                         ("RUNNING (the sandbox run began)", "started_unix_ms")):
        p50, p99 = _percentiles_ms(solo, field)
        report.add(f"submit → {label} p50, one job at a time", p50, "ms")
        report.add(f"submit → {label} p99, one job at a time", p99, "ms", goal="< 100 ms on a warm stack",
                   met=p99 < 100)
    p50, p99 = _percentiles_ms(burst, "scheduled_unix_ms")
    report.add("submit → SCHEDULED p50 under the burst", p50, "ms")
    report.add("submit → SCHEDULED p99 under the burst", p99, "ms")
    report.add("jobs admitted per second (SubmitJob over gRPC)", len(burst) / submit_s, "jobs/s")
    report.add("jobs scheduled per second, end to end", len(ran) / span_scheduled_s, "jobs/s", 500.0,
               goal="≥ 500 jobs/s (Slurm's published figure, the baseline)", met=len(ran) / span_scheduled_s >= 500)
    report.add("sandboxed jobs completed per second (CPU bound)", len(burst) / span_finished_s, "jobs/s")
