"""Sandbox benchmark: start-up cold vs warm, completed jobs/s, rows/s through the pipe."""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa

from shuniu.nodes.sandbox.egress import EgressPolicy
from shuniu.nodes.sandbox.pool import SandboxPool
from shuniu.nodes.sandbox.runner import SandboxRunner
from shuniu.nodes.sandbox.types import SandboxLimits, SandboxStatus, aggregate_job

_POLICY = EgressPolicy(min_group_rows=1, max_rows=1_000_000)
_STREAM_ROWS = 1_000_000
_POOL_FILL_TIMEOUT_S = 30.0


def _table(rows: int, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({
        "city": pa.array(rng.integers(0, 18, rows)).cast(pa.string()),
        "kwh": rng.gamma(2.0, 500.0, rows),
    })  # fmt: skip


def _quantiles_ms(samples: list[float]) -> dict[str, float]:
    values = np.asarray(samples) * 1000.0
    return {"p50_ms": round(float(np.percentile(values, 50)), 2), "p99_ms": round(float(np.percentile(values, 99)), 2)}


def _run_checked(runner: SandboxRunner, table: pa.Table):
    outcome = runner.run(aggregate_job(["city"], [("kwh", "sum"), ("kwh", "mean")]), table, _POLICY)
    assert outcome.status is SandboxStatus.OK, outcome.reason
    return outcome


def run_sandbox_bench(jobs: int, pool_size: int) -> dict:
    """Measure start-up p50/p99 cold and warm, completed jobs/s both ways, and pipe rows/s."""
    if jobs < 1 or pool_size < 1:
        raise ValueError(f"jobs and pool_size must be >= 1, got {jobs} and {pool_size}")
    limits = SandboxLimits(wall_timeout_s=60.0)
    small = _table(10_000)

    cold = SandboxRunner(limits)
    started = time.perf_counter()
    cold_startups = [_run_checked(cold, small).metrics.startup_s for _ in range(jobs)]
    cold_jobs_per_s = jobs / (time.perf_counter() - started)

    with SandboxPool(pool_size, limits) as pool:
        warm = SandboxRunner(pool=pool)
        warm_startups = []
        for _ in range(jobs):  # the pool refilled between jobs: start-up of a ready sandbox
            pool.wait_full(_POOL_FILL_TIMEOUT_S)
            warm_startups.append(_run_checked(warm, small).metrics.startup_s)
        pool.wait_full(_POOL_FILL_TIMEOUT_S)
        started = time.perf_counter()
        loaded_startups = [_run_checked(warm, small).metrics.startup_s for _ in range(jobs)]
        warm_jobs_per_s = jobs / (time.perf_counter() - started)
        pool.wait_full(_POOL_FILL_TIMEOUT_S)
        big = _table(_STREAM_ROWS)
        streamed = _run_checked(warm, big).metrics

    in_process_started = time.perf_counter()
    big.group_by(["city"]).aggregate([("kwh", "sum"), ("kwh", "mean"), ([], "count_all")])
    in_process_s = time.perf_counter() - in_process_started
    return {
        "jobs": jobs,
        "pool_size": pool_size,
        "cold_startup": _quantiles_ms(cold_startups),
        "warm_startup": _quantiles_ms(warm_startups),
        "warm_startup_back_to_back": _quantiles_ms(loaded_startups),
        "cold_completed_jobs_per_s": round(cold_jobs_per_s, 1),
        "warm_completed_jobs_per_s": round(warm_jobs_per_s, 1),
        "stream_rows": _STREAM_ROWS,
        "stream_rows_per_s": round(streamed.rows_in / streamed.wall_s),
        "stream_bytes_in": streamed.bytes_in,
        "stream_job_wall_s": round(streamed.wall_s, 3),
        "in_process_aggregate_s": round(in_process_s, 3),
    }
