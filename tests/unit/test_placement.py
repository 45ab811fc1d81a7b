"""Placement cases as tables: tiers, relaxation, price caps, health, capacity, gangs and explanations."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import pytest

from shuniu.nodes.topology import RttMatrix
from shuniu.protos.v1 import common_pb2, nodes_pb2
from shuniu.scheduler.control_plane.config import LivenessConfig
from shuniu.scheduler.control_plane.fleet import DOWN, READY, SUSPECT, Fleet
from shuniu.scheduler.placement import (
    Fit, Placer, PlacementConfig, PlacementRequest, build_node_table, explanation_proto, placement_proto, site_tiers,
)
from shuniu.scheduler.placement.cost import OUT_OF_RANGE_FEN, cost_kernel, estimate_cost_twin
from shuniu.scheduler.placement.gang import maximal_cliques

GENERAL, AI = common_pb2.COMPUTE_CLASS_GENERAL, common_pb2.COMPUTE_CLASS_AI
NOW_S = 10_000.0


@dataclass(frozen=True)
class N:
    """A node of a test fleet; free capacity defaults to the whole node."""

    node_id: str
    site: str
    cpu_fen: int = 10
    state: int = READY
    draining: bool = False
    free_cpu: int = 16_000
    free_memory: int = 65_536
    cls: int = GENERAL
    load: float = 0.0
    gpu: int = 0


def make_fleet(nodes: list[N]) -> Fleet:
    fleet = Fleet(LivenessConfig(), capacity=4)
    for n in nodes:
        fleet.upsert(nodes_pb2.Node(
            node_id=n.node_id, site=n.site, compute_class=n.cls, epoch=1, state=n.state, draining=n.draining,
            capacity=common_pb2.Capacity(cpu_milli=16_000, memory_mb=65_536, gpu=n.gpu),
            free=common_pb2.Capacity(cpu_milli=n.free_cpu, memory_mb=n.free_memory, gpu=n.gpu),
            price_card=common_pb2.PriceCard(cpu_core_hour_fen=n.cpu_fen, memory_gb_hour_fen=1),
            load=n.load, compute_center="cc-" + n.site,
        ), now_s=0.0)
    return fleet


class World:
    """A fleet, its node table, one domain naming every node, and a placer."""

    def __init__(self, nodes: list[N], domain: list[str] | None = None) -> None:
        self.fleet = make_fleet(nodes)
        self.table = build_node_table(self.fleet)
        self.domain = self.table.domains.intern(domain if domain is not None else [n.node_id for n in nodes])
        config = PlacementConfig()
        self.placer = Placer(self.table, site_tiers(RttMatrix(), config.bounds, self.table.site_order), config)

    def job(self, **kw) -> PlacementRequest:
        base = dict(domain=self.domain, compute_class=GENERAL, anchor_site="zhengzhou", max_tier=4, cpu_milli=1000,
                    memory_mb=1024, max_runtime_s=3600, submitted_s=NOW_S)
        return PlacementRequest(**{**base, **kw})

    def place(self, **kw):
        return self.placer.plan(self.job(**kw), NOW_S)


# (nodes, job, expected node ids or () for none, filter expected to remove nodes)
CASES = [
    pytest.param([N("zz", "zhengzhou", cpu_fen=1), N("zmd", "zhumadian", cpu_fen=50)],
                 dict(anchor_site="xinyang", max_tier=2), ("zmd",), "tier", id="xinyang-T2-never-zhengzhou"),
    pytest.param([N("zz", "zhengzhou", cpu_fen=1)], dict(anchor_site="xinyang", max_tier=2), (), "tier",
                 id="xinyang-T2-waits-rather-than-zhengzhou"),
    pytest.param([N("zz", "zhengzhou", cpu_fen=1)], dict(anchor_site="xinyang", max_tier=3), ("zz",), None,
                 id="xinyang-T3-reaches-zhengzhou"),
    pytest.param([N("cheap", "zhengzhou", cpu_fen=10, load=0.9), N("dear", "zhengzhou", cpu_fen=400)],
                 dict(price_cap_fen=50), ("cheap",), "price", id="price-cap-excludes-expensive"),
    pytest.param([N("dear", "zhengzhou", cpu_fen=400)], dict(price_cap_fen=50), (), "price",
                 id="price-cap-below-every-node"),
    pytest.param([N("drained", "zhengzhou", cpu_fen=1, draining=True), N("ok", "zhengzhou", cpu_fen=90)],
                 {}, ("ok",), "health", id="drained-node-gets-no-work"),
    pytest.param([N("sus", "zhengzhou", cpu_fen=1, state=SUSPECT), N("down", "zhengzhou", cpu_fen=1, state=DOWN),
                  N("ok", "zhengzhou", cpu_fen=90)], {}, ("ok",), "health", id="suspect-and-down-excluded"),
    pytest.param([N("full", "zhengzhou", cpu_fen=1, free_cpu=500), N("ok", "zhengzhou", cpu_fen=90)],
                 {}, ("ok",), "capacity", id="too-little-free-cpu"),
    pytest.param([N("nomem", "zhengzhou", cpu_fen=1, free_memory=512), N("ok", "kaifeng", cpu_fen=90)],
                 {}, ("ok",), "capacity", id="too-little-free-memory"),
    pytest.param([N("cpu", "zhengzhou", cpu_fen=1), N("gpu", "zhengzhou", cls=AI, gpu=4)],
                 dict(compute_class=AI, gpu=2), ("gpu",), "compute_class", id="ai-job-on-gpu-node"),
    pytest.param([N("near", "zhengzhou", cpu_fen=20), N("far", "gansu", cpu_fen=20)],
                 {}, ("near",), None, id="equal-price-nearer-wins"),
    pytest.param([N("idle", "zhengzhou", load=0.0), N("busy", "zhengzhou", load=0.8)],
                 {}, ("idle",), None, id="equal-price-idler-wins"),
    pytest.param([N("b", "zhengzhou"), N("a", "zhengzhou")], {}, ("b",), None, id="tie-goes-to-lowest-slot"),
]


@pytest.mark.parametrize(("nodes", "job", "expected", "rejecting"), CASES)
def test_placement_cases(nodes, job, expected, rejecting):
    decision = World(nodes).place(**job)
    assert decision.node_ids == expected
    removed = decision.explanation.removed()
    assert list(removed) == ["domain", "compute_class", "health", "tier", "capacity", "price"]
    if rejecting is not None:
        assert removed[rejecting] >= 1
    assert sum(removed.values()) + decision.explanation.nodes_feasible == len(nodes)


def test_node_outside_the_data_domain_never_runs_the_job():
    world = World([N("inside", "zhengzhou", cpu_fen=90), N("outside", "zhengzhou", cpu_fen=1)], domain=["inside"])
    decision = world.place()
    assert decision.node_ids == ("inside",)
    assert decision.explanation.removed()["domain"] == 1


@pytest.mark.parametrize(("waited_s", "expected", "effective"), [
    (0.0, (), 1), (59.9, (), 1), (60.0, ("ly",), 2), (600.0, ("ly",), 2),
], ids=["just-submitted", "before-relax", "at-relax", "long-after"])
def test_preferred_tier_relaxes_to_max_tier_after_its_time(waited_s, expected, effective):
    world = World([N("ly", "luoyang")])
    job = world.job(max_tier=2, preferred_tier=1, relax_after_s=60.0, submitted_s=NOW_S - waited_s)
    decision = world.placer.plan(job, NOW_S)
    assert decision.node_ids == expected
    assert decision.explanation.effective_tier == effective


def test_preferred_tier_is_used_while_a_node_holds_it():
    world = World([N("zz", "zhengzhou", cpu_fen=90), N("ly", "luoyang", cpu_fen=1)])
    job = world.job(max_tier=2, preferred_tier=1, relax_after_s=60.0)
    assert world.placer.plan(job, NOW_S).node_ids == ("zz",)
    assert world.placer.plan(job, NOW_S + 60).node_ids == ("ly",)  # relaxed: the cheaper node wins


def test_nearest_node_says_what_it_missed_by():
    world = World([N("small", "zhengzhou", free_cpu=2000, free_memory=1024), N("far", "gansu")])
    decision = world.place(max_tier=2, cpu_milli=4000, memory_mb=4096)
    nearest = decision.explanation.nearest
    assert not decision.placed and nearest is not None
    assert (nearest.node_id, nearest.failed_filters, nearest.shortfall) == ("small", ("capacity",), (2000, 3072, 0))
    proto = explanation_proto(decision.explanation)
    assert proto.nearest.node_id == "small" and proto.nearest.shortfall.memory_mb == 3072
    assert [(r.filter, r.nodes_removed) for r in proto.rejections] == [
        ("domain", 0), ("compute_class", 0), ("health", 0), ("tier", 1), ("capacity", 1), ("price", 0)]


def test_nearest_node_reports_how_far_over_the_price_cap():
    world = World([N("dear", "zhengzhou", cpu_fen=400)])
    decision = world.place(price_cap_fen=300)
    cost = world.place().estimated_compute_fen
    assert decision.explanation.nearest.over_price_cap_fen == cost - 300 > 0


def test_price_cap_counts_data_cost_and_shares_it_across_a_gang():
    world = World([N("a", "zhengzhou", cpu_fen=100), N("b", "zhengzhou", cpu_fen=100)])
    one = world.place().estimated_compute_fen
    assert world.place(price_cap_fen=one + 5, data_cost_fen=5).placed
    assert not world.place(price_cap_fen=one + 5, data_cost_fen=6).placed
    assert world.place(price_cap_fen=2 * one, gang_size=2).node_ids == ("a", "b")
    assert not world.place(price_cap_fen=2 * one - 1, gang_size=2).placed


def test_spread_prefers_nodes_without_the_groups_jobs():
    world = World([N("a", "zhengzhou"), N("b", "zhengzhou")])
    a = world.table.slot_of["a"]
    assert world.place(group_slots=(a,)).node_ids == ("b",)


def test_place_many_sees_its_own_reservations():
    world = World([N("a", "zhengzhou", cpu_fen=1, free_cpu=8000), N("b", "zhengzhou", cpu_fen=2, free_cpu=8000)])
    job = world.job(cpu_milli=6000)
    decisions = world.placer.place_many([job, job, job], NOW_S)
    assert [d.node_ids for d in decisions] == [("a",), ("b",), ()]


# Gangs: (nodes, job, expected fit, expected nodes)
GANG_CASES = [
    pytest.param([N("zz1", "zhengzhou"), N("zz2", "zhengzhou"), N("kf", "kaifeng")],
                 dict(gang_size=3, max_tier=2), Fit.NOW, ("zz1", "zz2", "kf"), id="three-within-T2"),
    pytest.param([N("ly", "luoyang"), N("py", "puyang")], dict(gang_size=2, max_tier=2), Fit.NEVER, (),
                 id="luoyang-puyang-both-T2-of-zhengzhou-but-4ms-apart"),
    pytest.param([N("ly", "luoyang"), N("py", "puyang"), N("kf", "kaifeng")], dict(gang_size=2, max_tier=2),
                 Fit.NOW, ("ly", "kf"), id="a-pair-within-T2-exists"),
    pytest.param([N("gz", "guizhou"), N("bj", "beijing-tianjin-hebei")], dict(gang_size=2, max_tier=4),
                 Fit.NEVER, (), id="hubs-27ms-apart-never-a-T4-gang"),
    pytest.param([N("a", "zhengzhou"), N("b", "zhengzhou")], dict(gang_size=3), Fit.NEVER, (),
                 id="gang-larger-than-the-domain"),
    pytest.param([N("a", "zhengzhou"), N("b", "zhengzhou", state=DOWN)], dict(gang_size=2), Fit.NOT_NOW, (),
                 id="gang-waits-for-a-down-node"),
    pytest.param([N("a", "zhengzhou"), N("b", "zhengzhou", free_cpu=0)], dict(gang_size=2), Fit.NOT_NOW, (),
                 id="gang-waits-for-free-capacity"),
    pytest.param([N("zz", "zhengzhou"), N("gz", "guizhou", cpu_fen=1), N("cq", "chengdu-chongqing", cpu_fen=1)],
                 dict(gang_size=2, max_tier=4), Fit.NOW, ("gz", "cq"), id="cheapest-pair-within-T4"),
]


@pytest.mark.parametrize(("nodes", "job", "fit", "expected"), GANG_CASES)
def test_gang_all_or_nothing(nodes, job, fit, expected):
    world = World(nodes)
    got, decision = world.placer.fit(world.job(**job), NOW_S)
    assert got == fit
    assert decision.node_ids == expected
    if fit is Fit.NEVER:
        assert "gang" in decision.explanation.removed()
    if decision.placed:
        assert len(placement_proto(decision).node_ids) == job["gang_size"]


@pytest.mark.parametrize(("nodes", "job", "fit"), [
    ([N("a", "zhengzhou", state=DOWN)], {}, Fit.NOT_NOW),
    ([N("a", "zhengzhou", free_cpu=0)], {}, Fit.NOT_NOW),
    ([N("a", "zhengzhou")], dict(cpu_milli=32_000), Fit.NEVER),
    ([N("a", "gansu")], dict(max_tier=3), Fit.NEVER),
    ([N("a", "zhengzhou", cpu_fen=400)], dict(price_cap_fen=1), Fit.NEVER),
    ([N("a", "zhengzhou")], {}, Fit.NOW),
], ids=["down-not-now", "busy-not-now", "bigger-than-any-node", "beyond-max-tier", "cap-below-every-node", "fits"])
def test_never_versus_not_now(nodes, job, fit):
    world = World(nodes)
    assert world.placer.fit(world.job(**job), NOW_S)[0] == fit


@pytest.mark.parametrize(("nodes", "job", "field"), [
    pytest.param([N("cheap", "zhengzhou", cpu_fen=100), N("dear", "zhengzhou", cpu_fen=400)], dict(price_cap_fen=1),
                 "price_cap_fen", id="price-cap-below-every-node"),
    pytest.param([N("a", "zhengzhou", cpu_fen=100), N("b", "zhengzhou", cpu_fen=300)],
                 dict(price_cap_fen=1, gang_size=2), "price_cap_fen", id="gang-price-cap-below-every-pair"),
    pytest.param([N("ly", "luoyang"), N("py", "puyang"), N("kf", "kaifeng")], dict(gang_size=3, max_tier=2),
                 "gang_size", id="gang-larger-than-any-tier-holds"),
])
def test_never_names_the_field_and_the_least_change_that_would_run(nodes, job, field):
    """A refusal at submit quotes the last rejection: it names the field and a value the fleet accepts."""
    world = World(nodes)
    fit, decision = world.placer.fit(world.job(**job), NOW_S)
    reason = decision.explanation.rejections[-1].reason
    accepted = int(re.search(r"expected at (?:least|most) (\d+)", reason).group(1))
    assert fit is Fit.NEVER and reason.startswith(f"{field} {job[field]} ")
    assert world.placer.fit(world.job(**{**job, field: accepted}), NOW_S)[0] is Fit.NOW, reason
    one_step_short = accepted - 1 if "least" in reason else accepted + 1
    assert world.placer.fit(world.job(**{**job, field: one_step_short}), NOW_S)[0] is Fit.NEVER, reason


def test_table_sync_follows_joins_leaves_and_state_changes():
    world = World([N("a", "zhengzhou"), N("b", "zhengzhou", cpu_fen=1)], domain=["a", "b", "c"])
    assert world.place().node_ids == ("b",)
    world.fleet.remove("b")
    report = world.table.sync(world.fleet)
    assert (report.records_changed, report.domains_rebuilt) == (1, 1)
    assert world.place().node_ids == ("a",)
    world.fleet.upsert(make_fleet([N("c", "kaifeng", cpu_fen=1)]).records[0], now_s=0.0)
    world.fleet.set_state(world.fleet.slots["a"], SUSPECT)
    report = world.table.sync(world.fleet)
    assert report.records_changed == 1
    assert world.place().node_ids == ("c",)
    assert world.table.sync(world.fleet) == type(report)(0, 0)  # nothing changed: nothing rebuilt


def test_domain_ids_are_interned_once():
    world = World([N("a", "zhengzhou"), N("b", "zhengzhou")])
    assert world.table.domains.intern({"a", "b"}) == world.domain
    assert world.table.domains.intern(["b"]) != world.domain


@pytest.mark.parametrize(("change", "field"), [
    (dict(max_tier=7), "max_tier"), (dict(preferred_tier=3, max_tier=2), "preferred_tier"),
    (dict(cpu_milli=-1), "cpu_milli"), (dict(gang_size=0), "gang_size"), (dict(compute_class=9), "compute_class"),
    (dict(max_runtime_s=0), "max_runtime_s"), (dict(price_cap_fen=-5), "price_cap_fen"),
], ids=["tier-7", "preferred-beyond-max", "negative-cpu", "gang-0", "class-9", "runtime-0", "negative-cap"])
def test_bad_requests_name_the_field(change, field):
    with pytest.raises(ValueError, match=field):
        PlacementRequest(**{**dict(domain=0, compute_class=1, anchor_site="zhengzhou", max_tier=2), **change})


def test_maximal_cliques_of_a_small_graph():
    adjacent = np.zeros((5, 5), dtype=bool)
    for a, b in [(0, 1), (1, 2), (0, 2), (2, 3)]:
        adjacent[a, b] = adjacent[b, a] = True
    assert maximal_cliques(adjacent, [0, 1, 2, 3, 4]) == [[0, 1, 2], [2, 3], [4]]


def test_cost_kernel_at_the_limits_of_its_inputs():
    """Largest request and card registration accepts: no int64 overflow, equal to the exact twin."""
    from shuniu.scheduler.placement.cost import MAX_COST_FEN, MAX_PRICE_FEN
    from shuniu.scheduler.placement.request import MAX_CPU_MILLI, MAX_GPU, MAX_MEMORY_MB, MAX_RUNTIME_S
    big = MAX_PRICE_FEN
    args = (MAX_CPU_MILLI, MAX_MEMORY_MB, MAX_GPU, MAX_RUNTIME_S)
    slots, site, tier_row = np.array([0, 1]), np.array([0, 0]), np.array([4], dtype=np.int8)
    factors = np.array([0, 0, 0, 0, 30_000, 30_000], dtype=np.int64)
    price = np.array([big, big + 1])
    out = cost_kernel(slots, site, tier_row, factors, price, price, price, np.array([100_000, 100_000]),
                      np.array([True, False]), *args)
    assert out.tolist() == [estimate_cost_twin((big,) * 3, 100_000, 30_000, *args), OUT_OF_RANGE_FEN]
    assert out[0] == MAX_COST_FEN == 39_866_204_160_000_000  # 398.7 trillion yuan: 30 days of the largest node
    assert estimate_cost_twin((big + 1, 0, 0), 10_000, 10_000, *args) == OUT_OF_RANGE_FEN


def test_replace_keeps_requests_valid():
    world = World([N("a", "zhengzhou")])
    assert replace(world.job(), gang_size=1).gang_size == 1
