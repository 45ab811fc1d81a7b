"""Metric definitions: names, units and bounded labels; the fleet snapshot and its collector."""

from __future__ import annotations

import re
import time
import types

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from shuniu.monitoring import collectors, metrics
from shuniu.nodes import topology
from shuniu.protos.v1 import common_pb2, nodes_pb2
from shuniu.scheduler.control_plane.config import ControlPlaneConfig, LivenessConfig
from shuniu.scheduler.control_plane.fleet import DOWN, READY, Fleet
from shuniu.scheduler.control_plane.fleet_metrics import fleet_snapshot

ALLOWED_LABELS = {"site", "tier", "class", "state", "kind", "reason", "outcome"}
UNITS = ("_seconds", "_bytes", "_total", "_fen", "_cores", "_gpus")
# Counts of things are unitless gauges; each is named for what it counts.
COUNT_GAUGES = {"shuniu_jobs", "shuniu_queue_jobs", "shuniu_nodes", "shuniu_pool_nodes", "shuniu_agent_nodes",
                "shuniu_sandbox_runs_active", "shuniu_sandbox_pool_idle_children"}


def _defined() -> list:
    found = {id(m): m for registry in metrics.REGISTRIES.values() for m in registry._names_to_collectors.values()
             if hasattr(m, "_labelnames")}
    return sorted(found.values(), key=lambda m: m._name)


@pytest.mark.parametrize("metric", _defined(), ids=lambda m: m._name)
def test_every_metric_is_prefixed_has_a_unit_and_bounded_labels(metric):
    name = metric._name + ("_total" if metric._type == "counter" else "")
    assert name.startswith("shuniu_")
    assert name.endswith(UNITS) or name in COUNT_GAUGES, f"{name} does not end in a unit"
    assert set(metric._labelnames) <= ALLOWED_LABELS, f"{name} has labels {metric._labelnames}"


_COLLECTED = (*collectors.FLEET_METRIC_NAMES, *collectors.JOBS_METRIC_NAMES, *collectors.BILLING_METRIC_NAMES,
              *collectors.AUDIT_METRIC_NAMES)


@pytest.mark.parametrize("name", _COLLECTED)
def test_every_collected_metric_is_prefixed_and_has_a_unit(name):
    assert name.startswith("shuniu_")
    assert name.endswith(UNITS) or name in COUNT_GAUGES, f"{name} does not end in a unit"


def test_label_guard_folds_values_past_its_bound_into_other():
    guard = metrics.LabelGuard(3)
    assert [guard(v) for v in ("a", "b", "a", "c", "d", "e", "b")] == ["a", "b", "a", "c", "other", "other", "b"]


def _node(node_id: str, site: str, klass: int, state: int = READY, draining: bool = False) -> nodes_pb2.Node:
    return nodes_pb2.Node(node_id=node_id, site=site, compute_class=klass, epoch=1, state=state, draining=draining,
                          capacity=common_pb2.Capacity(cpu_milli=8000, memory_mb=1024, gpu=2),
                          free=common_pb2.Capacity(cpu_milli=2000, memory_mb=512, gpu=1))


def _plane(nodes: list[nodes_pb2.Node], seen_s: float) -> types.SimpleNamespace:
    config = ControlPlaneConfig(liveness=LivenessConfig())
    fleet = Fleet(config.liveness)
    for n in nodes:
        fleet.upsert(n, seen_s)
    return types.SimpleNamespace(fleet=fleet, matrix=topology.RttMatrix(), config=config,
                                 service=types.SimpleNamespace(heartbeats=42))


def test_fleet_snapshot_counts_nodes_by_site_class_and_state():
    now = time.monotonic()
    plane = _plane([_node("a", "zhengzhou", 1), _node("b", "zhengzhou", 1, DOWN), _node("c", "luoyang", 2),
                    _node("d", "zhengzhou", 1, draining=True)], now - 4.0)
    snap = fleet_snapshot(plane)
    assert snap.nodes == {("zhengzhou", "general", "ready"): 2, ("zhengzhou", "general", "suspect"): 0,
                          ("zhengzhou", "general", "down"): 1, ("luoyang", "ai", "ready"): 1,
                          ("luoyang", "ai", "suspect"): 0, ("luoyang", "ai", "down"): 0}
    # Only the ready, undrained node counts as placeable capacity at zhengzhou.
    assert snap.capacity[("zhengzhou", "general")] == ((8.0, 1024 * 2**20, 2.0), (2.0, 512 * 2**20, 1.0))
    ready, cap, free = snap.pools[("zhengzhou", "T1")]
    assert (ready, cap[0], free[2]) == (1, 8.0, 1.0)
    assert snap.pools[("zhengzhou", "T4")][0] == 2  # luoyang falls within the national tier
    assert snap.silence_max_s["zhengzhou"] == pytest.approx(4.0, abs=0.5)
    assert snap.heartbeats == 42


