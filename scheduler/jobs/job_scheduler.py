"""The scheduling loop: admitted jobs are placed by fair share, dispatched to Ray, and followed to their end.

Holds the open jobs in memory (rebuilt from Redis at start) and is their only writer: every
transition is persisted with its event before anyone is told. One pass places what it can
(no head-of-line blocking, EASY backfill around the first blocked job), then the loop sleeps
until a submit, a finished run, or the next tick.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable

import numpy as np

from shuniu.protos.v1 import jobs_pb2, runs_pb2
from shuniu.scheduler.jobs import lifecycle
from shuniu.scheduler.jobs.backfill import Resources, RunningJob
from shuniu.scheduler.jobs.queue_policy import (
    FairShare, JobQueue, QueuedJob, admits_backfill, compute_reservation, cpu_seconds, overdue, record_backfill,
)
from shuniu.scheduler.jobs.store import JobStore
from shuniu.scheduler.placement import Decision, Placer, PlacementRequest, build_node_table, site_tiers

log = logging.getLogger("shuniu.scheduler")

RUN_ENTRY_POINT = "shuniu.nodes.job_runner:run_job"
# Retries per failure category before a job fails for good; a job never runs twice to completion.
RETRY_LIMITS = {
    jobs_pb2.FAILURE_CATEGORY_NODE_DOWN: 3,
    jobs_pb2.FAILURE_CATEGORY_SYSTEM_ERROR: 2,
    jobs_pb2.FAILURE_CATEGORY_TIMEOUT: 0,
    jobs_pb2.FAILURE_CATEGORY_RESOURCE_LIMIT: 0,
    jobs_pb2.FAILURE_CATEGORY_USER_ERROR: 0,
}
_MAX_SCAN = 1000
_TICK_S = 0.25


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
    ref: object = None
    started_s: float = 0.0

    @property
    def resources(self) -> Resources:
        r = self.job.spec.resources
        return Resources(r.cpu_milli, r.memory_mb, r.gpu)

    def queued(self) -> QueuedJob:
        spec = self.job.spec
        return QueuedJob(self.job.job_id, self.job.buyer_id, spec.priority, self.submitted_s, self.resources,
                         int(spec.max_runtime_s), max(1, spec.gang_size))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class JobScheduler:
    """Places and runs jobs: `build_request` makes a node's run request, `dispatcher` starts it on Ray."""

    def __init__(self, plane, store: JobStore, build_request: Callable, dispatcher=None,
                 on_end: Callable | None = None, half_life_s: float = 3600.0) -> None:
        self.plane = plane
        self.store = store
        self.build_request = build_request  # async (OpenJob, node record, tier) -> NodeRunRequest
        self.dispatcher = dispatcher
        self.on_end = on_end  # async (job) after a job reached a terminal state
        self.open: dict[str, OpenJob] = {}
        self.queue = JobQueue(FairShare(half_life_s))
        self.table = build_node_table(plane.fleet)
        self.placer = Placer(self.table, site_tiers(plane.matrix, plane.config.tiers, self.table.site_order))
        self.watchers: dict[str, set[asyncio.Queue]] = {}
        self.wake = asyncio.Event()
        self.lock = asyncio.Lock()
        self._loop_task: asyncio.Task | None = None

    # ---- state changes -------------------------------------------------------------------

    async def move(self, entry: OpenJob, new: int, reason: str, message: str = "", **fields) -> None:
        """Persists one transition of `entry` (with its event), then tells the watchers."""
        await self.move_many([(entry, new, reason, message, fields)])

    async def move_many(self, moves: list[tuple[OpenJob, int, str, str, dict]]) -> None:
        """Persists several transitions in one transaction, then applies them and tells the watchers."""
        now_ms = _now_ms()
        changed = []
        for entry, new, reason, message, fields in moves:
            job = jobs_pb2.Job()
            job.CopyFrom(entry.job)
            old = lifecycle.transition(job, new, reason, message, now_ms)
            for name, value in fields.items():
                target = getattr(job, name)
                if hasattr(target, "CopyFrom"):
                    target.CopyFrom(value)
                elif isinstance(value, (list, tuple)):
                    del target[:]
                    target.extend(value)
                else:
                    setattr(job, name, value)
            job.seq += 1
            changed.append((entry, job, old))
        await self.store.save([(job, old) for _, job, old in changed], now_ms)
        for entry, job, old in changed:
            entry.job = job
            if job.state in lifecycle.TERMINAL:
                self.open.pop(job.job_id, None)
                self.queue.remove(job.job_id)
                if self.on_end is not None:
                    await self.on_end(job)
            self.notify(job, old)

    def notify(self, job: jobs_pb2.Job, old: int) -> None:
        for queue in self.watchers.get(job.job_id, ()):
            queue.put_nowait((job, old))

    def add_admitted(self, entry: OpenJob) -> None:
        """Queues an ADMITTED job (after its admission was stored)."""
        self.open[entry.job.job_id] = entry
        entry.domain = self.table.domains.intern(entry.domain_node_ids)
        self.queue.add(entry.queued())
        self.wake.set()

    # ---- the loop --------------------------------------------------------------------------

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="scheduler")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            try:
                await self._loop_task
            except asyncio.CancelledError:
                pass
        for entry in list(self.open.values()):
            if entry.task is not None:
                entry.task.cancel()

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self.wake.wait(), _TICK_S)
            except asyncio.TimeoutError:
                pass
            self.wake.clear()
            try:
                async with self.lock:
                    await self.schedule_pass()
                    await self._stop_overdue()
            except Exception:  # a bug must not stop scheduling for everyone; it is logged loudly
                log.exception("scheduling pass failed")

    def placement_request(self, entry: OpenJob) -> PlacementRequest:
        spec = entry.job.spec
        return PlacementRequest(
            domain=entry.domain, compute_class=spec.compute_class, anchor_site=entry.anchor_site,
            max_tier=spec.max_tier, cpu_milli=spec.resources.cpu_milli, memory_mb=spec.resources.memory_mb,
            gpu=spec.resources.gpu, max_runtime_s=int(spec.max_runtime_s), preferred_tier=spec.preferred_tier,
            relax_after_s=float(spec.relax_after_s), submitted_s=entry.submitted_s,
            price_cap_fen=spec.price_cap_fen, gang_size=max(1, spec.gang_size),
        )

    def sync_table(self) -> None:
        """Brings the node table up to the fleet, keeping the capacity of jobs placed since."""
        self.table.sync(self.plane.fleet)
        # Heartbeats report what agents see; jobs placed since count until the agents do.
        for entry in self.open.values():
            if entry.job.state in lifecycle.ACTIVE:
                slots = np.array([self.table.slot_of[n] for n in entry.job.assigned_node_ids
                                  if n in self.table.slot_of], dtype=np.int64)
                r = entry.job.spec.resources
                self.table.reserve(slots, r.cpu_milli, r.memory_mb, r.gpu)

    def _running(self) -> list[RunningJob]:
        return [RunningJob(e.job.job_id, tuple(e.job.assigned_node_ids), e.resources, e.started_s,
                           int(e.job.spec.max_runtime_s))
                for e in self.open.values() if e.job.state in lifecycle.ACTIVE]

    async def schedule_pass(self) -> int:
        """Places what fits now, persists the placements in one write, then dispatches them."""
        if len(self.queue) == 0 or self.dispatcher is None:
            return 0
        self.sync_table()
        now = time.monotonic()
        reservation, placed = None, []
        scan = self.queue.order(now, max_scan=_MAX_SCAN)
        for candidate in scan:
            entry = self.open[candidate.job_id]
            decision = self.placer.plan(self.placement_request(entry), now)
            if decision.placed and all(admits_backfill(reservation, n, candidate, now) for n in decision.node_ids):
                for node_id in decision.node_ids:
                    record_backfill(reservation, node_id, candidate, now)
                scan.placed(candidate.job_id)
                self.table.reserve(np.array(decision.slots, dtype=np.int64), *self._demand(entry))
                placed.append((entry, decision))
                continue
            scan.blocked(candidate.job_id)
            if reservation is None and not decision.placed:
                reservation = compute_reservation(candidate, self._domain_free(entry), self._running(), now)
        if placed:
            # One transaction (one fsync) for the whole pass, before any run starts.
            await self.move_many([(entry, lifecycle.SCHEDULED, "placed", f"on {', '.join(decision.node_ids)}",
                                   {"assigned_node_ids": list(decision.node_ids), "placed_tier": decision.tier})
                                  for entry, decision in placed])
            for entry, decision in placed:
                await self._dispatch(entry, decision)
        return len(placed)

    @staticmethod
    def _demand(entry: OpenJob) -> tuple[int, int, int]:
        r = entry.job.spec.resources
        return r.cpu_milli, r.memory_mb, r.gpu

    def _domain_free(self, entry: OpenJob) -> dict[str, Resources]:
        """Free capacity now of the healthy nodes of the job's domain and class (for its reservation)."""
        t = self.table
        slots = t.domains.slots(entry.domain, entry.job.spec.compute_class)
        slots = slots[t.healthy()[slots]] if len(slots) else slots
        return {t.node_ids[s]: Resources(int(t.free_cpu[s]), int(t.free_memory[s]), int(t.free_gpu[s]))
                for s in slots.tolist()}

    async def _dispatch(self, entry: OpenJob, decision: Decision) -> None:
        node = self.plane.fleet.record(decision.node_ids[0])
        entry.started_s = time.monotonic()
        request = await self.build_request(entry, node, decision.tier)
        entry.task = asyncio.create_task(self._follow(entry, request, entry.job.attempt),
                                         name=f"job-{entry.job.job_id}")

    async def _follow(self, entry: OpenJob, request: runs_pb2.NodeRunRequest, attempt: int) -> None:
        """Runs one attempt on its node and records how it ended; stale attempts are ignored."""
        node_id = request.node_id
        try:
            stream = self.dispatcher.dispatch_stream(node_id, RUN_ENTRY_POINT, request.SerializeToString(),
                                                     name=f"job-{entry.job.job_id}-{attempt}")
            entry.ref = stream
            result = None
            async for ref in stream:
                message = await ref
                if message == b"started":
                    async with self.lock:
                        if self._current(entry, attempt) and entry.job.state == lifecycle.SCHEDULED:
                            await self.move(entry, lifecycle.RUNNING, "started", f"sandbox started on {node_id}")
                else:
                    result = runs_pb2.NodeRunResult.FromString(message)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001  (every Ray failure ends this attempt; classified below)
            failure = self.dispatcher.classify(err)
            async with self.lock:
                if self._current(entry, attempt) and failure.category != "cancelled":
                    category = (jobs_pb2.FAILURE_CATEGORY_NODE_DOWN if failure.category == "node_lost"
                                else jobs_pb2.FAILURE_CATEGORY_SYSTEM_ERROR)
                    await self.fail_attempt(entry, category, failure.detail)
            return
        async with self.lock:
            if self._current(entry, attempt):
                await self._finish(entry, result)

    def _current(self, entry: OpenJob, attempt: int) -> bool:
        return (self.open.get(entry.job.job_id) is entry and entry.job.attempt == attempt
                and entry.job.state in lifecycle.ACTIVE)

    async def _finish(self, entry: OpenJob, result: runs_pb2.NodeRunResult | None) -> None:
        self._charge(entry)
        if result is None:
            await self.fail_attempt(entry, jobs_pb2.FAILURE_CATEGORY_SYSTEM_ERROR, "the run returned no result")
            return
        if entry.job.state == lifecycle.SCHEDULED:  # finished before its start was seen
            await self.move(entry, lifecycle.RUNNING, "started", "")
        if result.state == lifecycle.SUCCEEDED:
            job_result = await self.store.save_result(entry.job.job_id, result.output_ipc,
                                                      result.metrics.rows_out, _now_ms())
            await self.move(entry, lifecycle.SUCCEEDED, "released", f"{result.metrics.rows_out} row(s) released",
                            result=job_result, egress=result.egress)
        elif result.state == lifecycle.EGRESS_DENIED:
            await self.move(entry, lifecycle.EGRESS_DENIED, "egress_denied", result.reason, egress=result.egress)
        else:
            await self.fail_attempt(entry, result.failure_category or jobs_pb2.FAILURE_CATEGORY_SYSTEM_ERROR,
                                    result.reason)

    def _charge(self, entry: OpenJob) -> None:
        seconds = max(0.0, time.monotonic() - entry.started_s)
        nodes = max(1, entry.job.spec.gang_size)
        self.queue.fair_share.charge(entry.job.buyer_id, cpu_seconds(entry.resources, seconds, nodes),
                                     time.monotonic())

    async def fail_attempt(self, entry: OpenJob, category: int, message: str) -> None:
        """Records a failed attempt; requeues it within its domain while its category allows, else FAILED."""
        job = entry.job
        failure = jobs_pb2.JobFailure(attempt=job.attempt, category=category, message=message[:1000],
                                      node_id=job.assigned_node_ids[0] if job.assigned_node_ids else "",
                                      failed_unix_ms=_now_ms())
        tries = sum(1 for f in job.failures if f.category == category) + 1
        failures = [*job.failures, failure]
        reason = jobs_pb2.FailureCategory.Name(category).removeprefix("FAILURE_CATEGORY_").lower()
        if tries <= RETRY_LIMITS.get(category, 0) and job.state in lifecycle.ACTIVE:
            await self.move(entry, lifecycle.ADMITTED, f"requeued_{reason}", message[:500], failures=failures)
            entry.task, entry.ref = None, None
            entry.submitted_s = time.monotonic()
            self.queue.add(entry.queued())
            self.wake.set()
        else:
            await self.move(entry, lifecycle.FAILED, reason, message[:500], failures=failures)

    async def _stop_overdue(self) -> None:
        now = time.monotonic()
        # The sandbox's own wall clock stops the job first; this catches a run stuck outside it.
        for job_id in overdue(self._running(), now, grace_s=5.0):
            entry = self.open.get(job_id)
            if entry is not None:
                self._cancel_run(entry)
                await self.fail_attempt(entry, jobs_pb2.FAILURE_CATEGORY_TIMEOUT,
                                        f"stopped after max_runtime_s {entry.job.spec.max_runtime_s}")

    def _cancel_run(self, entry: OpenJob) -> None:
        if entry.ref is not None:
            self.dispatcher.cancel(entry.ref)
        if entry.task is not None:
            entry.task.cancel()
        entry.task, entry.ref = None, None

    async def cancel(self, job_id: str, reason: str, message: str) -> jobs_pb2.Job | None:
        """Cancels an open job wherever it is; None when it is not open (ended, or unknown)."""
        entry = self.open.get(job_id)
        if entry is None:
            return None
        self._cancel_run(entry)
        await self.move(entry, lifecycle.CANCELLED, reason, message)
        return entry.job

    async def nodes_down(self, node_ids: set[str]) -> None:
        """Fails the attempts running on nodes that went DOWN; they requeue within their domain."""
        for entry in list(self.open.values()):
            if entry.job.state in lifecycle.ACTIVE and node_ids & set(entry.job.assigned_node_ids):
                self._cancel_run(entry)
                await self.fail_attempt(entry, jobs_pb2.FAILURE_CATEGORY_NODE_DOWN,
                                        f"node {', '.join(sorted(node_ids & set(entry.job.assigned_node_ids)))} "
                                        "went DOWN")

    def queue_position(self, job_id: str) -> int:
        if job_id not in self.queue:
            return 0
        scan = self.queue.order(time.monotonic(), max_scan=max(1, len(self.queue)))
        for position, candidate in enumerate(scan, start=1):
            if candidate.job_id == job_id:
                return position
            scan.blocked(candidate.job_id)
        return 0
