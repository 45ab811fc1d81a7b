"""`shuniu bench metrics`: what the metric updates cost on the hot paths, as a share of their time.

Each path runs the same work in one process with the metrics on and with every update a
no-op (`metrics.updates_off()`), both ways back to back in every round, in alternating order;
the figures are medians over the rounds, so that a noisy neighbour on the shared machine
weighs on both sides alike. Every path is timed in CPU time of this process (for the
biller: its own CPU, without Redis', so the share is an upper bound of its share of wall time):

- heartbeat handling: `NodeService._accept` on a fleet held in memory (one heartbeat in
  HEARTBEAT_SAMPLE_EVERY is timed into a histogram);
- placement: one pass over a queue as the scheduler's `_place` makes it, one decision per job
  (a pass histogram, a decision counter per job and a queue-wait histogram per placed job);
- billing: an in-process biller rating, splitting and posting signed usage batches to a
  private Redis (a batch counter and histograms, records, fen and revenue per party).

The overhead is the median of the rounds' (on − off) / off; the goal is under 5 % on each path.
"""

from __future__ import annotations

import pathlib
import statistics
import tempfile
import time
from collections.abc import Callable

import redis

from shuniu.bench.report import Report
from shuniu.monitoring import metrics
from shuniu.nodes.topology import RttMatrix
from shuniu.protos.v1 import common_pb2, nodes_pb2
from shuniu.scheduler.control_plane.config import ControlPlaneConfig
from shuniu.scheduler.control_plane.fleet import READY
from shuniu.scheduler.control_plane.node_service import NodeService

__all__ = ["run_metrics_bench"]

GOAL_OVERHEAD = 0.05
_NOW_S = 1_000.0


def _paired_on_off(work: Callable[[], float], rounds: int) -> tuple[float, float, float]:
    """Median seconds of `work` with metrics on and off, and the median of the paired overheads.

    Each round runs both ways back to back, in alternating order, so that load from other work
    on the machine falls on both sides of a pair; the median discards the disturbed rounds.
    """
    on, off, overhead = [], [], []
    for r in range(rounds):
        pair = {}
        for way in (("on", "off") if r % 2 == 0 else ("off", "on")):
            if way == "on":
                pair[way] = work()
            else:
                with metrics.updates_off():
                    pair[way] = work()
        on.append(pair["on"])
        off.append(pair["off"])
        overhead.append((pair["on"] - pair["off"]) / pair["off"])
    return statistics.median(on), statistics.median(off), statistics.median(overhead)


