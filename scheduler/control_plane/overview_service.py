"""OverviewService: the exchange at a glance (`shuniu top`), from what the control plane already holds.

Fleet and pools come from the Fleet's columns, queue and jobs from the scheduler's open jobs,
rates from the job-transition counters, sandbox start-up from the runs' recent results, and
billing lag from two small reads of the usage stream. Nothing is written.

The same snapshot of the open jobs feeds Prometheus (`shuniu_jobs`, `shuniu_queue_jobs`)
through a collector registered here, at scrape time, so the job layer's hot paths keep no
gauges up to date.
"""

from __future__ import annotations

import asyncio
import collections
import time

import numpy as np
import redis

from shuniu.monitoring import collectors, metrics
from shuniu.protos.usage_schema import BILLER_GROUP, USAGE_STREAM
from shuniu.protos.v1 import common_pb2, overview_pb2, overview_pb2_grpc
from shuniu.scheduler.control_plane import validate
from shuniu.scheduler.control_plane.fleet import DOWN, READY, SUSPECT
from shuniu.scheduler.control_plane.node_service import refusals
from shuniu.scheduler.control_plane.pools import pools_response
from shuniu.scheduler.jobs import lifecycle

DEFAULT_ANCHOR = "zhengzhou"
TIERS = (common_pb2.TIER_T1, common_pb2.TIER_T2, common_pb2.TIER_T3, common_pb2.TIER_T4)
RATE_WINDOW_S = 10.0
_OPEN_STATES = (lifecycle.PENDING, lifecycle.ADMITTED, lifecycle.SCHEDULED, lifecycle.RUNNING)
_ENDED_STATES = tuple(sorted(lifecycle.TERMINAL))
_RATE_STATES = {"admitted": (lifecycle.ADMITTED,), "scheduled": (lifecycle.SCHEDULED,), "ended": _ENDED_STATES}
_jobs_collector: collectors.JobsCollector | None = None


def open_jobs(scheduler) -> tuple[dict[int, int], dict[int, tuple[int, float]]]:
    """Open jobs by state, and admitted jobs by their latest accepted tier: (count, longest wait in s)."""
    by_state = dict.fromkeys(_OPEN_STATES, 0)
    queued = {tier: (0, 0.0) for tier in TIERS}
    now = time.monotonic()
    for entry in list(scheduler.open.values()):
        state = entry.job.state
        by_state[state] = by_state.get(state, 0) + 1
        if state == lifecycle.ADMITTED:
            tier = entry.job.spec.max_tier or common_pb2.TIER_T4
            count, longest = queued.get(tier, (0, 0.0))
            queued[tier] = (count + 1, max(longest, now - entry.submitted_s))
    return by_state, queued


def jobs_snapshot(plane) -> collectors.JobsSnapshot | None:
    """What `shuniu_jobs` and `shuniu_queue_jobs` export; None before the job layer started."""
    if plane.jobs is None:
        return None
    by_state, queued = open_jobs(plane.jobs.scheduler)
    return collectors.JobsSnapshot(by_state={lifecycle.name(s).lower(): n for s, n in by_state.items()},
                                   queued_by_tier={f"T{t}": n for t, (n, _) in queued.items()})


def _register_jobs_collector(plane) -> None:
    """One collector per process (the registry is global); it follows the latest control plane."""
    global _jobs_collector
    if _jobs_collector is None:
        _jobs_collector = collectors.JobsCollector(lambda: None)
        metrics.CONTROL_PLANE.register(_jobs_collector)
    _jobs_collector.snapshot = lambda: jobs_snapshot(plane)


def transitions_total(state: int) -> float:
    """Transitions into `state` since this process started (the job layer's Prometheus counter)."""
    value = metrics.CONTROL_PLANE.get_sample_value("shuniu_job_transitions_total",
                                                   {"state": lifecycle.name(state).lower()})
    return value or 0.0


