"""Plain data shared by the sandbox runner, its pool and its callers."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from shuniu.nodes.sandbox.egress import EgressVerdict

JOB_KINDS = ("aggregate", "verify", "custom")
AGGREGATE_FUNCTIONS = ("count", "sum", "mean", "min", "max")
VERIFY_OPS = ("==", "!=", "<", "<=", ">", ">=")


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

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value <= 0:
                raise ValueError(f"SandboxLimits.{field.name} must be > 0, got {value!r}")


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
    """Group by `keys` and compute (column, function) pairs, e.g. ("kwh", "sum")."""
    for column, function in aggregations:
        if function not in AGGREGATE_FUNCTIONS:
            raise ValueError(
                f"aggregation {function!r} on {column!r} unknown; expected one of {', '.join(AGGREGATE_FUNCTIONS)}"
            )
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


def custom_job(code: str) -> SandboxJob:
    """The buyer's Python source, which must define `def run(table: pyarrow.Table) -> pyarrow.Table`."""
    return SandboxJob("custom", {}, code)


@dataclasses.dataclass(frozen=True)
class SandboxMetrics:
    """The usage record of one run, for metering."""

    rows_in: int = 0
    bytes_in: int = 0
    rows_out: int = 0
    bytes_out: int = 0
    cpu_s: float = 0.0  # the job's CPU time, after the child was handed the job
    startup_cpu_s: float = 0.0  # the child's CPU time before: interpreter start and imports
    peak_memory_bytes: int = 0
    wall_s: float = 0.0
    startup_s: float = 0.0


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
