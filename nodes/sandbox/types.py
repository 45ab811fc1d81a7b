"""Plain data shared by the sandbox runner, its pool and its callers."""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from shuniu.nodes.sandbox.egress import EgressVerdict

JOB_KINDS = ("aggregate", "verify", "model", "custom")
AGGREGATE_FUNCTIONS = ("count", "sum", "mean", "min", "max")
QUANTILE_FUNCTION = re.compile(r"^p([1-9][0-9]?)$")  # p50, p90, p99: the q-th percentile (t-digest)
VERIFY_OPS = ("==", "!=", "<", "<=", ">", ">=")
MODEL_TYPES = ("linear", "logistic")
MAX_MODEL_ITERATIONS = 100


class SandboxUnavailableError(RuntimeError):
    """bubblewrap cannot confine a child here, so no job may run (never unconfined)."""


class SandboxStatus(enum.Enum):
    OK = "ok"
    TIMEOUT = "timeout"
    KILLED = "killed"
    OVERSIZE = "oversize"
    ERROR = "error"
    EGRESS_DENIED = "egress_denied"


@dataclasses.dataclass(frozen=True)
class SandboxLimits:
    """Bounds on one sandboxed child; units last in every name."""

    cpu_s: int = 10
    memory_bytes: int = 1 << 30  # RLIMIT_AS; pyarrow alone maps ~500 MiB of address space
    nproc: int = 64
    nofile: int = 128
    fsize_bytes: int = 16 << 20
    tmpfs_bytes: int = 16 << 20
    wall_timeout_s: float = 10.0
    max_output_bytes: int = 16 << 20
    max_header_bytes: int = 1 << 20
    nice: int = 10  # 1–19: the child's CPU priority below the node's own processes

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value <= 0:
                raise ValueError(f"SandboxLimits.{field.name} must be > 0, got {value!r}")
        if self.nice > 19:
            raise ValueError(f"SandboxLimits.nice must be in 1–19, got {self.nice}")


@dataclasses.dataclass(frozen=True)
class SandboxJob:
    """What the child runs: a built-in kind with its arguments, or the buyer's code."""

    kind: str
    args: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    code: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in JOB_KINDS:
            raise ValueError(f"job kind {self.kind!r} unknown; expected one of {', '.join(JOB_KINDS)}")
        if (self.kind == "custom") != (self.code is not None):
            raise ValueError("code is required for kind 'custom' and only for it")

    def header(self) -> dict[str, Any]:
        return {"kind": self.kind, "args": dict(self.args), "code": self.code}


def aggregate_job(keys: Sequence[str], aggregations: Sequence[tuple[str, str]]) -> SandboxJob:
    """Group by `keys` and compute (column, function) pairs, e.g. ("kwh", "sum") or ("kwh", "p90").

    Each output column is named `<column>_<function>`; groups under the grant's k are suppressed.
    """
    if not aggregations:
        raise ValueError("an aggregate job needs at least one (column, function) pair")
    for column, function in aggregations:
        if function not in AGGREGATE_FUNCTIONS and not QUANTILE_FUNCTION.match(function):
            raise ValueError(
                f"aggregation {function!r} on {column!r} unknown; expected one of "
                f"{', '.join(AGGREGATE_FUNCTIONS)} or a percentile p1..p99"
            )
    if len({(c, f) for c, f in aggregations}) != len(aggregations):
        raise ValueError("each (column, function) pair may appear once")
    return SandboxJob("aggregate", {"keys": list(keys), "aggregations": [list(a) for a in aggregations]})


def verify_job(claims: Sequence[Sequence[tuple[str, str, Any]]]) -> SandboxJob:
    """Each claim is a list of (column, op, value) conditions that one row must meet together."""
    for claim in claims:
        if not claim:
            raise ValueError("a claim needs at least one condition")
        for column, op, _ in claim:
            if op not in VERIFY_OPS:
                raise ValueError(f"op {op!r} on {column!r} unknown; expected one of {', '.join(VERIFY_OPS)}")
    return SandboxJob("verify", {"claims": [[list(c) for c in claim] for claim in claims]})


def model_job(model: str, features: Sequence[str], target: str, max_iterations: int = 25, l2: float = 0.0) -> SandboxJob:
    """Fit a linear or logistic regression of `target` on `features`; only parameters and fit metrics leave."""
    if model not in MODEL_TYPES:
        raise ValueError(f"model {model!r} unknown; expected one of {', '.join(MODEL_TYPES)}")
    if not features or target in features or len(set(features)) != len(features):
        raise ValueError("features must be distinct, at least one, and must not include the target")
    if not 1 <= max_iterations <= MAX_MODEL_ITERATIONS or l2 < 0:
        raise ValueError(f"max_iterations must be 1..{MAX_MODEL_ITERATIONS} and l2 >= 0")
    args = {"model": model, "features": list(features), "target": target, "max_iterations": max_iterations, "l2": l2}
    return SandboxJob("model", args)


def custom_job(code: str, params: Mapping[str, bool | int | float | str] | None = None) -> SandboxJob:
    """Python source defining `def run(table: pyarrow.Table, **params) -> pyarrow.Table`; `params` are an approved
    analysis's parameter values (checked against its declarations by the exchange), passed as keywords."""
    return SandboxJob("custom", {"params": dict(params)} if params else {}, code)


@dataclasses.dataclass(frozen=True)
class SandboxMetrics:
    """The usage record of one run, for metering."""

    rows_in: int = 0  # rows delivered into the sandbox
    bytes_in: int = 0  # bytes of header and Arrow IPC delivered
    rows_out: int = 0  # rows the child returned, before egress
    bytes_out: int = 0  # size of the child's output
    rows_released: int = 0  # rows that passed egress
    cpu_s: float = 0.0  # the job's CPU time, after the child was handed the job
    startup_cpu_s: float = 0.0  # the child's CPU time before: interpreter start and imports
    peak_memory_bytes: int = 0
    wall_s: float = 0.0
    startup_s: float = 0.0
    epsilon_spent_milli: int = 0  # thousandths of ε the release used, to charge the grant's DP budget


@dataclasses.dataclass(frozen=True)
class SandboxOutcome:
    """How one run ended. `table` is set only when status is OK and egress allowed it."""

    status: SandboxStatus
    reason: str
    metrics: SandboxMetrics
    table: pa.Table | None = None
    verdict: EgressVerdict | None = None
    exit_code: int | None = None

    @property
    def ok(self) -> bool:
        return self.status is SandboxStatus.OK
