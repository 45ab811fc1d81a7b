"""EASY backfill: a reservation for the highest-ranked blocked job, and which jobs may use its nodes.

When the job the queue ranks highest cannot be placed, `compute_reservation` finds the earliest
time it fits (the shadow time), assuming every running job holds its resources until
`started_s + max_runtime_s` (the runtime limit is enforced, see `queue_policy.overdue`), and
reserves the node(s) that free up first. Other jobs may still start on a reserved node if they
end by the shadow time or fit in what the node has spare at that time beyond the reserved job's
demand, so backfill never delays the reserved start (Lifka's EASY scheme, as in Slurm's backfill).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Demand", "Reservation", "Resources", "RunningJob", "admits_backfill", "compute_reservation",
           "record_backfill"]


@dataclass(frozen=True, slots=True)
class Resources:
    """Capacity on one node: asked for, held, or free (free may be negative on an overcommitted node)."""

    cpu_milli: int = 0
    memory_mb: int = 0
    gpu: int = 0

    def fits_in(self, free: Resources) -> bool:
        return self.cpu_milli <= free.cpu_milli and self.memory_mb <= free.memory_mb and self.gpu <= free.gpu

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpu_milli + other.cpu_milli, self.memory_mb + other.memory_mb, self.gpu + other.gpu)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.cpu_milli - other.cpu_milli, self.memory_mb - other.memory_mb, self.gpu - other.gpu)


class Demand(Protocol):
    """What backfill reads of a job; `queue_policy.QueuedJob` is one."""

    @property
    def job_id(self) -> str: ...
    @property
    def resources(self) -> Resources: ...  # per node
    @property
    def max_runtime_s(self) -> int: ...
    @property
    def nodes(self) -> int: ...  # 1, or the gang size


@dataclass(frozen=True, slots=True)
class RunningJob:
    """A placed job: it holds `resources` on each of `node_ids` until it ends or is stopped."""

    job_id: str
    node_ids: tuple[str, ...]
    resources: Resources
    started_s: float
    max_runtime_s: int

    @property
    def end_s(self) -> float:
        """When the runtime limit stops it at the latest."""
        return self.started_s + self.max_runtime_s


@dataclass(slots=True)
class Reservation:
    """Nodes held for `job_id` from `start_s` (the shadow time); `spare` is what each keeps beyond it then."""

    job_id: str
    start_s: float
    node_ids: tuple[str, ...]
    spare: dict[str, Resources]


def _earliest_fit(demand: Resources, free_now: Resources, releases: list[tuple[float, Resources]],
                  now_s: float) -> float | None:
    """First time at which `demand` fits as running jobs release (sorted releases); None if never."""
    if demand.fits_in(free_now):
        return now_s
    free = free_now
    for end_s, held in releases:
        free = free + held
        if demand.fits_in(free):
            return end_s
    return None


def compute_reservation(job: Demand, nodes_free: Mapping[str, Resources], running: Iterable[RunningJob],
                        now_s: float) -> Reservation | None:
    """Reserve the node(s) where `job` can start soonest; None if too few of `nodes_free` could ever hold it.

    `nodes_free` is the free capacity now of the nodes every other placement rule accepts for the
    job (for a gang: nodes that may form one gang together); `running` may name other nodes too.
    """
    releases: dict[str, list[tuple[float, Resources]]] = defaultdict(list)
    for run in running:
        end_s = max(run.end_s, now_s)  # a job past its limit is being stopped now
        for node_id in run.node_ids:
            if node_id in nodes_free:
                releases[node_id].append((end_s, run.resources))
    fits: list[tuple[float, str]] = []
    for node_id, free in nodes_free.items():
        node_releases = sorted(releases[node_id], key=lambda release: release[0])
        start_s = _earliest_fit(job.resources, free, node_releases, now_s)
        if start_s is not None:
            fits.append((start_s, node_id))
    if len(fits) < job.nodes:
        return None
    chosen = sorted(fits)[: job.nodes]
    start_s = chosen[-1][0]
    spare = {}
    for _, node_id in chosen:
        freed = [held for end_s, held in releases[node_id] if end_s <= start_s]
        spare[node_id] = sum(freed, nodes_free[node_id]) - job.resources
    return Reservation(job.job_id, start_s, tuple(sorted(spare)), spare)


def _untouched(reservation: Reservation | None, node_id: str, job: Demand, now_s: float) -> bool:
    """No reservation, another node, the reserved job itself, or a job that ends by the shadow time."""
    return (reservation is None or node_id not in reservation.spare or job.job_id == reservation.job_id
            or now_s + job.max_runtime_s <= reservation.start_s)


def admits_backfill(reservation: Reservation | None, node_id: str, job: Demand, now_s: float) -> bool:
    """Whether placing `job` on `node_id` now leaves the reserved start intact (capacity now is the caller's check)."""
    return _untouched(reservation, node_id, job, now_s) or job.resources.fits_in(reservation.spare[node_id])


def record_backfill(reservation: Reservation | None, node_id: str, job: Demand, now_s: float) -> None:
    """Records that `job` was placed on `node_id`: a job that outlives the shadow time uses up spare."""
    if _untouched(reservation, node_id, job, now_s):
        return
    assert job.resources.fits_in(reservation.spare[node_id]), f"job {job.job_id} was not admitted on {node_id}"
    reservation.spare[node_id] = reservation.spare[node_id] - job.resources
