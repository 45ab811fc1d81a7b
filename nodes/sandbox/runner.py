"""The trusted side of a sandboxed job: granted columns in, checked output out."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import time
from collections.abc import Iterable, Sequence

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.ipc as ipc

from shuniu.monitoring import metrics as prom
from shuniu.nodes.sandbox import _launch
from shuniu.nodes.sandbox._process import Exchange, SandboxProcess
from shuniu.nodes.sandbox.contract import OutputContract, builtin_contract
from shuniu.nodes.sandbox.egress import DENY_OUTPUT_TYPE, EgressPolicy, EgressVerdict, check_egress
from shuniu.nodes.sandbox.profile import InputProfile, profile_input
from shuniu.nodes.sandbox.types import (
    SandboxJob,
    SandboxLimits,
    SandboxMetrics,
    SandboxOutcome,
    SandboxStatus,
)

# Exit codes of the child program (see _child.py), as messages that hold no data. Custom code
# may exit with any status it likes, so for it every one of these reads the same, and no
# reason ever quotes a status: its digits would be the job's to choose.
CHILD_EXIT_REASONS = {
    10: "bad_header: the job header was not valid JSON with a kind",
    11: "bad_input: the input was not an Arrow IPC stream",
    12: "no_run: custom code does not define run(table)",
    13: "user_error: custom code raised an exception",
    14: "bad_result: run(table) did not return a pyarrow.Table",
    15: "memory_limit: the job ran out of its memory limit",
    16: "job_error: the job's arguments do not fit the input (unknown column or type)",
}
CUSTOM_FAILURE = "user_error: the custom code failed; its output, stderr and exception are not returned"
_EXIT_MEMORY = 15
_SIGNAL_BASE = 128  # bwrap exits 128 + n when the child died of signal n
_SIGXCPU = 24
_SIGKILL = 9
_SIGSEGV = 11
_labels = itertools.count()


def read_granted_columns(paths: Sequence[str | os.PathLike], columns: Sequence[str], max_rows: int) -> pa.Table:
    """Read Parquet files projecting only `columns`, at most `max_rows` rows; unknown columns raise."""
    if max_rows < 0:
        raise ValueError(f"max_rows must be >= 0, got {max_rows}")
    dataset = ds.dataset([os.fspath(p) for p in paths], format="parquet")
    unknown = [c for c in columns if c not in dataset.schema.names]
    if unknown:
        raise ValueError(f"column(s) {unknown} not in the data; expected some of {dataset.schema.names}")
    return dataset.head(max_rows, columns=list(columns)) if max_rows else dataset.schema.empty_table().select(list(columns))


def new_label() -> str:
    """A tag on the child's command line, so that tests and operators can find its processes."""
    return f"shuniu-sandbox-{os.getpid()}-{next(_labels)}"


def sandbox_pids(label_prefix: str = "shuniu-sandbox-") -> list[int]:
    """Host pids of live processes whose command line carries a sandbox label starting with `label_prefix`."""
    needle = label_prefix.encode()
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                if needle in handle.read():
                    pids.append(int(entry.name))
        except OSError:
            continue  # exited while we looked
    return pids


