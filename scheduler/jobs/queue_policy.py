"""Queue policy: which queued job the scheduling loop tries next, and which running jobs to stop.

Pure logic, no I/O. Buyers take turns by weighted fair share (lowest decayed usage / weight
first, see fair_share.py); a buyer's jobs go by priority, then submit time, then job id. One
pass hands out at most `max_scan` candidates, reading only the buyers and jobs it hands out,
so a queue of any length costs O(max_scan · log n) work. The caller reports each candidate placed or
blocked; a blocked job never stops the rest (no head-of-line blocking), and a placed one is
charged its expected cost for the rest of the pass, so one pass interleaves buyers by weight.

The scheduling loop, in outline:

    queue = JobQueue(FairShare(half_life_s=...))        # add() each ADMITTED job
    reservation = None
    scan = queue.order(now_s, max_scan=1000)
    for job in scan:
        nodes = feasible nodes with capacity now, kept if admits_backfill(reservation, node, job, now_s)
        if nodes:  dispatch; record_backfill(reservation, node, job, now_s) per node; scan.placed(job.job_id)
        else:      scan.blocked(job.job_id)
                   if reservation is None: reservation = compute_reservation(job, free, running, now_s)
    for job_id in overdue(running, now_s): stop it (FAILURE_CATEGORY_TIMEOUT)
    as each run ends: queue.fair_share.charge(buyer, run_fen(estimated_fen, seconds, max_runtime_s), now_s)

Fair share is measured in billed units, fen, now that billing has landed (CPU-seconds before it):
a run is charged its placement's compute estimate (the price card × time-of-use × tier rule the
biller rates by) for the part of `max_runtime_s` it ran, so an hour on a dear AI node weighs more
than an hour on a cheap CPU node. `cpu_seconds` stays for callers without prices (simulations).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from shuniu.scheduler.jobs.backfill import (
    Reservation,
    Resources,
    RunningJob,
    admits_backfill,
    compute_reservation,
    record_backfill,
)
from shuniu.scheduler.jobs.fair_share import FairShare
from sortedcontainers import SortedList

__all__ = ["FairShare", "JobQueue", "QueuePass", "QueuedJob", "Reservation", "Resources", "RunningJob",
           "admits_backfill", "compute_reservation", "cpu_seconds", "expected_cpu_seconds", "overdue",
           "record_backfill", "run_fen"]

# The highest JobSpec.priority (spec_rules checks it at submit; defined here, in pure logic that
# imports nothing of the control plane).
MAX_PRIORITY = 1000
# A buyer whose jobs keep coming back blocked gives up the rest of its turn after this many in one
# pass, so that one buyer's backlog of unplaceable jobs cannot use up the whole scan.
DEFAULT_MAX_BLOCKED_PER_BUYER = 100


def _check_int(value: object, name: str, low: int, high: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        upper = "" if high == math.inf else f", at most {high}"
        raise ValueError(f"{name} {value!r} invalid; expected an integer at least {low}{upper}")


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """An admitted job waiting for placement; `resources` is per node (a gang asks it on each)."""

    job_id: str
    buyer_id: str
    priority: int
    submitted_s: float
    resources: Resources
    max_runtime_s: int
    gang_size: int = 1  # 0 or 1: one node

    def __post_init__(self) -> None:
        if not self.job_id or not self.buyer_id:
            raise ValueError(f"job_id {self.job_id!r} and buyer_id {self.buyer_id!r} must both be non-empty")
        _check_int(self.priority, "priority", 0, MAX_PRIORITY)
        _check_int(self.max_runtime_s, "max_runtime_s", 1)
        _check_int(self.gang_size, "gang_size", 0)
        for name in ("cpu_milli", "memory_mb", "gpu"):
            _check_int(getattr(self.resources, name), f"resources.{name}", 0)
        if not math.isfinite(self.submitted_s):
            raise ValueError(f"submitted_s {self.submitted_s!r} invalid; expected a finite time in seconds")

    @property
    def nodes(self) -> int:
        return max(1, self.gang_size)

    @property
    def rank_key(self) -> tuple[int, float, str]:
        """Order within a buyer: priority high first, then earliest submitted, then job id."""
        return (-self.priority, self.submitted_s, self.job_id)


def cpu_seconds(resources: Resources, seconds: float, nodes: int = 1) -> float:
    """Usage in CPU-seconds: cores held × seconds × nodes (the fair-share unit until billing lands)."""
    return resources.cpu_milli / 1000 * seconds * nodes


def run_fen(estimated_fen: int, seconds: float, max_runtime_s: int) -> float:
    """Usage in fen of a run that held its nodes `seconds`: the placement's estimate for `max_runtime_s`, pro rata.

    A run is stopped at `max_runtime_s`, so it never counts more than the whole estimate.
    """
    _check_int(estimated_fen, "estimated_fen", 0)
    _check_int(max_runtime_s, "max_runtime_s", 1)
    if not math.isfinite(seconds):
        raise ValueError(f"seconds {seconds!r} invalid; expected a finite time in seconds")
    return estimated_fen * min(max(0.0, seconds), max_runtime_s) / max_runtime_s


def expected_cpu_seconds(job: QueuedJob) -> float:
    """The most a job can use: its CPU for `max_runtime_s` on each of its nodes."""
    return cpu_seconds(job.resources, job.max_runtime_s, job.nodes)


class JobQueue:
    """Queued jobs by buyer, each buyer's in rank order; `order` starts a pass over them."""

    def __init__(self, fair_share: FairShare, cost: Callable[[QueuedJob], float] = expected_cpu_seconds) -> None:
        """`cost` is a job's expected usage in `fair_share.unit` (billed fen once billing lands)."""
        self.fair_share = fair_share
        self.cost = cost
        self._jobs: dict[str, QueuedJob] = {}
        self._by_buyer: dict[str, SortedList] = {}  # buyer -> rank keys of its queued jobs

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def get(self, job_id: str) -> QueuedJob | None:
        return self._jobs.get(job_id)

    def waiting(self, buyer_id: str) -> int:
        """How many jobs of the buyer are queued (its quota counts them); O(1)."""
        keys = self._by_buyer.get(buyer_id)
        return 0 if keys is None else len(keys)

    def add(self, job: QueuedJob) -> None:
        """Queues a job; a job id already queued is refused (requeue after `remove`)."""
        if job.job_id in self._jobs:
            raise ValueError(f"job {job.job_id} is already queued")
        self._jobs[job.job_id] = job
        keys = self._by_buyer.get(job.buyer_id)
        if keys is None:
            keys = self._by_buyer[job.buyer_id] = SortedList()
            self.fair_share.set_waiting(job.buyer_id, True)
        keys.add(job.rank_key)

    def remove(self, job_id: str) -> QueuedJob | None:
        """Takes a job out (placed, cancelled); None if it was not queued."""
        job = self._jobs.pop(job_id, None)
        if job is None:
            return None
        keys = self._by_buyer[job.buyer_id]
        keys.remove(job.rank_key)
        if not keys:
            del self._by_buyer[job.buyer_id]
            self.fair_share.set_waiting(job.buyer_id, False)
        return job

    def order(self, now_s: float, max_scan: int = 1000,
              max_blocked_per_buyer: int = DEFAULT_MAX_BLOCKED_PER_BUYER) -> QueuePass:
        """A pass handing out at most `max_scan` candidates; report each with `placed` or `blocked`."""
        _check_int(max_scan, "max_scan", 1)
        _check_int(max_blocked_per_buyer, "max_blocked_per_buyer", 1)
        return QueuePass(self, now_s, max_scan, max_blocked_per_buyer)

    def _next_after(self, buyer_id: str, key: tuple | None) -> QueuedJob | None:
        """The buyer's first queued job ranked after `key` (from the start if None); O(log n)."""
        keys = self._by_buyer.get(buyer_id)
        if not keys:
            return None
        # irange walks the sorted sublists lazily: no positional index to rebuild after removals.
        following = next(keys.irange(minimum=key, inclusive=(False, True)), None)
        return None if following is None else self._jobs[following[2]]


