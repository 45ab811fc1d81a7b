"""The trusted runner on a node: one attempt of a job, from granted columns to a checked, metered result.

`run_job` is the entry point the scheduler's Ray task calls on the node chosen. It yields
b"started" once the run begins, then the serialized NodeRunResult. Usage of every run,
whatever its end, is spooled and sent to the usage stream before the result is returned.

The node's settings come from its environment (the raylet's, inherited by its workers):
SHUNIU_STATE_DIR for the usage spool and the node's usage-signing key (the one its agent
registered), SHUNIU_REDIS_URL for the usage stream.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pathlib
import threading
import time
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.ipc as ipc
import redis

from shuniu.nodes.answer_budget import bounds_of, clamp_to_bounds, entity_columns, granted_only
from shuniu.nodes.run_plan import RunPlan, plan_run
from shuniu.nodes.sandbox import SandboxOutcome, SandboxPool, SandboxRunner, SandboxStatus, read_granted_columns
from shuniu.nodes.sandbox import egress
from shuniu.nodes.sandbox.contract import OutputContract
from shuniu.nodes.sandbox.profile import profile_input
from shuniu.nodes.usage import UsageSender, UsageSpool
from shuniu.protos.usage_schema import RATED_QUANTITY_LIMITS
from shuniu.protos.v1 import jobs_pb2, runs_pb2
from shuniu.security import signing

STARTED = b"started"
_MAX_INPUT_ROWS = 100_000_000
_RULES = {
    egress.DENY_SMALL_GROUP: jobs_pb2.EGRESS_RULE_MIN_GROUP_SIZE,
    egress.DENY_SENSITIVE_COLUMN: jobs_pb2.EGRESS_RULE_SENSITIVE_COLUMN,
    egress.DENY_RAW_VALUE: jobs_pb2.EGRESS_RULE_RAW_VALUE_LEAK,
    egress.DENY_TOO_MANY_ROWS: jobs_pb2.EGRESS_RULE_ROW_CAP,
    egress.DENY_TOO_LARGE: jobs_pb2.EGRESS_RULE_SIZE_CAP,
    egress.DENY_MISSING_GROUP_ROWS: jobs_pb2.EGRESS_RULE_MIN_GROUP_SIZE,
    egress.DENY_NOT_BOOLEAN: jobs_pb2.EGRESS_RULE_NOT_BOOLEAN,
    egress.DENY_OUTPUT_TYPE: jobs_pb2.EGRESS_RULE_OUTPUT_TYPE,
    egress.DENY_OUTPUT_COLUMNS: jobs_pb2.EGRESS_RULE_OUTPUT_COLUMNS,
    egress.DENY_DISGUISED_VALUE: jobs_pb2.EGRESS_RULE_DISGUISED_VALUE_LEAK,
}
_FAILURES = {
    SandboxStatus.TIMEOUT: jobs_pb2.FAILURE_CATEGORY_TIMEOUT,
    SandboxStatus.KILLED: jobs_pb2.FAILURE_CATEGORY_RESOURCE_LIMIT,
    SandboxStatus.OVERSIZE: jobs_pb2.FAILURE_CATEGORY_RESOURCE_LIMIT,
    SandboxStatus.ERROR: jobs_pb2.FAILURE_CATEGORY_USER_ERROR,
}
# One warm sandbox per worker process (Ray reuses its workers), whatever the job's limits:
# the pool sets them on the waiting child when it hands it the job (sandbox/pool.py).
_pool: SandboxPool | None = None
_pool_lock = threading.Lock()


def _runner(plan: RunPlan) -> SandboxRunner:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = SandboxPool(1, plan.limits)
    return SandboxRunner(pool=_pool.with_limits(plan.limits))


def close_warm_sandbox() -> None:
    """Kill this process's idle sandbox (the next run starts a new pool)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.close()


