"""The scheduling loop: admitted jobs are placed by fair share, dispatched to Ray, and followed to their end.

Holds the open jobs in memory (rebuilt from Redis at start) and is their only writer: every
transition is persisted with its event before anyone is told. One pass places what it can
(no head-of-line blocking, EASY backfill around the first blocked job), then the loop sleeps
until a submit, a run event, or the next tick.

Writes are grouped: what runs report (started, finished) is collected as it arrives and
persisted by the loop together with the pass's placements, in one transaction, so a burst
costs one fsync per pass rather than several per job. The lock is held only by the loop and
by the rare per-job changes (cancel, node down, a failed attempt); queueing a submitted job
is a synchronous step that needs no lock, since nothing else runs between two awaits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

import numpy as np

from shuniu.monitoring import metrics
from shuniu.protos.v1 import jobs_pb2, runs_pb2
from shuniu.scheduler.background import stop_if_cancelled
from shuniu.scheduler.jobs import lifecycle
from shuniu.scheduler.jobs.backfill import Resources, RunningJob
from shuniu.scheduler.jobs.held import HeldCapacity
from shuniu.scheduler.jobs.gang import GANG_RESERVE_S, GangNotReserved, gang_result, usage_batches
from shuniu.scheduler.jobs.open_jobs import STARTED, Move, OpenJob, run_moves
from shuniu.scheduler.jobs.open_jobs import now_ms as _now_ms
from shuniu.scheduler.jobs.queue_policy import (
    FairShare,
    JobQueue,
    QueuedJob,
    admits_backfill,
    compute_reservation,
    overdue,
    record_backfill,
    run_fen,
)
from shuniu.scheduler.jobs.store import JobStore
from shuniu.scheduler.placement import (
    Decision,
    PlacementRequest,
    Placer,
    build_node_table,
    site_tiers,
)

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
# Runtime limits are whole seconds with a grace of seconds: a check a second is on time, and
# cheaper than one per pass when thousands of jobs are open.
_OVERDUE_EVERY_S = 1.0


async def _read_run(stream, started: Callable[[], None]) -> runs_pb2.NodeRunResult | None:
    """Reads one run's stream: "started" once the sandbox runs, then its result."""
    result = None
    async for ref in stream:
        message = await ref
        if message == STARTED:
            started()
        else:
            result = runs_pb2.NodeRunResult.FromString(message)
            if result.HasField("metrics"):  # the run reached a sandbox
                metrics.observe_run_startup(result.metrics.startup_ms / 1000)
    return result