def wait_sandboxes_gone(label_prefix: str, timeout_s: float) -> list[int]:
    """Wait until no process carries a label starting with `label_prefix`; return those still alive."""
    deadline = time.monotonic() + timeout_s
    while (alive := sandbox_pids(label_prefix)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def _failure(exchange: Exchange, kind: str) -> tuple[SandboxStatus, str] | None:
    if exchange.killed_for == "timeout":
        return SandboxStatus.TIMEOUT, "wall_timeout: the job ran past its wall-clock limit"
    if exchange.killed_for == "oversize":
        return SandboxStatus.OVERSIZE, "oversize: the output passed max_output_bytes"
    code = exchange.exit_code
    if code == 0:
        return None
    if code == _EXIT_MEMORY:
        return SandboxStatus.KILLED, CHILD_EXIT_REASONS[code]
    if code in (_SIGNAL_BASE + _SIGXCPU, _SIGNAL_BASE + _SIGKILL):
        return SandboxStatus.KILLED, "cpu_limit: the child was killed, most likely at its CPU time limit"
    if code == _SIGNAL_BASE + _SIGSEGV:
        return SandboxStatus.KILLED, "memory_limit: the child crashed, most likely out of memory"
    if kind == "custom":
        return SandboxStatus.ERROR, CUSTOM_FAILURE
    if code in CHILD_EXIT_REASONS:
        return SandboxStatus.ERROR, CHILD_EXIT_REASONS[code]
    return SandboxStatus.ERROR, "child_exit: the child exited with an unexpected status"


_LIMIT_STOPS = (SandboxStatus.TIMEOUT, SandboxStatus.KILLED, SandboxStatus.OVERSIZE)


def _counted(kind: str, outcome: SandboxOutcome) -> SandboxOutcome:
    """Counts the run for Prometheus: its outcome, the limit that stopped it, the egress rule that denied it."""
    prom.SANDBOX_RUNS.labels(kind, outcome.status.value).inc()
    if outcome.status in _LIMIT_STOPS:
        prom.SANDBOX_KILLS.labels(outcome.reason.split(":", 1)[0]).inc()  # wall_timeout, cpu_limit, memory_limit, oversize
    elif outcome.status is SandboxStatus.EGRESS_DENIED and outcome.verdict is not None:
        prom.EGRESS_DENIALS.labels(prom.egress_reason(outcome.verdict.code)).inc()
    return outcome


def policy_for_kind(kind: str, policy: EgressPolicy) -> EgressPolicy:
    """The grant's policy, tightened by what each kind may release."""
    if kind == "aggregate":  # groups under k are dropped, the rest released
        return dataclasses.replace(policy, require_group_rows=True, suppress_small_groups=True)
    if kind == "model":  # a model fitted on fewer than k rows is withheld whole
        return dataclasses.replace(policy, require_group_rows=True, suppress_small_groups=False)
    if kind == "verify":  # 核验: yes or no, never the value
        return dataclasses.replace(policy, booleans_only=True)
    return policy


class SandboxRunner:
    """Runs jobs in single-use bubblewrap sandboxes and releases only what egress allows.

    With a `SandboxPool` the child comes pre-started; without one it is started per job.
    """

    def __init__(self, limits: SandboxLimits | None = None, pool=None) -> None:
        _launch.require_sandbox()
        self.limits = pool.limits if pool is not None else (limits or SandboxLimits())
        if pool is not None and limits is not None and limits != pool.limits:
            raise ValueError("limits differ from the pool's; children are started with the pool's limits")
        self.pool = pool

    def _start(self) -> SandboxProcess:
        if self.pool is not None:
            return self.pool.acquire()
        return SandboxProcess(self.limits, new_label())

    @prom.SANDBOX_ACTIVE.track_inprogress()
    def run(
        self,
        job: SandboxJob,
        table: pa.Table,
        policy: EgressPolicy,
        profile: InputProfile | None = None,
        sensitive_columns: Iterable[str] = (),
        identifier_columns: Iterable[str] = (),
        contract: OutputContract | None = None,
    ) -> SandboxOutcome:
        """Run `job` over `table` (granted columns only) and check its output against `policy`.

        `contract`: an approved analysis's output contract; built-in kinds have their own, and
        custom code without one is held to flat primitive columns of its own naming.
        """
        policy = policy_for_kind(job.kind, policy)
        contract = builtin_contract(job, table.schema) or contract
        if profile is None:
            keys = job.args.get("keys", ()) if job.kind == "aggregate" else ()  # k counts entities per group
            profile = profile_input(table, sensitive_columns, identifier_columns, policy.min_leak_chars, group_keys=keys)
        header = (json.dumps(job.header()) + "\n").encode()
        if len(header) > self.limits.max_header_bytes:
            raise ValueError(f"job header is {len(header)} bytes; the cap is {self.limits.max_header_bytes}")
        requested = time.perf_counter()
        child = self._start()
        deadline = requested + self.limits.wall_timeout_s
        try:
            ready = child.wait_ready(deadline - time.perf_counter())
            startup_s = time.perf_counter() - requested
            prom.SANDBOX_STARTUP.labels(job.kind).observe(startup_s)
            if not ready:
                child.discard()
                metrics = SandboxMetrics(startup_s=startup_s, wall_s=time.perf_counter() - requested)
                return _counted(job.kind, SandboxOutcome(SandboxStatus.ERROR, "startup: the sandbox did not become ready", metrics))
            exchange = child.exchange(header, table, deadline)
        except BaseException:
            child.discard()
            raise
        prom.SANDBOX_BYTES_IN.inc(exchange.bytes_in)
        return _counted(job.kind, self._finish(exchange, startup_s, profile, policy, job.kind, contract))

    def _finish(
        self, exchange: Exchange, startup_s: float, profile: InputProfile, policy: EgressPolicy, kind: str,
        contract: OutputContract | None,
    ) -> SandboxOutcome:
        metrics = SandboxMetrics(
            rows_in=exchange.rows_in,
            bytes_in=exchange.bytes_in,
            bytes_out=len(exchange.output),
            cpu_s=exchange.cpu_s,
            startup_cpu_s=exchange.startup_cpu_s,
            peak_memory_bytes=exchange.peak_memory_bytes,
            wall_s=exchange.wall_s,
            startup_s=startup_s,
        )
        failure = _failure(exchange, kind)
        if failure is not None:
            return SandboxOutcome(failure[0], failure[1], metrics, exit_code=exchange.exit_code)
        try:
            output = ipc.open_stream(pa.py_buffer(exchange.output)).read_all()
        except pa.ArrowException:  # custom code exiting 0 without output: the same words as any other way it failed
            reason = CUSTOM_FAILURE if kind == "custom" else "bad_output: the child's stdout is not an Arrow IPC stream"
            return SandboxOutcome(SandboxStatus.ERROR, reason, metrics, exit_code=0)
        metrics = dataclasses.replace(metrics, rows_out=output.num_rows)
        try:
            verdict = check_egress(output, profile, policy, contract)
        except (pa.ArrowException, ValueError, TypeError, OverflowError):  # an output no check can read is not released
            verdict = EgressVerdict.deny(DENY_OUTPUT_TYPE, "the output could not be checked")
        if not verdict.allowed:
            return SandboxOutcome(SandboxStatus.EGRESS_DENIED, f"{verdict.code}: {verdict.message}", metrics, verdict=verdict, exit_code=0)
        metrics = dataclasses.replace(
            metrics, rows_released=verdict.table.num_rows, epsilon_spent_milli=verdict.epsilon_spent_milli
        )
        return SandboxOutcome(SandboxStatus.OK, verdict.message, metrics, table=verdict.table, verdict=verdict, exit_code=0)