def _table(output: pa.Table | None, plan: RunPlan) -> pa.Table | None:
    """The released table as the buyer asked for it: aggregate names, one answer per verify claim."""
    if output is None:
        return None
    if plan.renames:
        output = output.rename_columns([plan.renames.get(n, n) for n in output.column_names])
    if plan.claim_ids:
        answers: dict[str, bool] = {}
        for claim_id, holds in zip(plan.claim_ids, output.column("holds").to_pylist()):
            answers[claim_id] = answers.get(claim_id, False) or bool(holds)
        output = pa.table({"claim_id": list(answers), "holds": pa.array(list(answers.values()), pa.bool_())})
    return output


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _result(request: runs_pb2.NodeRunRequest, outcome: SandboxOutcome, plan: RunPlan) -> runs_pb2.NodeRunResult:
    m = outcome.metrics
    result = runs_pb2.NodeRunResult(job_id=request.job_id, attempt=request.attempt, reason=outcome.reason)
    result.metrics.CopyFrom(runs_pb2.RunMetrics(
        rows_in=m.rows_in, bytes_in=m.bytes_in, rows_out=m.rows_released, bytes_out=m.bytes_out,
        cpu_ms=round(m.cpu_s * 1000), peak_memory_mb=m.peak_memory_bytes >> 20, wall_ms=round(m.wall_s * 1000),
        startup_ms=round(m.startup_s * 1000)))
    now_ms = time.time_ns() // 1_000_000
    result.egress.checked_unix_ms = now_ms
    result.egress.dp_epsilon_spent_milli = m.epsilon_spent_milli
    if outcome.status is SandboxStatus.OK:
        table = _table(outcome.table, plan)
        result.output_ipc = _ipc(table)
        result.state = jobs_pb2.JOB_STATE_SUCCEEDED
        result.egress.released = True
        result.egress.output_rows, result.egress.output_bytes = table.num_rows, len(result.output_ipc)
        result.metrics.rows_out = table.num_rows
    elif outcome.status is SandboxStatus.EGRESS_DENIED:
        result.state = jobs_pb2.JOB_STATE_EGRESS_DENIED
        verdict = outcome.verdict
        result.egress.violations.add(rule=_RULES.get(verdict.code, jobs_pb2.EGRESS_RULE_UNSPECIFIED),
                                     detail=verdict.message)
        # No row or byte count of a withheld output: the job chooses them, so they could carry data.
    else:
        result.state = jobs_pb2.JOB_STATE_FAILED
        startup = outcome.reason.startswith("startup")
        result.failure_category = jobs_pb2.FAILURE_CATEGORY_SYSTEM_ERROR if startup else _FAILURES[outcome.status]
    return result


def _failed(request: runs_pb2.NodeRunRequest, category: int, reason: str) -> runs_pb2.NodeRunResult:
    return runs_pb2.NodeRunResult(job_id=request.job_id, attempt=request.attempt, state=jobs_pb2.JOB_STATE_FAILED,
                                  failure_category=category, reason=reason)


def usage_record(request: runs_pb2.NodeRunRequest, result: runs_pb2.NodeRunResult, started_ms: int,
                 ended_ms: int) -> dict:
    """The usage record of one run: compute on this node and data of its product (one product per job)."""
    m = result.metrics
    data = request.inputs[0]
    claims = len(request.spec.verify.claims) if request.spec.WhichOneof("args") == "verify" else 1
    return {
        "record_id": f"{request.job_id}-{request.attempt}-{request.node_id}", "job_id": request.job_id,
        "grant_id": request.spec.grant_id, "buyer_id": request.buyer_id, "node_id": request.node_id,
        "compute_center": request.compute_center, "product_id": data.product_id, "site": request.site,
        "tier": request.tier, "start_unix_ms": started_ms, "end_unix_ms": ended_ms, "cpu_ms": m.cpu_ms,
        "memory_mb_s": m.peak_memory_mb * m.wall_ms // 1000, "gpu_ms": 0, "rows": m.rows_in, "bytes": m.bytes_in,
        "calls": claims, "kind": request.spec.kind, "purpose": request.purpose,
        "price_version": data.price_version, "purpose_category": request.purpose_category,
        "compute_class": request.compute_class, "attempt": request.attempt, "peak_memory_mb": m.peak_memory_mb,
        "output_bytes": len(result.output_ipc), "queries": 1,
    }