class JobScheduler:
    """Places and runs jobs: `build_requests` makes the nodes' run requests, `dispatcher` starts them on Ray."""

    def __init__(self, plane, store: JobStore, build_requests: Callable, dispatcher=None,
                 end_writes: Callable | None = None, half_life_s: float = 3600.0) -> None:
        self.plane = plane
        self.store = store
        self.build_requests = build_requests  # async [(OpenJob, node record, tier)] -> [NodeRunRequest]
        self.dispatcher = dispatcher
        self.end_writes = end_writes  # (pipeline, job): writes queued with a job's terminal transition
        self.open: dict[str, OpenJob] = {}
        # Fair share in billed units (fen): what a placement is estimated to cost, see queue_policy.run_fen.
        self.queue = JobQueue(FairShare(half_life_s, unit="fen"), cost=self._estimated_fen)
        self.table = build_node_table(plane.fleet)
        self.held = HeldCapacity()
        self._synced_generation = -1  # the fleet's generation the table was last synced at
        self.placer = Placer(self.table, site_tiers(plane.matrix, plane.config.tiers, self.table.site_order))
        self.watchers: dict[str, set[asyncio.Queue]] = {}
        self.wake = asyncio.Event()
        self.lock = asyncio.Lock()
        self._run_events: list[tuple[OpenJob, int, object]] = []  # (entry, attempt, b"started" | result)
        self._overdue_checked_s = 0.0
        self._loop_task: asyncio.Task | None = None

    # ---- state changes -------------------------------------------------------------------

    async def move(self, entry: OpenJob, new: int, reason: str, message: str = "", **fields) -> None:
        """Persists one transition of `entry` (with its event), then tells the watchers."""
        await self.move_many([(entry, new, reason, message, fields)])

    async def move_many(self, moves: Sequence[Move], extra: Sequence[Callable] = ()) -> None:
        """Persists several transitions (and `extra` queued writes) in one transaction, then applies them.

        A job may move more than once in one batch (SCHEDULED -> RUNNING -> SUCCEEDED); each move
        starts from the one before it.
        """
        if not moves and not extra:
            return
        now_ms = _now_ms()
        changed = []
        latest: dict[int, jobs_pb2.Job] = {}
        for entry, new, reason, message, fields in moves:
            job = jobs_pb2.Job()
            job.CopyFrom(latest.get(id(entry), entry.job))
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
            latest[id(entry)] = job
            changed.append((entry, job, old))
        ended = [job for _, job, _ in changed if job.state in lifecycle.TERMINAL]
        ending = [lambda pipe, job=job: self.end_writes(pipe, job) for job in ended] if self.end_writes else []
        await self.store.save([(job, old) for _, job, old in changed], now_ms, [*extra, *ending])
        for entry, job, old in changed:
            entry.job = job
            metrics.JOB_TRANSITIONS.labels(lifecycle.name(job.state).lower()).inc()
            self._account_hold(entry)
            if job.state in lifecycle.TERMINAL:
                self.open.pop(job.job_id, None)
                self.queue.remove(job.job_id)
            self.notify(job, old)

    def _account_hold(self, entry: OpenJob) -> None:
        """A placed job holds its nodes' capacity until it leaves SCHEDULED/RUNNING (ends or is requeued)."""
        active = entry.job.state in lifecycle.ACTIVE
        if active and not entry.held_on:
            entry.held_on = tuple(entry.job.assigned_node_ids)
            self.held.hold(self.table, entry.held_on, entry.demand)
        elif not active and entry.held_on:
            self.held.release(self.table, entry.held_on, entry.demand)
            entry.held_on = ()

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
            stop_if_cancelled()
            try:
                await asyncio.wait_for(self.wake.wait(), _TICK_S)
            except TimeoutError:
                pass
            self.wake.clear()
            try:
                async with self.lock:
                    await self.schedule_pass()
                    if time.monotonic() - self._overdue_checked_s >= _OVERDUE_EVERY_S:
                        self._overdue_checked_s = time.monotonic()
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
        """Brings the node table up to the fleet, keeping the capacity that placed jobs hold (see held.py)."""
        self._synced_generation = self.plane.fleet.generation
        self.held.apply(self.table, self.table.sync(self.plane.fleet))

    def sync_shape(self) -> None:
        """Syncs only when nodes came, went or changed state: enough for what the fleet could ever run."""
        if self._synced_generation != self.plane.fleet.generation:
            self.sync_table()

    def _running(self, sandbox_started: bool = False) -> list[RunningJob]:
        """Active jobs (only those whose sandbox started, if asked) as the queue policy reads them."""
        return [RunningJob(e.job.job_id, tuple(e.job.assigned_node_ids), e.resources, e.started_s,
                           int(e.job.spec.max_runtime_s))
                for e in self.open.values()
                if (e.sandbox_started or not sandbox_started) and e.job.state in lifecycle.ACTIVE]

    async def schedule_pass(self) -> int:
        """Persists what runs reported and places what fits now, in one write, then dispatches the placed."""
        events, self._run_events = self._run_events, []
        with metrics.PLACEMENT.time():
            placed = self._place() if len(self.queue) and self.dispatcher is not None else []
        try:
            # one run request per member: a gang runs on every node it was placed on
            requests = await self.build_requests([(entry, self.plane.fleet.record(node_id), d.tier)
                                                  for entry, d in placed for node_id in d.node_ids]) if placed else []
            reported, extra, ended = run_moves(events, self._current)
            # One transaction (one fsync) for the whole pass, before any run starts.
            await self.move_many([*reported, *(
                (entry, lifecycle.SCHEDULED, "placed", f"on {', '.join(d.node_ids)}",
                 {"assigned_node_ids": list(d.node_ids), "placed_tier": d.tier}) for entry, d in placed)], extra)
        except BaseException:
            # Nothing was stored: the placed jobs are still ADMITTED and go back to the queue, and
            # the run reports are taken again by the next pass.
            for entry, _ in placed:
                if entry.job.job_id in self.open and entry.job.job_id not in self.queue:
                    self.queue.add(entry.queued())
            self._run_events[:0] = events
            raise
        for entry in ended:
            self._charge(entry)
        members = iter(requests)
        for entry, decision in placed:
            self._dispatch(entry, [next(members) for _ in decision.node_ids])
        return len(placed)

    def _place(self) -> list[tuple[OpenJob, Decision]]:
        """Takes off the queue, and reserves in the table, every job that fits now (EASY backfill)."""
        self.sync_table()
        now = time.monotonic()
        reservation, placed = None, []
        scan = self.queue.order(now, max_scan=_MAX_SCAN)
        for candidate in scan:
            entry = self.open[candidate.job_id]
            decision = self.placer.plan(self.placement_request(entry), now)
            if decision.placed and all(admits_backfill(reservation, n, candidate, now) for n in decision.node_ids):
                metrics.PLACEMENT_OUTCOMES[True].inc()
                metrics.QUEUE_WAIT_BY_TIER[decision.tier].observe(now - entry.submitted_s)
                for node_id in decision.node_ids:
                    record_backfill(reservation, node_id, candidate, now)
                entry.estimated_fen = decision.estimated_compute_fen  # what scan.placed charges the pass
                scan.placed(candidate.job_id)
                self.table.reserve(np.array(decision.slots, dtype=np.int64), *entry.demand)
                placed.append((entry, decision))
                continue
            metrics.PLACEMENT_OUTCOMES[False].inc()  # no node fits, or the fit would delay a reserved start
            scan.blocked(candidate.job_id)
            if reservation is None and not decision.placed:
                reservation = compute_reservation(candidate, self._domain_free(entry), self._running(), now)
        return placed

    def _domain_free(self, entry: OpenJob) -> dict[str, Resources]:
        """Free capacity now of the healthy nodes of the job's domain and class (for its reservation)."""
        t = self.table
        slots = t.domains.slots(entry.domain, entry.job.spec.compute_class)
        slots = slots[t.healthy()[slots]] if len(slots) else slots
        return {t.node_ids[s]: Resources(int(t.free_cpu[s]), int(t.free_memory[s]), int(t.free_gpu[s]))
                for s in slots.tolist()}

    def _dispatch(self, entry: OpenJob, requests: list[runs_pb2.NodeRunRequest]) -> None:
        entry.started_s, entry.sandbox_started = time.monotonic(), False
        entry.task = asyncio.create_task(self._follow(entry, requests, entry.job.attempt),
                                         name=f"job-{entry.job.job_id}")

    async def _follow(self, entry: OpenJob, requests: list[runs_pb2.NodeRunRequest], attempt: int) -> None:
        """Runs one attempt on its node (or its gang's nodes) and records how it ended; stale attempts are ignored.

        A gang is all or nothing: Ray reserves a bundle on every member's node (a placement group)
        before any member starts; the job is RUNNING once all have started, and the first member
        to fail stops the others.
        """
        name = f"job-{entry.job.job_id}-{attempt}"
        gang = self.dispatcher.reserve_gang([r.node_id for r in requests], name) if len(requests) > 1 else None
        try:
            if gang is not None and not await self.dispatcher.gang_ready(gang, GANG_RESERVE_S):
                raise GangNotReserved(f"Ray did not reserve the gang's {len(requests)} nodes within {GANG_RESERVE_S:g} s")
            entry.runs = []  # filled one by one: a dispatch that fails leaves the started ones to cancel
            for i, r in enumerate(requests):
                entry.runs.append(self.dispatcher.dispatch_stream(r.node_id, RUN_ENTRY_POINT, r.SerializeToString(),
                                                                  name=name, gang=None if gang is None else (gang, i)))
            started = set()

            def member_started(index: int) -> None:
                started.add(index)
                if len(started) == len(requests):
                    self._report(entry, attempt, STARTED)

            results = await asyncio.gather(*(_read_run(ref, lambda i=i: member_started(i))
                                             for i, ref in enumerate(entry.runs)))
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001  (every Ray failure ends this attempt; classified below)
            if gang is not None and entry.runs:
                self.dispatcher.cancel(entry.runs)
            failure = self.dispatcher.classify(err)
            async with self.lock:
                if self._current(entry, attempt) and failure.category != "cancelled":
                    category = (jobs_pb2.FAILURE_CATEGORY_NODE_DOWN if failure.category == "node_lost"
                                else jobs_pb2.FAILURE_CATEGORY_SYSTEM_ERROR)
                    await self.fail_attempt(entry, category, failure.detail)
            return
        finally:
            if gang is not None:
                self.dispatcher.release_gang(gang)
        result, batches = gang_result(results), usage_batches(results)
        if result is not None and result.state in (lifecycle.SUCCEEDED, lifecycle.EGRESS_DENIED):
            self._report(entry, attempt, (result, batches))  # persisted with the loop's next write
            return
        async with self.lock:
            if self._current(entry, attempt):
                self._charge(entry)
                await self._finish_failed(entry, result, batches)

    def _report(self, entry: OpenJob, attempt: int, event: object) -> None:
        if event is STARTED and self._current(entry, attempt):
            # max_runtime_s counts from the sandbox's start, not from the wait for a Ray worker.
            entry.started_s, entry.sandbox_started = time.monotonic(), True
        self._run_events.append((entry, attempt, event))
        self.wake.set()

    def _current(self, entry: OpenJob, attempt: int) -> bool:
        return (self.open.get(entry.job.job_id) is entry and entry.job.attempt == attempt
                and entry.job.state in lifecycle.ACTIVE)

    async def _finish_failed(self, entry: OpenJob, result: runs_pb2.NodeRunResult | None, batches: list[str]) -> None:
        """A run that ended without output: requeued or FAILED by its failure category (its usage is still billed)."""
        if result is None:
            await self.fail_attempt(entry, jobs_pb2.FAILURE_CATEGORY_SYSTEM_ERROR, "the run returned no result", batches)
            return
        if entry.job.state == lifecycle.SCHEDULED:  # finished before its start was seen
            await self.move(entry, lifecycle.RUNNING, "started", "")
        await self.fail_attempt(entry, result.failure_category or jobs_pb2.FAILURE_CATEGORY_SYSTEM_ERROR,
                                result.reason, batches)

    def _estimated_fen(self, job: QueuedJob) -> int:
        """A placed job's expected usage in fen, for the rest of the pass (the queue's `cost`)."""
        return self.open[job.job_id].estimated_fen

    def _charge(self, entry: OpenJob) -> None:
        """Charges the buyer's fair share with the run's usage in fen: its estimate for the time it held its nodes."""
        seconds = time.monotonic() - entry.started_s
        self.queue.fair_share.charge(entry.job.buyer_id,
                                     run_fen(entry.estimated_fen, seconds, int(entry.job.spec.max_runtime_s)),
                                     time.monotonic())

    async def fail_attempt(self, entry: OpenJob, category: int, message: str, batches: Sequence[str] = ()) -> None:
        """Records a failed attempt (with the usage batches its runs wrote); requeues it within its domain while its
        category allows, else FAILED."""
        job = entry.job
        failure = jobs_pb2.JobFailure(attempt=job.attempt, category=category, message=message[:1000],
                                      node_id=job.assigned_node_ids[0] if job.assigned_node_ids else "",
                                      failed_unix_ms=_now_ms())
        tries = sum(1 for f in job.failures if f.category == category) + 1
        recorded = {"failures": [*job.failures, failure], "usage_batch_ids": [*job.usage_batch_ids, *batches]}
        reason = jobs_pb2.FailureCategory.Name(category).removeprefix("FAILURE_CATEGORY_").lower()
        log.info("job %s attempt %d failed (%s): %s", job.job_id, job.attempt, reason, message[:200])
        if tries <= RETRY_LIMITS.get(category, 0) and job.state in lifecycle.ACTIVE:
            await self.move(entry, lifecycle.ADMITTED, f"requeued_{reason}", message[:500], **recorded)
            entry.task, entry.runs = None, []
            entry.submitted_s = time.monotonic()
            self.queue.add(entry.queued())
            self.wake.set()
        else:
            await self.move(entry, lifecycle.FAILED, reason, message[:500], **recorded)

    async def _stop_overdue(self) -> None:
        now = time.monotonic()
        # The sandbox's own wall clock stops the job first; this catches a run stuck outside it.
        # Only started runs count: a run still waiting for a Ray worker has used none of its time.
        for job_id in overdue(self._running(sandbox_started=True), now, grace_s=5.0):
            entry = self.open.get(job_id)
            if entry is not None:
                self._cancel_run(entry)
                await self.fail_attempt(entry, jobs_pb2.FAILURE_CATEGORY_TIMEOUT,
                                        f"stopped after max_runtime_s {entry.job.spec.max_runtime_s}")

    def _cancel_run(self, entry: OpenJob) -> None:
        if entry.runs:
            self.dispatcher.cancel(entry.runs)
        if entry.task is not None:
            entry.task.cancel()
        entry.task, entry.runs = None, []

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
