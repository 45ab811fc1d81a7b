"""Verification latency beside an aggregate's, on the local stack parts: `shuniu bench sandbox --answers`.

Starts a stack of its own (Redis, a Ray head hosting simulated nodes, the control plane, a
simulated fleet), lists a sensitive product with a verification policy and DP defaults, has an
operator approve a grant, then measures submit → answer as a buyer sees it: from SubmitJob to
the released result fetched with GetJobResult. Paced: one job at a time with a pause between
(an idle stack each time). Back to back: a few clients each submitting its next job as soon as
its last was answered. Each verify job makes one range claim about a different key, so the
per-key limit never refuses one; the grant's ε budget is set to cover every noisy aggregate.

The paced verify answers are also split by their answer (yes or no), to estimate how much the
latency says beyond the answer itself: the timing channel's bandwidth for a built-in kind.
"""

from __future__ import annotations

import concurrent.futures
import pathlib
import tempfile
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from shuniu.bench.lifecycle import _start_stack, _wait
from shuniu.client import Client
from shuniu.nodes.product_verify import content_sha256
from shuniu.protos.v1 import catalog_pb2, common_pb2, grants_pb2, jobs_pb2

_ROWS = 5_000
_WATCH_TIMEOUT_S = 900
_OPERATOR = (("shuniu-operator", "bench-operator"),)
_TERMINAL = {jobs_pb2.JOB_STATE_SUCCEEDED, jobs_pb2.JOB_STATE_FAILED, jobs_pb2.JOB_STATE_CANCELLED,
             jobs_pb2.JOB_STATE_EGRESS_DENIED}


def _table() -> pa.Table:
    rng = np.random.default_rng(5)
    return pa.table({"person_id": [f"P41{i:08d}" for i in range(_ROWS)],
                     "city": rng.choice(["zhengzhou", "luoyang", "kaifeng"], _ROWS),
                     "amount_fen": rng.integers(0, 2_000_000, _ROWS)})


def _product(root: pathlib.Path, domain: list[str], site: str) -> catalog_pb2.ProductSpec:
    path = root / "bench-claims.parquet"
    pq.write_table(_table(), path)
    spec = catalog_pb2.ProductSpec(
        holder_id="bench-holder", name="bench claims", category="health",
        grade=common_pb2.CLASSIFICATION_GRADE_SENSITIVE, home_site=site, domain_node_ids=domain,
        files=[catalog_pb2.ProductFile(node_id=domain[0], path=str(path))],
        schema=[catalog_pb2.Column(name="person_id", arrow_type="string"),
                catalog_pb2.Column(name="city", arrow_type="string"),
                catalog_pb2.Column(name="amount_fen", arrow_type="int64")],
        identifier_columns=["person_id"], row_count=_ROWS, content_sha256=content_sha256([str(path)]),
        allowed_purposes=["bench"], allowed_job_kinds=[common_pb2.JOB_KIND_AGGREGATE, common_pb2.JOB_KIND_VERIFY],
        pricing=catalog_pb2.Pricing(unit=catalog_pb2.PRICING_UNIT_PER_CALL, unit_price_fen=1,
                                    basis=catalog_pb2.PriceBasis(negotiated=catalog_pb2.NegotiatedBasis(
                                        agreement_ref="bench", party_ids=["bench-holder", "exchange"]))),
        privacy=catalog_pb2.PrivacyDefaults(epsilon_per_release_milli=100, bounds=[
            catalog_pb2.ColumnBounds(column="amount_fen", lower=0, upper=2_000_000)]),
        verification=catalog_pb2.VerificationPolicy(
            key_columns=["person_id"], max_claims_per_key=10, rules=[catalog_pb2.VerificationRule(
                column="amount_fen", operators=["in_range"], min_range_width=100_000)]))
    for right in ("holding", "processing_use", "product_operation"):
        getattr(spec.rights, right).holders.add(holder_id="bench-holder", share_bp=10_000)
    return spec