def within_record_limits(record: dict) -> list[dict]:
    """The record as it is, or, when a rated quantity is over what one record may report
    (usage_schema.RATED_QUANTITY_LIMITS), as several records that add up to it. Lines are rated in
    exact milli-fen, so the parts cost what the whole would; the first keeps the record id and the
    quantities nobody rates, the k-th part is `<record_id>-part-<k>`."""
    parts = max(-(-record[name] // most) for name, most in RATED_QUANTITY_LIMITS.items())
    if parts <= 1:
        return [record]
    out = []
    for k in range(parts):
        part = {**record, **{name: min(most, max(0, record[name] - k * most)) for name, most in RATED_QUANTITY_LIMITS.items()}}
        if k:
            part.update(record_id=f"{record['record_id']}-part-{k + 1}", bytes=0, output_bytes=0)
        out.append(part)
    return out


@contextlib.contextmanager
def _spool_lock(directory: pathlib.Path) -> Iterator[None]:
    """One writer at a time per node's spool, across the raylet's worker processes.

    Opening a spool deletes the temporary files of writes cut short by a crash; without this
    lock, a run starting on another worker of the same node deleted the file a finishing run
    was about to rename, and that run failed after its work was done. The kernel releases
    the lock if the worker dies, so a crashed writer's leftovers are still cleaned up.
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.with_name(directory.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _emit_usage(request: runs_pb2.NodeRunRequest, result: runs_pb2.NodeRunResult, started_ms: int) -> None:
    state_dir = pathlib.Path(os.environ.get("SHUNIU_STATE_DIR", ".shuniu")).resolve()
    directory = state_dir / "spool" / request.node_id
    with _spool_lock(directory):
        spool = UsageSpool(directory, request.node_id)
        result.usage_batch_id = spool.append_records(within_record_limits(usage_record(request, result, started_ms,
                                                                                      time.time_ns() // 1_000_000)))
    url = os.environ.get("SHUNIU_REDIS_URL")
    if url:
        client = redis.Redis.from_url(url, socket_timeout=5)
        key = signing.load_or_create(signing.node_key_path(state_dir, request.node_id))
        try:
            UsageSender(spool, client, key=key).send_pending()  # leftovers of earlier runs go too
        except redis.RedisError:
            pass  # the spool keeps the batch; the next run or the agent's sender sends it
        finally:
            client.close()


def execute(request: runs_pb2.NodeRunRequest) -> runs_pb2.NodeRunResult:
    """Runs one attempt and returns how it ended (never raises for the job's own faults)."""
    if len(request.inputs) != 1:
        return _failed(request, jobs_pb2.FAILURE_CATEGORY_USER_ERROR, "a job reads exactly one product")
    data = request.inputs[0]
    try:
        plan = plan_run(request)
        table = read_granted_columns(data.paths, list(data.columns) + entity_columns(data), _MAX_INPUT_ROWS)
    except (ValueError, OSError, pa.ArrowException) as err:
        return _failed(request, jobs_pb2.FAILURE_CATEGORY_USER_ERROR, f"job_error: {err}")
    keys = plan.job.args.get("keys", ()) if plan.job.kind == "aggregate" else ()
    profile = profile_input(table, data.sensitive_columns, data.identifier_columns, plan.policy.min_leak_chars,
                            group_keys=keys)  # k counts people: the identifier is read for it, never sent in
    if plan.policy.dp_epsilon_milli:
        table = clamp_to_bounds(table, bounds_of(data))
    contract = OutputContract.from_arrow_types(plan.output_contract) if plan.output_contract else None
    outcome = _runner(plan).run(plan.job, granted_only(table, data.columns), plan.policy, profile, contract=contract)
    return _result(request, outcome, plan)


def run_job(payload: bytes) -> Iterator[bytes]:
    """Ray entry point: b"started", then the NodeRunResult; usage is spooled and sent in between."""
    request = runs_pb2.NodeRunRequest.FromString(payload)
    started_ms = time.time_ns() // 1_000_000
    yield STARTED
    result = execute(request)
    _emit_usage(request, result, started_ms)
    yield result.SerializeToString()


__all__ = ["STARTED", "close_warm_sandbox", "execute", "run_job", "usage_record", "within_record_limits"]