class QueuePass:
    """One pass of candidates in fair-share order; iterate, and report each before asking for the next.

    The buyers considered are the `max_scan` lowest by share when the pass starts (no pass hands
    out more candidates than that, so none further down could be reached); jobs queued or removed
    meanwhile are seen as they are when their buyer's turn comes.
    """

    def __init__(self, queue: JobQueue, now_s: float, max_scan: int, max_blocked_per_buyer: int) -> None:
        self.placed_ids: list[str] = []
        self.blocked_ids: list[str] = []  # in rank order: the first is the one to reserve for
        self._queue = queue
        self._max_scan = max_scan
        self._max_blocked = max_blocked_per_buyer
        fair_share = queue.fair_share
        self._turns = [(fair_share.share(b, now_s), b) for b in fair_share.lowest_waiting(max_scan)]
        heapq.heapify(self._turns)  # (projected share, buyer): the lowest takes the next turn
        self._cursor: dict[str, tuple] = {}  # buyer -> rank key of its last candidate
        self._blocked_count: dict[str, int] = {}
        self._pending: QueuedJob | None = None

    @property
    def scanned(self) -> int:
        return len(self.placed_ids) + len(self.blocked_ids)

    def __iter__(self) -> Iterator[QueuedJob]:
        return self

    def __next__(self) -> QueuedJob:
        if self._pending is not None:
            raise RuntimeError(f"report job {self._pending.job_id} placed or blocked before asking for the next")
        while self._turns and self.scanned < self._max_scan:
            buyer = self._turns[0][1]
            job = self._queue._next_after(buyer, self._cursor.get(buyer))
            if job is None:
                heapq.heappop(self._turns)
                continue
            self._cursor[buyer] = job.rank_key
            self._pending = job
            return job
        raise StopIteration

    def placed(self, job_id: str) -> None:
        """The candidate was placed: it leaves the queue and its buyer is charged its expected cost."""
        job = self._take(job_id)
        self.placed_ids.append(job_id)
        self._queue.remove(job_id)
        share, buyer = self._turns[0]
        cost = self._queue.cost(job)
        assert buyer == job.buyer_id and cost >= 0, f"cost {cost} of job {job_id} must be >= 0"
        heapq.heapreplace(self._turns, (share + cost / self._queue.fair_share.weight(buyer), buyer))

    def blocked(self, job_id: str) -> None:
        """The candidate could not be placed now: it stays queued and the pass goes on."""
        job = self._take(job_id)
        self.blocked_ids.append(job_id)
        count = self._blocked_count.get(job.buyer_id, 0) + 1
        self._blocked_count[job.buyer_id] = count
        if count >= self._max_blocked:
            heapq.heappop(self._turns)

    def _take(self, job_id: str) -> QueuedJob:
        job = self._pending
        if job is None or job.job_id != job_id:
            raise RuntimeError(f"job {job_id} is not the pending candidate "
                               f"({job.job_id if job else 'none'}); report each candidate once, in order")
        self._pending = None
        return job


def overdue(running: Iterable[RunningJob], now_s: float, grace_s: float = 0.0) -> list[str]:
    """Jobs that have used up `max_runtime_s` (plus `grace_s`), longest overdue first, each once."""
    late = sorted((run.end_s, run.job_id) for run in running if now_s >= run.end_s + grace_s)
    return list(dict.fromkeys(job_id for _, job_id in late))
