"""An open job as the scheduler holds it, and the moves that what its runs report turns into."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence

from shuniu.protos.v1 import jobs_pb2
from shuniu.scheduler.jobs import lifecycle
from shuniu.scheduler.jobs.backfill import Resources
from shuniu.scheduler.jobs.queue_policy import QueuedJob
from shuniu.scheduler.jobs.store import queue_result

STARTED = b"started"  # what nodes.job_runner yields first (the scheduler never imports node code)

# One transition to persist: (entry, new state, reason, message, fields to set on the job).
Move = tuple["OpenJob", int, str, str, dict]


@dataclasses.dataclass
class OpenJob:
    """A job that has not ended, with what placing and running it needs."""

    job: jobs_pb2.Job
    product_columns: dict[str, list[str]]
    domain_node_ids: tuple[str, ...]
    anchor_site: str
    dp_epsilon_milli: int
    submitted_s: float  # monotonic
    domain: int = -1
    task: asyncio.Task | None = None
    runs: list = dataclasses.field(default_factory=list)  # the Ray streams of the attempt, one per member
    started_s: float = 0.0  # dispatch, then the sandbox's start once reported
    sandbox_started: bool = False
    held_on: tuple[str, ...] = ()  # nodes whose capacity this placement holds in `JobScheduler.held`
    estimated_fen: int = 0  # the placement's compute estimate for max_runtime_s on all its nodes (fair share's unit)

    @property
    def resources(self) -> Resources:
        r = self.job.spec.resources
        return Resources(r.cpu_milli, r.memory_mb, r.gpu)

    @property
    def demand(self) -> tuple[int, int, int]:
        r = self.job.spec.resources
        return r.cpu_milli, r.memory_mb, r.gpu

    def queued(self) -> QueuedJob:
        spec = self.job.spec
        return QueuedJob(self.job.job_id, self.job.buyer_id, spec.priority, self.submitted_s, self.resources,
                         int(spec.max_runtime_s), max(1, spec.gang_size))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def run_moves(events: Sequence[tuple[OpenJob, int, object]], current: Callable[[OpenJob, int], bool]) -> tuple[list[Move], list[Callable], list[OpenJob]]:
    """The moves and result writes for what runs reported, and the runs that ended; stale reports are dropped.

    An event is STARTED or, for a run that ended with an outcome, (its NodeRunResult, the usage batches its runs wrote).
    """
    moves: list[Move] = []
    extra: list[Callable] = []
    ended: list[OpenJob] = []
    running: set[str] = set()
    for entry, attempt, event in events:
        job = entry.job
        if not current(entry, attempt):
            continue
        if job.state == lifecycle.SCHEDULED and job.job_id not in running:  # a result may come before its start
            running.add(job.job_id)
            moves.append((entry, lifecycle.RUNNING, "started", f"sandbox started on {job.assigned_node_ids[0]}", {}))
        if event is STARTED:
            continue
        ended.append(entry)
        result, batches = event
        fields = {"egress": result.egress, "usage_batch_ids": [*job.usage_batch_ids, *batches]}
        if result.state == lifecycle.SUCCEEDED:
            job_result, write = queue_result(job.job_id, result.output_ipc, result.metrics.rows_out, now_ms())
            extra.append(write)
            moves.append((entry, lifecycle.SUCCEEDED, "released", f"{result.metrics.rows_out} row(s) released",
                          {"result": job_result, **fields}))
        else:
            moves.append((entry, lifecycle.EGRESS_DENIED, "egress_denied", result.reason, fields))
    return moves, extra, ended