def _market(client: Client, root: pathlib.Path, node_ids: list[str], site: str) -> tuple[str, str]:
    product = client.catalog.RegisterProduct(catalog_pb2.RegisterProductRequest(
        request_id="bench-answers-product", spec=_product(root, node_ids, site)), timeout=10).product
    get = catalog_pb2.GetProductRequest(product_id=product.product_id)
    _wait(lambda: client.catalog.GetProduct(get, timeout=5).product.state == catalog_pb2.PRODUCT_STATE_UNDER_REVIEW,
          60, "product verified")
    client.catalog.ReviewProduct(catalog_pb2.ReviewProductRequest(
        request_id="bench-answers-review", product_id=product.product_id, approve=True,
        certificate_valid_until_unix_ms=int(time.time() * 1000) + 86_400_000), timeout=10, metadata=_OPERATOR)
    applied = client.grants.ApplyGrant(grants_pb2.ApplyGrantRequest(request_id="bench-answers-grant", spec=grants_pb2.GrantSpec(
        buyer_id="bench-buyer", scenario="verification benchmark", purpose="bench",
        purpose_category=common_pb2.PURPOSE_CATEGORY_COMMERCIAL,
        products=[common_pb2.ProductColumns(product_id=product.product_id, columns=["person_id", "city", "amount_fen"])],
        job_kinds=[common_pb2.JOB_KIND_AGGREGATE, common_pb2.JOB_KIND_VERIFY],
        expires_unix_ms=int(time.time() * 1000) + 86_400_000,
        limits=grants_pb2.GrantLimits(max_rows=10**12, max_calls=10**9, max_budget_fen=10**12,
                                      max_dp_epsilon_milli=10**9))), timeout=10).grant
    client.grants.ApproveGrant(grants_pb2.ApproveGrantRequest(
        request_id="bench-answers-approve", grant_id=applied.grant_id, note="benchmark"), timeout=10, metadata=_OPERATOR)
    return product.product_id, applied.grant_id


def _base(grant_id: str, product_id: str, kind: int) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(grant_id=grant_id, kind=kind, products=[common_pb2.ProductColumns(product_id=product_id)],
                            # 4 GiB of address space: a warm sandbox child has mapped over 1 GiB (pyarrow, numpy)
                            # by the time it sets its job's limits, and fails any job given less.
                            resources=common_pb2.Capacity(cpu_milli=100, memory_mb=4096), max_tier=common_pb2.TIER_T4,
                            price_cap_fen=1_000_000, max_runtime_s=120)


def verify_spec(grant_id: str, product_id: str, i: int) -> jobs_pb2.JobSpec:
    """One range claim about person i: amount in the lower half of its bounds (a yes for about half)."""
    spec = _base(grant_id, product_id, common_pb2.JOB_KIND_VERIFY)
    spec.verify.claims.add(claim_id="c", key_column="person_id", key_value=f"P41{i % _ROWS:08d}", column="amount_fen",
                           operator=jobs_pb2.CLAIM_OPERATOR_IN_RANGE, low="0", high="1000000")
    return spec


def aggregate_spec(grant_id: str, product_id: str, _: int) -> jobs_pb2.JobSpec:
    spec = _base(grant_id, product_id, common_pb2.JOB_KIND_AGGREGATE)
    spec.aggregate.group_by.append("city")
    spec.aggregate.aggregations.add(function=jobs_pb2.AGGREGATE_FUNCTION_SUM, column="amount_fen")
    return spec


def answer(client: Client, spec: jobs_pb2.JobSpec, request_id: str) -> tuple[float, pa.Table | None]:
    """Seconds from SubmitJob to the released result in hand, and that result (None unless it succeeded)."""
    started = time.perf_counter()
    job = client.jobs.SubmitJob(jobs_pb2.SubmitJobRequest(request_id=request_id, spec=spec), timeout=60).job
    # A loaded machine (two cores shared with other work) can hold a job for minutes: wait, and report it.
    for change in client.jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=job.job_id), timeout=_WATCH_TIMEOUT_S):
        job = change.job
        if job.state in _TERMINAL:
            break
    if job.state != jobs_pb2.JOB_STATE_SUCCEEDED:
        return time.perf_counter() - started, None
    raw = client.jobs.GetJobResult(jobs_pb2.GetJobResultRequest(job_id=job.job_id), timeout=30).arrow_ipc
    return time.perf_counter() - started, ipc.open_stream(raw).read_all()


def _paced(client: Client, make: Callable[[int], jobs_pb2.JobSpec], n: int, prefix: str, pause_s: float):
    out = []
    for i in range(n):
        out.append(answer(client, make(i), f"{prefix}-{i}"))
        time.sleep(pause_s)
    return out


def _back_to_back(address: str, make: Callable[[int], jobs_pb2.JobSpec], n: int, clients: int, prefix: str):
    def worker(w: int) -> list:
        with Client(address, timeout_s=60) as client:
            return [answer(client, make(i), f"{prefix}-{i}") for i in range(w, n, clients)]
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        return [r for rs in pool.map(worker, range(clients)) for r in rs]


