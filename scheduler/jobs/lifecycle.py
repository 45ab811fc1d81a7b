"""Job states and the transitions between them; every change goes through `transition`."""

from __future__ import annotations

from shuniu.protos.v1 import jobs_pb2

PENDING = jobs_pb2.JOB_STATE_PENDING
ADMITTED = jobs_pb2.JOB_STATE_ADMITTED
SCHEDULED = jobs_pb2.JOB_STATE_SCHEDULED
RUNNING = jobs_pb2.JOB_STATE_RUNNING
SUCCEEDED = jobs_pb2.JOB_STATE_SUCCEEDED
FAILED = jobs_pb2.JOB_STATE_FAILED
CANCELLED = jobs_pb2.JOB_STATE_CANCELLED
EGRESS_DENIED = jobs_pb2.JOB_STATE_EGRESS_DENIED

TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED, EGRESS_DENIED})
QUEUED = frozenset({PENDING, ADMITTED})
ACTIVE = frozenset({SCHEDULED, RUNNING})

# A requeue (node down, dispatch lost) sends a placed job back to ADMITTED.
ALLOWED = {
    PENDING: {ADMITTED, CANCELLED, FAILED},
    ADMITTED: {SCHEDULED, CANCELLED, FAILED},
    SCHEDULED: {RUNNING, ADMITTED, FAILED, CANCELLED, SUCCEEDED, EGRESS_DENIED},
    RUNNING: {SUCCEEDED, FAILED, CANCELLED, EGRESS_DENIED, ADMITTED},
}
_STAMP = {ADMITTED: "admitted_unix_ms", SCHEDULED: "scheduled_unix_ms", RUNNING: "started_unix_ms"}


class TransitionError(AssertionError):
    """A transition the state machine does not allow: a bug, never bad input."""


def name(state: int) -> str:
    return jobs_pb2.JobState.Name(state).removeprefix("JOB_STATE_")


def can_move(old: int, new: int) -> bool:
    return new in ALLOWED.get(old, ())


def transition(job: jobs_pb2.Job, new: int, reason: str, message: str, now_ms: int) -> int:
    """Moves `job` to `new` in place, stamping times; returns the old state."""
    old = job.state
    if not can_move(old, new):
        raise TransitionError(f"job {job.job_id}: {name(old)} -> {name(new)} is not a transition")
    job.state = new
    job.state_reason = reason
    job.state_message = message
    if new in _STAMP:
        setattr(job, _STAMP[new], now_ms)
    if new in TERMINAL:
        job.finished_unix_ms = now_ms
    if new == ADMITTED and old in ACTIVE:
        del job.assigned_node_ids[:]
        job.placed_tier = 0
        job.attempt += 1
    return old