def test_fleet_snapshot_of_an_empty_fleet_has_no_node_series():
    snap = fleet_snapshot(_plane([], time.monotonic()))
    assert snap.nodes == {} and snap.capacity == {} and snap.silence_max_s == {}
    assert snap.pools[("zhengzhou", "T1")] == (0, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))


def test_fleet_collector_exposes_snapshot_as_prometheus_text():
    snap = collectors.FleetSnapshot(
        nodes={("zhengzhou", "ai", "ready"): 3}, capacity={("zhengzhou", "ai"): ((16.0, 1.0, 8.0), (4.0, 0.5, 2.0))},
        pools={("zhengzhou", "T1"): (3, (16.0, 1.0, 8.0), (4.0, 0.5, 2.0))}, silence_max_s={"zhengzhou": 1.5},
        heartbeats=7)
    registry = CollectorRegistry()
    registry.register(collectors.FleetCollector(lambda: snap))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(generate_latest(registry).decode()) for s in family.samples}
    assert samples[("shuniu_nodes", (("class", "ai"), ("site", "zhengzhou"), ("state", "ready")))] == 3
    assert samples[("shuniu_capacity_gpus", (("class", "ai"), ("kind", "free"), ("site", "zhengzhou")))] == 2
    assert samples[("shuniu_pool_cpu_cores", (("kind", "capacity"), ("site", "zhengzhou"), ("tier", "T1")))] == 16
    assert samples[("shuniu_heartbeat_silence_max_seconds", (("site", "zhengzhou"),))] == 1.5
    assert samples[("shuniu_heartbeats_total", ())] == 7
    assert {name for name, _ in samples} >= set(collectors.FLEET_METRIC_NAMES)


def test_metric_names_are_unique_across_components():
    names = [m._name for m in _defined()] + list(collectors.FLEET_METRIC_NAMES) + list(collectors.BILLING_METRIC_NAMES)
    names += list(collectors.JOBS_METRIC_NAMES) + list(collectors.AUDIT_METRIC_NAMES)
    stripped = [re.sub(r"_total$", "", n) for n in names]
    assert len(stripped) == len(set(stripped))


def test_label_guard_folds_ids_and_free_text_into_other():
    guard = metrics.LabelGuard(64)
    assert [guard(v) for v in ("grant_expired", "quota:max_pending_jobs", "chengdu-chongqing", "job-3f9a1c",
                               "grant g-1 expired", "")] == [
        "grant_expired", "quota:max_pending_jobs", "chengdu-chongqing", "other", "other", "other"]


def test_jobs_collector_exposes_jobs_by_state_and_queue_by_tier():
    snap = collectors.JobsSnapshot(by_state={"admitted": 2, "running": 1}, queued_by_tier={"T1": 2, "T2": 0})
    registry = CollectorRegistry()
    registry.register(collectors.JobsCollector(lambda: snap))
    samples = {(s.name, tuple(s.labels.items())): s.value
               for family in text_string_to_metric_families(generate_latest(registry).decode()) for s in family.samples}
    assert samples == {("shuniu_jobs", (("state", "admitted"),)): 2, ("shuniu_jobs", (("state", "running"),)): 1,
                       ("shuniu_queue_jobs", (("tier", "T1"),)): 2, ("shuniu_queue_jobs", (("tier", "T2"),)): 0}



def _exposition(registry: CollectorRegistry) -> list[str]:
    return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]


@given(st.lists(st.tuples(st.sampled_from(["T1", "T2"]), st.one_of(
    st.floats(allow_nan=False), st.sampled_from([0.0, 0.1, 60.0, 3600.0, float("inf")]))), max_size=50))
def test_one_writer_metrics_export_what_the_locking_ones_do(observations):
    """The lock-free placement metrics against prometheus_client's own (the twin is the spec)."""
    ours, stock = CollectorRegistry(), CollectorRegistry()
    wait = metrics._OneWriterHistogram("w_seconds", "w", ["tier"], buckets=metrics._WAIT_S, registry=ours)
    decisions = metrics._OneWriterCounter("d_total", "d", ["tier"], registry=ours)
    twin_wait = Histogram("w_seconds", "w", ["tier"], buckets=metrics._WAIT_S, registry=stock)
    twin_decisions = Counter("d_total", "d", ["tier"], registry=stock)
    for tier, seconds in observations:
        wait.labels(tier).observe(seconds)
        twin_wait.labels(tier).observe(seconds)
        decisions.labels(tier).inc()
        twin_decisions.labels(tier).inc(2)
        decisions.labels(tier).inc()
    assert _exposition(ours) == _exposition(stock)


def test_one_writer_metrics_refuse_what_the_locking_ones_refuse():
    registry = CollectorRegistry()
    with pytest.raises(ValueError, match="non-negative"):
        metrics._OneWriterCounter("n_total", "n", registry=registry).inc(-1)
    with pytest.raises(ValueError, match="missing label values"):
        metrics._OneWriterHistogram("h_seconds", "h", ["tier"], registry=registry).observe(1.0)