def timing_bits(latencies: np.ndarray, secrets: np.ndarray, bins: int = 8) -> float:
    """Plug-in estimate of I(secret; latency) in bits, latency cut into `bins` equal-count bins.

    A plug-in estimate is biased upwards by about (bins - 1) / (2 n ln 2) bits: a figure near
    that bias means no measurable dependence.
    """
    edges = np.quantile(latencies, np.linspace(0, 1, bins + 1)[1:-1])
    cells = np.digitize(latencies, edges)
    joint = np.zeros((2, bins))
    np.add.at(joint, (secrets.astype(int), cells), 1)
    joint /= joint.sum()
    px, py = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log2(joint[nz] / (px @ py)[nz])).sum())


def _ms(runs) -> dict[str, float]:
    values = np.array([s for s, _ in runs]) * 1000
    return {"p50_ms": round(float(np.percentile(values, 50)), 1), "p99_ms": round(float(np.percentile(values, 99)), 1),
            "answered": sum(t is not None for _, t in runs), "jobs": len(runs)}


def run_answers_bench(paced_jobs: int, burst_jobs: int, clients: int, n_nodes: int = 4, pause_s: float = 0.2,
                      step: Callable[[str], None] = lambda _: None) -> dict:
    """Submit → answer p50/p99 of verify and aggregate jobs, paced and back to back, and the timing estimate."""
    with tempfile.TemporaryDirectory(prefix="shuniu-bench-answers-") as tmp:
        root = pathlib.Path(tmp)
        redis_server, ray_cluster, plane, agents, fleet, address = _start_stack(root, n_nodes, step)
        try:
            with Client(address, timeout_s=5) as client:
                plane.wait_for(client.serving, timeout_s=60, what="serving")
                agents.start()
                _wait(lambda: len(list(client.list_nodes())) >= n_nodes, 60, "fleet registered")
                step("listing a sensitive product and approving a grant")
                product_id, grant_id = _market(client, root, [s.node_id for s in fleet], fleet[0].site)

                def verify(i):
                    return verify_spec(grant_id, product_id, i)

                def aggregate(i):
                    return aggregate_spec(grant_id, product_id, i)

                step("warming up")
                _paced(client, verify, clients, "warm-v", 0)
                _paced(client, aggregate, clients, "warm-a", 0)
                results = {}
                for name, make, offset in (("verify", verify, 1_000), ("aggregate", aggregate, 0)):
                    step(f"{paced_jobs} {name} jobs paced ({pause_s:g} s apart)")
                    results[f"{name}_paced"] = _paced(client, lambda i, m=make, o=offset: m(o + i), paced_jobs,
                                                      f"paced-{name}", pause_s)
                    step(f"{burst_jobs} {name} jobs back to back from {clients} clients")
                    results[f"{name}_back_to_back"] = _back_to_back(
                        address, lambda i, m=make, o=offset: m(o + paced_jobs + i), burst_jobs, clients, f"b2b-{name}")
        finally:
            agents.stop()
            plane.stop()
            ray_cluster.stop()
            redis_server.stop()
    answered = [(s, t.column("holds")[0].as_py()) for s, t in results["verify_paced"] if t is not None]
    latencies, holds = np.array([s for s, _ in answered]), np.array([h for _, h in answered])
    jitter_ms = float(np.subtract(*np.percentile(latencies, [75, 25]))) * 1000
    return {**{k: _ms(v) for k, v in results.items()},
            "timing_bits_per_verify_answer": round(timing_bits(latencies, holds), 4),
            "timing_bits_bias": round(7 / (2 * len(latencies) * np.log(2)), 4),
            "verify_yes_answers": int(holds.sum()), "verify_paced_iqr_ms": round(jitter_ms, 1)}


def add_answer_figures(report, r: dict) -> None:
    """The verification and aggregate latencies into `report`, each verify figure beside the aggregate's."""
    for way, label in (("paced", "paced (one at a time)"), ("back_to_back", "back to back")):
        verify, aggregate = r[f"verify_{way}"], r[f"aggregate_{way}"]
        for q in ("p50", "p99"):
            report.add(f"verify submit → answer {q}, {label} (ratio: to the aggregate's)", verify[f"{q}_ms"], "ms",
                       aggregate[f"{q}_ms"])
    report.add("timing: bits a paced verify answer's latency says about its answer (plug-in, 8 bins)",
               r["timing_bits_per_verify_answer"], "bits", r["timing_bits_bias"])
    report.add("timing: interquartile range of paced verify latency", r["verify_paced_iqr_ms"], "ms")
