"""Sandbox benchmark: start-up (warm pool vs cold), rows/s through the pipe, sandbox vs in-process, egress profile cost."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shuniu.nodes.sandbox.egress import EgressPolicy, check_egress
from shuniu.nodes.sandbox.pool import SandboxPool
from shuniu.nodes.sandbox.profile import profile_input
from shuniu.nodes.sandbox.runner import SandboxRunner
from shuniu.nodes.sandbox.types import SandboxLimits, SandboxStatus, aggregate_job, custom_job

_POLICY = EgressPolicy(min_group_rows=1, max_rows=1_000_000)
_POOL_FILL_TIMEOUT_S = 60.0
_AGGREGATIONS = [("kwh", "sum"), ("kwh", "mean"), ("kwh", "p90")]
# Reads the whole stream and answers one number: the job costs nothing beside the transfer.
_COUNT_ROWS = "import pyarrow as pa\ndef run(table):\n    return pa.table({'rows': [float(table.num_rows) + 0.5]})\n"


def synthetic_table(rows: int, seed: int = 7) -> pa.Table:
    """Electricity use by city: one string key, one float measure, one identifier."""
    rng = np.random.default_rng(seed)
    return pa.table({
        "city": pa.array(rng.integers(0, 18, rows)).cast(pa.string()),
        "kwh": rng.gamma(2.0, 500.0, rows),
    })  # fmt: skip


def _quantiles_ms(samples: list[float]) -> dict[str, float]:
    values = np.asarray(samples) * 1000.0
    return {"p50_ms": round(float(np.percentile(values, 50)), 2), "p99_ms": round(float(np.percentile(values, 99)), 2)}


def _run_checked(runner: SandboxRunner, job, table: pa.Table):
    outcome = runner.run(job, table, _POLICY)
    assert outcome.status is SandboxStatus.OK, outcome.reason
    return outcome


def _in_process_aggregate(table: pa.Table) -> float:
    """The same aggregate and egress check with no sandbox: the baseline of the overhead figure."""
    import pyarrow.compute as pc

    started = time.perf_counter()
    specs = [("kwh", "sum"), ("kwh", "mean"), ("kwh", "tdigest", pc.TDigestOptions(q=[0.9], delta=500)), ([], "count_all")]
    grouped = table.group_by(["city"]).aggregate(specs).rename_columns(["city", "s", "m", "q", "__group_rows"])
    check_egress(grouped, profile_input(table, [], []), _POLICY)
    return time.perf_counter() - started


def _profile_cost_s(values: int) -> float:
    identifiers = pa.table({"id_number": np.arange(410102198001010000, 410102198001010000 + values, dtype=np.int64)})
    started = time.perf_counter()
    profile_input(identifiers, ["id_number"], [])
    return time.perf_counter() - started


def run_sandbox_bench(jobs: int, pool_size: int, stream_rows: int, step: Callable[[str], None] = lambda _: None) -> dict:
    """Start-up p50/p99 cold and warm, rows/s into a sandbox, sandbox vs in-process aggregate, profile cost."""
    if jobs < 1 or pool_size < 1 or stream_rows < 1:
        raise ValueError(f"jobs, pool_size and stream_rows must be >= 1, got {jobs}, {pool_size}, {stream_rows}")
    limits = SandboxLimits(wall_timeout_s=120.0, cpu_s=120, memory_bytes=4 << 30)
    small, big = synthetic_table(10_000), synthetic_table(stream_rows)
    aggregate = aggregate_job(["city"], _AGGREGATIONS)

    step(f"{jobs} cold starts")
    cold = SandboxRunner(limits)
    started = time.perf_counter()
    cold_startups = [_run_checked(cold, aggregate, small).metrics.startup_s for _ in range(jobs)]
    cold_jobs_per_s = jobs / (time.perf_counter() - started)

    with SandboxPool(pool_size, limits) as pool:
        warm = SandboxRunner(pool=pool)
        step(f"{jobs} warm starts")
        warm_startups = []
        for _ in range(jobs):  # the pool refilled between jobs: start-up of a ready sandbox
            pool.wait_full(_POOL_FILL_TIMEOUT_S)
            warm_startups.append(_run_checked(warm, aggregate, small).metrics.startup_s)
        pool.wait_full(_POOL_FILL_TIMEOUT_S)
        started = time.perf_counter()
        for _ in range(jobs):
            _run_checked(warm, aggregate, small)
        warm_jobs_per_s = jobs / (time.perf_counter() - started)

        step(f"streaming {stream_rows:,} rows")
        pool.wait_full(_POOL_FILL_TIMEOUT_S)
        streamed = _run_checked(warm, custom_job(_COUNT_ROWS), big).metrics
        step("the same aggregate in a sandbox and in-process")
        pool.wait_full(_POOL_FILL_TIMEOUT_S)
        started = time.perf_counter()
        _run_checked(warm, aggregate, big)
        sandbox_aggregate_s = time.perf_counter() - started
    in_process_s = min(_in_process_aggregate(big) for _ in range(3))
    step("egress profile of 1,000,000 identifiers")
    profile_s = min(_profile_cost_s(1_000_000) for _ in range(3))
    return {
        "cold_startup": _quantiles_ms(cold_startups),
        "warm_startup": _quantiles_ms(warm_startups),
        "cold_completed_jobs_per_s": round(cold_jobs_per_s, 1),
        "warm_completed_jobs_per_s": round(warm_jobs_per_s, 1),
        "stream_rows_per_s": round(streamed.rows_in / streamed.wall_s),
        "stream_bytes_per_s": round(streamed.bytes_in / streamed.wall_s),
        "sandbox_aggregate_s": round(sandbox_aggregate_s, 4),
        "in_process_aggregate_s": round(in_process_s, 4),
        "profile_1m_identifiers_s": round(profile_s, 4),
    }


# ---- the output contract and leak check on a 1 M-row input (issue 18) ----------------------


def _leaky_input(rows: int, seed: int = 18) -> pa.Table:
    """A product with an identifier, an identity number and amounts (sensitive), a city and a measure."""
    rng = np.random.default_rng(seed)
    ids = pa.array(rng.choice(10**9, rows, replace=False)).cast(pa.string())
    return pa.table({
        "enterprise_id": pc.binary_join_element_wise("EID", ids, ""),
        "id_number": rng.integers(410100190001010000, 419999201012319999, rows),
        "amount_fen": rng.integers(10**5, 10**9, rows),
        "city": pa.array(rng.integers(0, 18, rows)).cast(pa.string()),
        "kwh": rng.gamma(2.0, 500.0, rows),
    })  # fmt: skip


def _best_s(fn: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def run_egress_bench(rows: int = 1_000_000, custom_rows: int = 10_000) -> dict:
    """Seconds (best of three) of the egress work on a `rows`-row input: today's raw-value check beside the
    contract and the disguise checks this issue added, for an aggregate's answer and a custom answer."""
    from shuniu.nodes.sandbox import disguises, egress, windows
    from shuniu.nodes.sandbox.contract import builtin_contract, conform

    table = _leaky_input(rows)
    sensitive, identifiers = ["id_number", "amount_fen"], ["enterprise_id"]
    profile = profile_input(table, sensitive, identifiers)
    leaky = [table.column(c) for c in sensitive + identifiers]
    policy = EgressPolicy(min_group_rows=5, max_rows=max(custom_rows, 1000))
    job = aggregate_job(["city"], _AGGREGATIONS)
    aggregate = table.group_by(["city"]).aggregate([("kwh", "sum"), ("kwh", "mean"), ("kwh", "max"), ([], "count_all")])
    aggregate = aggregate.rename_columns(["city", "kwh_sum", "kwh_mean", "kwh_p90", "__group_rows"])
    contract = builtin_contract(job, table.schema)
    rng = np.random.default_rng(3)
    custom = pa.table({"label": pc.binary_join_element_wise("c", pa.array(rng.integers(0, 10**6, custom_rows)).cast(pa.string()), ""),
                       "score": rng.random(custom_rows), "n": rng.integers(0, 1000, custom_rows),
                       "note": pa.array(["city total"] * custom_rows)})
    figures = {
        "profile_s": _best_s(lambda: profile_input(table, sensitive, identifiers)),
        "profile_added_s": _best_s(lambda: [(windows.input_window_hashes(c, profile.hash_key, 4),
                                             disguises.leak_lengths(c, 4)) for c in leaky]),
        "aggregate_check_s": _best_s(lambda: check_egress(aggregate, profile, policy, contract)),
        "aggregate_raw_check_s": _best_s(lambda: egress._check_raw_values(aggregate, profile)),
        "custom_check_s": _best_s(lambda: check_egress(custom, profile, policy)),
        "custom_raw_check_s": _best_s(lambda: egress._check_raw_values(custom, profile)),
        "custom_contract_s": _best_s(lambda: conform(custom, None)),
    }
    return {"rows": rows, "custom_rows": custom_rows, **{k: round(v, 4) for k, v in figures.items()}}
