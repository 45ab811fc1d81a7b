"""Placement takes every price card node registration accepts: costs exact up to 10^8 fen a unit-hour.

The vectorised estimate, the price filter and the cost scorer are held against plain Python
integers over the whole accepted range (cards, bands, tier factors, requests and caps), and a
node priced at the limit is placed when the buyer's cap covers it and refused, with the price
reason in its explanation, when it does not.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shuniu.market.rating.tables import MAX_BAND_MULTIPLIER_BP, MAX_COMPUTE_PRICE_FEN, MAX_MULTIPLIER_BP
from shuniu.nodes.topology import RttMatrix
from shuniu.protos.v1 import common_pb2, nodes_pb2
from shuniu.scheduler.control_plane.config import LivenessConfig
from shuniu.scheduler.control_plane.fleet import READY, Fleet
from shuniu.scheduler.placement import (
    Fit, Placer, PlacementConfig, PlacementRequest, build_node_table, explanation_proto, site_tiers,
)
from shuniu.scheduler.placement.filters import PriceFilter
from shuniu.scheduler.placement.reference import reference_cost_fen
from shuniu.scheduler.placement.request import MAX_CPU_MILLI, MAX_GANG_SIZE, MAX_GPU, MAX_MEMORY_MB, MAX_RUNTIME_S
from shuniu.scheduler.placement.scorers import CostScorer, cost_points

SITES = ("zhengzhou", "kaifeng", "gansu")
PRICE = st.one_of(st.integers(0, MAX_COMPUTE_PRICE_FEN), st.sampled_from([0, 1, MAX_COMPUTE_PRICE_FEN]))
BAND_BP = st.one_of(st.integers(1, MAX_BAND_MULTIPLIER_BP), st.just(MAX_BAND_MULTIPLIER_BP))


def card(cpu: int, memory: int, gpu: int, band_bp: int | None) -> common_pb2.PriceCard:
    bands = [] if band_bp is None else [common_pb2.TimeOfUseBand(start_hour=0, end_hour=24, multiplier_bp=band_bp)]
    return common_pb2.PriceCard(cpu_core_hour_fen=cpu, memory_gb_hour_fen=memory, gpu_hour_fen=gpu, bands=bands)


def fleet_of(cards: list[tuple[str, common_pb2.PriceCard]], size: tuple[int, int, int]) -> Fleet:
    fleet = Fleet(LivenessConfig(), capacity=4)
    for i, (site, price_card) in enumerate(cards):
        capacity = common_pb2.Capacity(cpu_milli=size[0], memory_mb=size[1], gpu=size[2])
        fleet.upsert(nodes_pb2.Node(node_id=f"n{i}", site=site, compute_class=1, epoch=1, state=READY,
                                    capacity=capacity, free=capacity, price_card=price_card, load=0.0,
                                    compute_center=f"cc{i}"), now_s=0.0)
    return fleet


def placer_for(fleet: Fleet, factors: dict[int, int]) -> tuple[Placer, int]:
    table = build_node_table(fleet)
    config = PlacementConfig(tier_factor_bp=factors)
    matrix = RttMatrix()
    matrix.observe("zhengzhou", "kaifeng", 3.0)  # T2 by the default bounds; gansu unmeasured: beyond T4
    domain = table.domains.intern([f"n{i}" for i in range(len(fleet.slots))])
    return Placer(table, site_tiers(matrix, config.bounds, table.site_order), config), domain


def exact_points(costs: list[int]) -> list[int]:
    low, high = min(costs), max(costs)
    return [1000 if high == low else (high - c) * 1000 // (high - low) for c in costs]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SITES), PRICE, PRICE, PRICE, st.one_of(st.none(), BAND_BP)),
                min_size=1, max_size=6),
       st.fixed_dictionaries({t: st.integers(0, MAX_MULTIPLIER_BP) for t in (1, 2, 3, 4)}),
       st.integers(0, MAX_CPU_MILLI), st.integers(0, MAX_MEMORY_MB), st.integers(0, MAX_GPU),
       st.integers(1, MAX_RUNTIME_S), st.integers(0, 2**62), st.one_of(st.integers(0, 2**20), st.integers(0, 2**62)),
       st.one_of(st.sampled_from([1, 2, 3]), st.integers(1, MAX_GANG_SIZE)))
def test_vectorised_cost_filter_and_score_equal_plain_integers_across_every_accepted_price(
        nodes, factors, cpu_milli, memory_mb, gpu, runtime_s, cap_fen, data_fen, gang):
    fleet = fleet_of([(site, card(c, m, g, b)) for site, c, m, g, b in nodes], (MAX_CPU_MILLI, MAX_MEMORY_MB, MAX_GPU))
    placer, domain = placer_for(fleet, factors)
    request = PlacementRequest(domain=domain, compute_class=1, anchor_site="zhengzhou", max_tier=4,
                               cpu_milli=cpu_milli, memory_mb=memory_mb, gpu=gpu, max_runtime_s=runtime_s,
                               price_cap_fen=cap_fen, data_cost_fen=data_fen, gang_size=gang)
    ctx = placer.context(request, 4)
    slots = np.arange(len(nodes), dtype=np.int64)
    tier_of = {"zhengzhou": 1, "kaifeng": 2, "gansu": 4}  # beyond T4 is charged as T4
    want = [reference_cost_fen((c, m, g), 10_000 if b is None else b, factors[tier_of[site]],
                               cpu_milli, memory_mb, gpu, runtime_s) for site, c, m, g, b in nodes]
    assert ctx.cost_fen(slots).tolist() == want
    budget = max(-1, (cap_fen - data_fen) // gang)
    assert PriceFilter().keep(ctx, slots).tolist() == [cost <= budget for cost in want]
    assert CostScorer().points(ctx, slots).tolist() == exact_points(want)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 2**62), st.integers(2**62 - 2**40, 2**62), st.integers(0, 2**53)),
                min_size=1, max_size=40))
def test_cost_points_are_exact_for_any_costs_up_to_out_of_range(costs):
    assert cost_points(np.array(costs, dtype=np.int64)).tolist() == exact_points(costs)


LIMIT_CARD = card(MAX_COMPUTE_PRICE_FEN, MAX_COMPUTE_PRICE_FEN, MAX_COMPUTE_PRICE_FEN, MAX_BAND_MULTIPLIER_BP)
BIG_JOB = dict(cpu_milli=64_000, memory_mb=262_144, gpu=8, max_runtime_s=7 * 86_400)
# 64 cores, 256 GB and 8 GPUs for a week at 10^6 yuan each unit-hour, ×10 band, ×3 tier factor:
LIMIT_COST_FEN = (64 * 10**8 + 256 * 10**8 + 8 * 10**8) * 10 * 3 * 7 * 24  # 1,653,120,000,000,000 fen
TIERS_X3 = {1: 30_000, 2: 30_000, 3: 30_000, 4: 30_000}


@pytest.mark.parametrize(("cap_fen", "placed"), [
    (None, True), (LIMIT_COST_FEN + 500, True), (LIMIT_COST_FEN + 499, False), (2**62, True), (10**6, False),
], ids=["no-cap", "cap-covers-cost-and-data", "cap-one-fen-short", "largest-cap", "ordinary-cap"])
def test_a_node_priced_at_the_registration_limit_is_placed_exactly_when_the_cap_covers_it(cap_fen, placed):
    fleet = fleet_of([("zhengzhou", LIMIT_CARD)], (128_000, 524_288, 8))
    placer, domain = placer_for(fleet, TIERS_X3)
    request = PlacementRequest(domain=domain, compute_class=1, anchor_site="zhengzhou", max_tier=2,
                               price_cap_fen=cap_fen, data_cost_fen=500, **BIG_JOB)
    decision = placer.plan(request, now_s=0.0)
    assert decision.placed is placed
    explained = explanation_proto(decision.explanation)
    removed = {r.filter: (r.nodes_removed, r.reason) for r in explained.rejections if r.nodes_removed}
    if placed:
        assert decision.node_ids == ("n0",) and decision.estimated_compute_fen == LIMIT_COST_FEN
        assert removed == {}
    else:
        assert removed == {"price": (1, f"estimated compute cost above {cap_fen - 500} fen per node "
                                        "(price cap less data cost)")}
        assert explained.nearest.node_id == "n0" and list(explained.nearest.failed_filters) == ["price"]
        assert explained.nearest.over_price_cap_fen == LIMIT_COST_FEN - (cap_fen - 500)
        fit, never = placer.fit(request, now_s=0.0)  # submit refuses it, naming the cap that would run it
        assert fit is Fit.NEVER
        assert never.explanation.rejections[-1].reason.endswith(f"expected at least {LIMIT_COST_FEN + 500} fen")


def test_the_cheaper_of_two_dear_nodes_wins_and_a_gang_of_them_costs_their_sum():
    half = card(MAX_COMPUTE_PRICE_FEN // 2, MAX_COMPUTE_PRICE_FEN, MAX_COMPUTE_PRICE_FEN, MAX_BAND_MULTIPLIER_BP)
    fleet = fleet_of([("zhengzhou", LIMIT_CARD), ("zhengzhou", half)], (128_000, 524_288, 8))
    placer, domain = placer_for(fleet, TIERS_X3)
    cheaper = LIMIT_COST_FEN - 64 * 10**8 // 2 * 10 * 3 * 7 * 24  # 64 cores at half the price
    one = PlacementRequest(domain=domain, compute_class=1, anchor_site="zhengzhou", max_tier=1, **BIG_JOB)
    decision = placer.plan(one, now_s=0.0)
    assert decision.node_ids == ("n1",) and decision.estimated_compute_fen == cheaper
    assert dict(decision.scores)["cost"] == 1000
    gang = PlacementRequest(domain=domain, compute_class=1, anchor_site="zhengzhou", max_tier=1,
                            price_cap_fen=2 * LIMIT_COST_FEN, gang_size=2, **BIG_JOB)
    decision = placer.plan(gang, now_s=0.0)
    assert decision.node_ids == ("n0", "n1") and decision.estimated_compute_fen == LIMIT_COST_FEN + cheaper
