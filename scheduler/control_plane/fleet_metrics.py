"""The fleet as the metrics collector sees it: counts and sums over the Fleet's numpy columns.

Runs on the scrape (the metrics server's thread), never on the heartbeat path. It reads
columns the event loop writes; a scrape may see one heartbeat more or less, never a torn value.
"""

from __future__ import annotations

import time

import numpy as np

from shuniu.monitoring.collectors import FleetSnapshot
from shuniu.protos.v1 import common_pb2, nodes_pb2
from shuniu.scheduler.control_plane.fleet import DOWN

_CLASSES = {v: n.removeprefix("COMPUTE_CLASS_").lower() for n, v in common_pb2.ComputeClass.items() if v}
_STATES = {v: n.removeprefix("NODE_STATE_").lower() for n, v in nodes_pb2.NodeState.items() if v}
_WIDTH = 4  # class and state codes are < 4: one combined index site·16 + class·4 + state
_CORE_MILLI = 1000
_MB_BYTES = 1 << 20


def _resources(row) -> tuple[float, float, float]:
    return float(row[0]) / _CORE_MILLI, float(row[1]) * _MB_BYTES, float(row[2])


def fleet_snapshot(plane) -> FleetSnapshot:
    """Nodes by site/class/state, capacity per site and class and per pool, silence per site."""
    fleet, n_sites = plane.fleet, len(plane.fleet.site_order)
    n = len(fleet.records)
    used, site, klass, state = fleet.used[:n], fleet.site[:n].astype(np.int64), fleet.compute_class[:n], fleet.state[:n]
    combined = (site * _WIDTH + klass) * _WIDTH + state
    counts = np.bincount(combined[used], minlength=n_sites * _WIDTH * _WIDTH).reshape(n_sites, _WIDTH, _WIDTH)
    present = list(zip(*np.nonzero(counts.sum(axis=2))))
    nodes = {}
    for s, c in present:
        for code, name in _STATES.items():  # every state of a present (site, class): series do not vanish at 0
            nodes[(fleet.site_order[s], _CLASSES.get(int(c), "unspecified"), name)] = int(counts[s, c, code])
    ok = fleet.placeable()[:n]
    by_class = site[ok] * _WIDTH + klass[ok]
    cap, free = (np.stack([np.bincount(by_class, weights=column[:n][ok, k], minlength=n_sites * _WIDTH)
                           for k in range(3)], axis=1) for column in (fleet.capacity, fleet.free))
    capacity = {(fleet.site_order[s], _CLASSES.get(int(c), "unspecified")):
                (_resources(cap[s * _WIDTH + c]), _resources(free[s * _WIDTH + c])) for s, c in present}
    return FleetSnapshot(nodes=nodes, capacity=capacity, pools=_pools(plane), silence_max_s=_silence(fleet, n),
                         heartbeats=plane.service.heartbeats)


def _pools(plane) -> dict:
    """(anchor site, tier) -> (ready nodes, capacity, free) for every site as anchor and every tier."""
    sums = plane.fleet.site_sums()
    index = {s: i for i, s in enumerate(plane.fleet.site_order)}
    pools = {}
    for anchor in plane.fleet.site_order:
        for tier in (1, 2, 3, 4):
            rows = [index[s] for s, _, _ in plane.matrix.pool_sites(anchor, tier, plane.config.tiers)]
            pools[(anchor, f"T{tier}")] = (int(sums["nodes_ready"][rows].sum()),
                                           _resources(sums["capacity"][rows].sum(axis=0)),
                                           _resources(sums["free"][rows].sum(axis=0)))
    return pools


def _silence(fleet, n: int) -> dict[str, float]:
    live = fleet.used[:n] & (fleet.state[:n] != DOWN)
    # After a restart, last_seen lies in the future (the reconnect grace): that is silence 0.
    silent_s = np.maximum(0.0, time.monotonic() - fleet.last_seen_s[:n][live])
    longest = np.zeros(len(fleet.site_order))
    np.maximum.at(longest, fleet.site[:n][live].astype(np.int64), silent_s)
    present = np.bincount(fleet.site[:n][fleet.used[:n]].astype(np.int64), minlength=len(fleet.site_order))
    return {fleet.site_order[i]: float(longest[i]) for i in np.flatnonzero(present)}