def heartbeat_path(nodes: int, heartbeats: int) -> Callable[[], float]:
    """Seconds to apply `heartbeats` heartbeats, round robin over a fleet of `nodes` ready nodes."""
    from shuniu.bench.scheduler import synthetic_fleet  # noqa: PLC0415

    fleet = synthetic_fleet(nodes).fleet
    service = NodeService(None, fleet, RttMatrix(), ControlPlaneConfig())
    ready = [n for n, slot in fleet.slots.items() if fleet.state[slot] == READY]
    requests = []
    for i, node_id in enumerate(ready):
        slot = fleet.slots[node_id]
        cap = fleet.record(node_id).capacity
        requests.append(nodes_pb2.HeartbeatRequest(
            node_id=node_id, epoch=int(fleet.epoch[slot]), seq=i, sent_unix_ms=int(time.time() * 1000), load=0.3,
            free=common_pb2.Capacity(cpu_milli=cap.cpu_milli // 2, memory_mb=cap.memory_mb // 2, gpu=cap.gpu)))

    def work() -> float:
        started = time.process_time()  # CPU time: other work on the machine does not count
        for k in range(heartbeats):
            service._accept(requests[k % len(requests)])
        return time.process_time() - started

    return work


def placement_path(nodes: int, jobs: int) -> Callable[[], float]:
    """Seconds of one placement pass over `jobs` queued jobs, with the scheduler's metric updates per decision."""
    from shuniu.bench.scheduler import synthetic_fleet, synthetic_jobs  # noqa: PLC0415
    from shuniu.scheduler.placement import Placer, PlacementConfig, build_node_table, site_tiers  # noqa: PLC0415

    synthetic = synthetic_fleet(nodes)
    config = PlacementConfig()
    table = build_node_table(synthetic.fleet)
    domain_ids = [table.domains.intern(d) for d in synthetic.domains]
    placer = Placer(table, site_tiers(RttMatrix(), config.bounds, table.site_order), config)
    queue = synthetic_jobs(synthetic, domain_ids, jobs)

    def work() -> float:
        started = time.process_time()
        with metrics.PLACEMENT.time():  # the updates of JobScheduler.schedule_pass and _place
            for request in queue:
                decision = placer.plan(request, _NOW_S)
                metrics.PLACEMENT_OUTCOMES[decision.placed].inc()
                if decision.placed:
                    metrics.QUEUE_WAIT_BY_TIER[decision.tier].observe(_NOW_S - request.submitted_s)
        return time.process_time() - started

    return work


class BillingPath:
    """A private Redis with a seeded market; each call bills `batches` fresh batches in-process."""

    def __init__(self, root: pathlib.Path, batches: int, batch_records: int) -> None:
        from shuniu.bench.billing import seed_market, signed_sender  # noqa: PLC0415
        from shuniu.market.billing.biller import Biller  # noqa: PLC0415
        from shuniu.nodes.usage import UsageSpool  # noqa: PLC0415
        from shuniu.stack import LocalRedis  # noqa: PLC0415

        self.server = LocalRedis(root / "redis").start()
        self.client = redis.Redis.from_url(self.server.url)
        self.market = seed_market(self.client, nodes=8, products=12, buyers=50)
        self.biller = Biller(self.client)
        self.biller.ensure_group()
        self.senders = [signed_sender(self.market, UsageSpool(root / "spool" / n, n), self.client)
                        for n in self.market.nodes]
        self.batches, self.batch_records, self.round = batches, batch_records, 0

    def __call__(self) -> float:
        from shuniu.bench.billing import synthetic_usage  # noqa: PLC0415

        self.round += 1
        for i in range(self.batches):
            sender = self.senders[i % len(self.senders)]
            sender.spool.append(synthetic_usage(self.market, sender.spool.node_id, self.batch_records,
                                                seed=self.round * 100_000 + i, prefix=f"m{self.round}-"))
            sender.send_pending()
        started = time.process_time()  # the biller's own CPU, not Redis' (a larger share than of wall time)
        handled = 0
        while handled < self.batches:
            handled += self.biller.step(block_ms=1000)
        elapsed = time.process_time() - started
        if self.biller.outcomes.get("dead_letter"):
            raise AssertionError(f"the biller dead-lettered batches: {self.biller.outcomes}")
        return elapsed

    def close(self) -> None:
        self.client.close()
        self.server.stop()


def _figure(report: Report, what: str, per: str, units: int, measured: tuple[float, float, float]) -> None:
    on_s, off_s, overhead = measured
    report.add(f"{what}: overhead of metric updates", overhead * 100, "%", None, "< 5 %", overhead < GOAL_OVERHEAD)
    report.add(f"{what}: time per {per}, metrics on (baseline: off)", on_s / units * 1e6, "µs", off_s / units * 1e6)


def run_metrics_bench(nodes: int = 20_000, heartbeats: int = 200_000, jobs: int = 2_000, batches: int = 40,
                      batch_records: int = 2_000, rounds: int = 15,
                      step: Callable[[str], None] = lambda _: None) -> Report:
    """Every hot path on and off; one report."""
    report = Report("metrics", "the same work with every metric update a no-op",
                    {"nodes": nodes, "heartbeats": heartbeats, "jobs": jobs, "batches": batches,
                     "batch_records": batch_records, "rounds": rounds})
    step(f"heartbeat handling: {heartbeats:,} heartbeats over {nodes:,} nodes")
    _figure(report, "heartbeat handling", "heartbeat", heartbeats,
            _paired_on_off(heartbeat_path(nodes, heartbeats), rounds))
    step(f"placement: passes of {jobs:,} jobs over {nodes:,} nodes")
    _figure(report, "placement", "decision", jobs, _paired_on_off(placement_path(nodes, jobs), rounds))
    step(f"billing: {batches} batches of {batch_records:,} records, in-process biller")
    with tempfile.TemporaryDirectory(prefix="shuniu-bench-metrics-") as tmp:
        billing = BillingPath(pathlib.Path(tmp), batches, batch_records)
        try:
            billing()  # warm: kernels compiled or loaded, prices cached
            measured = _paired_on_off(billing, rounds)
        finally:
            billing.close()
    _figure(report, "billing (rate, split, post)", "batch", batches, measured)
    return report
