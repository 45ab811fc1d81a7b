"""Sandboxed jobs on a node: bubblewrap-confined children fed Arrow IPC, and the egress policy."""

from shuniu.nodes.sandbox._launch import require_sandbox, sandbox_available
from shuniu.nodes.sandbox.egress import EgressPolicy, EgressVerdict, check_egress
from shuniu.nodes.sandbox.profile import InputProfile, profile_input
from shuniu.nodes.sandbox.pool import SandboxPool
from shuniu.nodes.sandbox.runner import SandboxRunner, read_granted_columns, sandbox_pids, wait_sandboxes_gone
from shuniu.nodes.sandbox.types import (
    SandboxJob,
    SandboxLimits,
    SandboxMetrics,
    SandboxOutcome,
    SandboxStatus,
    SandboxUnavailableError,
    aggregate_job,
    custom_job,
    model_job,
    verify_job,
)

__all__ = [
    "EgressPolicy",
    "EgressVerdict",
    "InputProfile",
    "SandboxJob",
    "SandboxLimits",
    "SandboxMetrics",
    "SandboxOutcome",
    "SandboxPool",
    "SandboxRunner",
    "SandboxStatus",
    "SandboxUnavailableError",
    "aggregate_job",
    "check_egress",
    "custom_job",
    "model_job",
    "profile_input",
    "read_granted_columns",
    "require_sandbox",
    "sandbox_available",
    "sandbox_pids",
    "verify_job",
    "wait_sandboxes_gone",
]