def startup_summary(seconds: list[float]) -> overview_pb2.StartupSummary:
    if not seconds:
        return overview_pb2.StartupSummary()
    ms = np.asarray(seconds) * 1000
    return overview_pb2.StartupSummary(runs=len(ms), p50_ms=float(np.percentile(ms, 50)),
                                       p99_ms=float(np.percentile(ms, 99)), max_ms=float(ms.max()))


class OverviewService(overview_pb2_grpc.OverviewServiceServicer):
    def __init__(self, plane) -> None:
        self.plane = plane
        self._redis = redis.Redis.from_url(plane.config.redis_url, socket_timeout=5)  # read in a worker thread
        self._started_s = time.monotonic()
        self._samples: collections.deque[tuple[float, dict[str, float]]] = collections.deque(maxlen=256)
        _register_jobs_collector(plane)

    @refusals
    async def GetOverview(self, request: overview_pb2.GetOverviewRequest, context) -> overview_pb2.GetOverviewResponse:
        anchor = request.anchor_site or DEFAULT_ANCHOR
        validate.site(anchor, "anchor_site")
        plane = self.plane
        lag_ms, waiting = await asyncio.to_thread(self._billing_lag)
        response = overview_pb2.GetOverviewResponse(
            server_unix_ms=time.time_ns() // 1_000_000, anchor_site=anchor, fleet=self._fleet(),
            rates=self._rates(), sandbox_startup=startup_summary(metrics.recent_run_startups_s.values()),
            billing_lag_ms=lag_ms, unbilled_batches=waiting, uptime_s=time.monotonic() - self._started_s)
        response.pools.extend(pools_response(anchor, list(TIERS), plane.fleet, plane.matrix, plane.config.tiers).pools)
        if plane.jobs is not None:
            by_state, queued = open_jobs(plane.jobs.scheduler)
            for tier, (count, longest_s) in sorted(queued.items()):
                response.queue.add(tier=tier, jobs=count, oldest_wait_ms=round(longest_s * 1000))
            for state, count in sorted(by_state.items()):
                response.open_jobs.add(state=state, jobs=count)
        for state in _ENDED_STATES:
            response.ended_jobs.add(state=state, jobs=int(transitions_total(state)))
        return response

    def _fleet(self) -> overview_pb2.FleetCounts:
        fleet = self.plane.fleet
        used, state = fleet.used, fleet.state
        return overview_pb2.FleetCounts(
            ready=int(np.count_nonzero(used & (state == READY))), suspect=int(np.count_nonzero(used & (state == SUSPECT))),
            down=int(np.count_nonzero(used & (state == DOWN))),
            draining=int(np.count_nonzero(used & (state == READY) & fleet.draining)))

    def _rates(self) -> overview_pb2.JobRates:
        """Per second over the last RATE_WINDOW_S, from samples taken at each call (since start at first)."""
        now = time.monotonic()
        totals = {name: sum(transitions_total(s) for s in states) for name, states in _RATE_STATES.items()}
        self._samples.append((now, totals))
        while len(self._samples) > 1 and now - self._samples[1][0] >= RATE_WINDOW_S:
            self._samples.popleft()  # keep the newest sample at least a window old
        then, before = self._samples[0]
        if now - then < 1.0:  # too short a window to say anything: since start
            then, before = self._started_s, dict.fromkeys(totals, 0.0)
        window_s = max(now - then, 1e-3)
        return overview_pb2.JobRates(
            admitted_per_s=(totals["admitted"] - before["admitted"]) / window_s,
            scheduled_per_s=(totals["scheduled"] - before["scheduled"]) / window_s,
            ended_per_s=(totals["ended"] - before["ended"]) / window_s, window_s=window_s)

    def _billing_lag(self) -> tuple[int, int]:
        oldest_ms, waiting = collectors.unbilled(self._redis, USAGE_STREAM, BILLER_GROUP)
        lag_ms = 0 if oldest_ms is None else max(0, time.time_ns() // 1_000_000 - oldest_ms)
        return lag_ms, waiting


__all__ = ["OverviewService", "jobs_snapshot", "open_jobs"]
