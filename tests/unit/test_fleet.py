"""Liveness of the in-memory fleet: pure state, time passed in."""

from __future__ import annotations

import pytest

from shuniu.protos.v1 import common_pb2, nodes_pb2
from shuniu.scheduler.control_plane.config import LivenessConfig
from shuniu.scheduler.control_plane.fleet import DOWN, READY, SUSPECT, Fleet

LIVENESS = LivenessConfig(heartbeat_interval_s=1.0, suspect_after_s=3.0, down_after_s=6.0, restart_grace_s=6.0)


def node(node_id: str, site: str = "zhengzhou", state: int = READY, draining: bool = False) -> nodes_pb2.Node:
    return nodes_pb2.Node(node_id=node_id, site=site, compute_class=common_pb2.COMPUTE_CLASS_GENERAL, epoch=1,
                          state=state, draining=draining,
                          capacity=common_pb2.Capacity(cpu_milli=8000, memory_mb=16384),
                          free=common_pb2.Capacity(cpu_milli=4000, memory_mb=8192))


@pytest.mark.parametrize(
    ("silent_s", "start", "expected"),
    [
        (2.9, READY, READY),
        (3.1, READY, SUSPECT),
        (5.9, SUSPECT, SUSPECT),
        (6.1, SUSPECT, DOWN),
        (6.1, READY, DOWN),
        (100.0, DOWN, DOWN),
    ],
    ids=["ready-within-timeout", "ready-to-suspect", "suspect-within-grace", "suspect-to-down",
         "ready-straight-to-down", "down-stays-down"],
)
def test_sweep_moves_silent_nodes_by_their_silence(silent_s, start, expected):
    fleet = Fleet(LIVENESS)
    fleet.upsert(node("a", state=start), now_s=0.0)
    transitions = fleet.sweep(now_s=silent_s)
    assert int(fleet.state[fleet.slots["a"]]) == expected
    assert [(t.old_state, t.new_state) for t in transitions] == ([] if start == expected else [(start, expected)])


def test_a_suspect_node_that_heartbeats_is_ready_again():
    fleet = Fleet(LIVENESS)
    slot = fleet.upsert(node("a"), now_s=0.0)
    fleet.sweep(now_s=4.0)
    hb = nodes_pb2.HeartbeatRequest(node_id="a", epoch=1, load=0.5, free=common_pb2.Capacity(cpu_milli=1000))
    transition = fleet.apply_heartbeat(slot, hb, now_s=4.5, now_ms=4500)
    assert transition is not None and (transition.old_state, transition.new_state) == (SUSPECT, READY)
    assert fleet.sweep(now_s=7.0) == []


def test_site_sums_count_only_ready_undrained_nodes_as_placeable():
    fleet = Fleet(LIVENESS, capacity=2)  # small on purpose: upserts must grow the columns
    fleet.upsert(node("a"), 0.0)
    fleet.upsert(node("b", draining=True), 0.0)
    fleet.upsert(node("c", state=SUSPECT), 0.0)
    fleet.upsert(node("d", site="luoyang"), 0.0)
    sums = fleet.site_sums()
    zz, ly = fleet.site_order.index("zhengzhou"), fleet.site_order.index("luoyang")
    assert (sums["nodes_ready"][zz], sums["nodes_total"][zz]) == (1, 3)
    assert sums["capacity"][zz].tolist() == [8000, 16384, 0]
    assert sums["free"][ly].tolist() == [4000, 8192, 0]


def test_removed_slots_are_reused_and_forgotten():
    fleet = Fleet(LIVENESS)
    fleet.upsert(node("a"), 0.0)
    fleet.remove("a")
    slot = fleet.upsert(node("b"), 0.0)
    assert fleet.record("a") is None and fleet.slots == {"b": slot} and len(fleet) == 1


@pytest.mark.parametrize(
    "kwargs",
    [dict(heartbeat_interval_s=0), dict(suspect_after_s=0.5), dict(down_after_s=2.0), dict(restart_grace_s=-1)],
    ids=["zero-interval", "suspect-before-interval", "down-before-suspect", "negative-grace"],
)
def test_liveness_config_refuses_inconsistent_timeouts(kwargs):
    base = dict(heartbeat_interval_s=1.0, suspect_after_s=3.0, down_after_s=6.0, restart_grace_s=6.0)
    with pytest.raises(ValueError):
        LivenessConfig(**{**base, **kwargs})
