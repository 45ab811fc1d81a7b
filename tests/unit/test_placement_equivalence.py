"""The vectorised placer equals the pure-Python reference on random fleets, jobs and RTT matrices."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shuniu.nodes.topology import RttMatrix
from shuniu.protos.v1 import common_pb2, nodes_pb2
from shuniu.scheduler.control_plane.config import LivenessConfig
from shuniu.scheduler.control_plane.fleet import DOWN, READY, SUSPECT, Fleet
from shuniu.scheduler.placement import Fit, Placer, PlacementConfig, PlacementRequest, build_node_table, site_tiers
from shuniu.scheduler.placement.cost import MAX_PEAK_BP, MAX_PRICE_FEN, cost_kernel, estimate_cost_twin
from shuniu.scheduler.placement.reference import reference_fits, reference_nodes, reference_plan
from shuniu.scheduler.placement.request import MAX_CPU_MILLI, MAX_GPU, MAX_MEMORY_MB

SITES = ["zhengzhou", "kaifeng", "luoyang", "puyang", "xinyang", "gansu", "guizhou", "beijing-tianjin-hebei"]
# Card prices across all that node registration accepts (10^8 fen), its edges, and just past it (a fleet
# that skipped registration's checks: such a node must cost what no cap admits).
CARD_PRICE_FEN = st.one_of(st.integers(0, 2_000), st.integers(0, MAX_PRICE_FEN),
                           st.sampled_from([0, MAX_PRICE_FEN - 1, MAX_PRICE_FEN, MAX_PRICE_FEN + 1]))
PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def nodes(draw, node_id: str) -> nodes_pb2.Node:
    cls = draw(st.sampled_from([1] * 6 + [2, 3]))
    if draw(st.integers(0, 9)):
        cap = [draw(st.integers(0, 64_000)), draw(st.integers(0, 262_144)), draw(st.sampled_from([0, 2, 8]))]
    else:  # as large as a request may be: with dear cards, costs far apart (the cost scorer's wide path)
        cap = [draw(st.integers(0, MAX_CPU_MILLI)), draw(st.integers(0, MAX_MEMORY_MB)), draw(st.integers(0, MAX_GPU))]
    free = [draw(st.one_of(st.just(c), st.integers(0, c))) for c in cap]
    bands = []
    if draw(st.booleans()):
        start = draw(st.integers(0, 22))
        bands.append(common_pb2.TimeOfUseBand(start_hour=start, end_hour=draw(st.integers(start + 1, 24)),
                                              multiplier_bp=draw(st.integers(1, MAX_PEAK_BP))))
    price = CARD_PRICE_FEN
    return nodes_pb2.Node(
        node_id=node_id, site=draw(st.sampled_from(SITES)), compute_class=cls, epoch=1,
        state=draw(st.sampled_from([READY] * 10 + [SUSPECT, DOWN])),
        draining=draw(st.sampled_from([False] * 10 + [True])),
        capacity=common_pb2.Capacity(cpu_milli=cap[0], memory_mb=cap[1], gpu=cap[2]),
        free=common_pb2.Capacity(cpu_milli=free[0], memory_mb=free[1], gpu=free[2]),
        price_card=common_pb2.PriceCard(cpu_core_hour_fen=draw(price), memory_gb_hour_fen=draw(price),
                                        gpu_hour_fen=draw(price), bands=bands),
        load=draw(st.floats(0.0, 1.5, allow_nan=False, width=32)), compute_center=draw(st.sampled_from(["a", "b"])),
    )


@st.composite
def worlds(draw):
    """A fleet (some slots freed and reused), an RTT matrix with some measurements, a config and a domain."""
    fleet = Fleet(LivenessConfig(), capacity=4)
    count = draw(st.integers(0, 24))
    for i in range(count):
        fleet.upsert(draw(nodes(f"n{i:02d}")), now_s=0.0)
    for i in draw(st.lists(st.integers(0, max(0, count - 1)), max_size=3, unique=True)) if count else []:
        fleet.remove(f"n{i:02d}")
    matrix = RttMatrix()
    for _ in range(draw(st.integers(0, 4))):
        a, b = draw(st.sampled_from(SITES)), draw(st.sampled_from(SITES))
        matrix.observe(a, b, draw(st.floats(0.0, 30.0)))
    config = PlacementConfig(
        tier_factor_bp={t: draw(st.integers(0, 30_000)) for t in (1, 2, 3, 4)},
        weights={name: draw(st.integers(0, 10)) for name in ("cost", "tier", "load", "spread")},
    )
    # Mostly large domains, so that most requests have several candidates to choose between.
    domain = frozenset(f"n{i:02d}" for i in range(count + 2) if draw(st.sampled_from([True] * 4 + [False])))
    return fleet, matrix, config, domain


@st.composite
def requests(draw, domain_id: int) -> tuple[PlacementRequest, float]:
    max_tier = draw(st.sampled_from([1, 2, 3, 4, 4, 4, 4, 4]))
    runtime = draw(st.one_of(st.integers(1, 7200), st.integers(1, 30 * 86_400)))
    request = PlacementRequest(
        domain=domain_id, compute_class=draw(st.sampled_from([1] * 6 + [2, 3])), anchor_site=draw(st.sampled_from(SITES)),
        max_tier=max_tier, cpu_milli=draw(st.one_of(st.integers(0, 8_000), st.integers(0, MAX_CPU_MILLI))),
        memory_mb=draw(st.one_of(st.integers(0, 32_768), st.integers(0, MAX_MEMORY_MB))),
        gpu=draw(st.sampled_from([0, 0, 1, 2])), max_runtime_s=runtime, preferred_tier=draw(st.integers(0, max_tier)),
        relax_after_s=draw(st.floats(0, 100)), submitted_s=0.0,
        price_cap_fen=draw(st.one_of(st.none(), st.none(), st.integers(0, 10**5), st.integers(0, 10**9),
                                     st.integers(0, 2**62))),
        data_cost_fen=draw(st.integers(0, 1000)),
        gang_size=draw(st.sampled_from([1, 1, 1, 2, 3, 4])), group_slots=tuple(draw(st.lists(st.integers(0, 30), max_size=20))),
    )
    return request, draw(st.floats(0, 200))


@PROPERTY
@given(worlds(), st.data())
def test_vectorised_and_reference_choose_the_same_and_count_the_same(world, data):
    fleet, matrix, config, domain = world
    table = build_node_table(fleet)
    placer = Placer(table, site_tiers(matrix, config.bounds, table.site_order), config)
    request, now_s = data.draw(requests(table.domains.intern(domain)))
    decision = placer.plan(request, now_s)
    expected = reference_plan(reference_nodes(fleet), domain, request, now_s, matrix, config)
    assert decision.slots == expected.slots
    assert tuple(decision.explanation.removed().items()) == expected.rejections
    nearest = decision.explanation.nearest
    assert (None if nearest is None else nearest.slot) == expected.nearest_slot
    assert (() if nearest is None else nearest.failed_filters) == expected.nearest_failed
    assert decision.estimated_compute_fen == expected.estimated_compute_fen
    assert decision.scores == expected.scores
    fit, _ = placer.fit(request, now_s)
    assert (fit is not Fit.NEVER) == reference_fits(reference_nodes(fleet), domain, request, matrix, config)


@PROPERTY
@given(worlds(), st.lists(st.tuples(st.sampled_from(["remove", "upsert", "state", "drain"]), st.integers(0, 30)),
                          max_size=12), st.data())
def test_incremental_sync_equals_a_fresh_build(world, operations, data):
    fleet, _, _, domain = world
    table = build_node_table(fleet)
    domain_id = table.domains.intern(domain)
    for op, i in operations:
        node_id = f"n{i:02d}"
        slot = fleet.slots.get(node_id)
        if op == "upsert":
            fleet.upsert(data.draw(nodes(node_id)), now_s=0.0)
        elif slot is not None and op == "remove":
            fleet.remove(node_id)
        elif slot is not None and op == "state":
            fleet.set_state(slot, data.draw(st.sampled_from([READY, SUSPECT, DOWN])))
        elif slot is not None:
            fleet.draining[slot] = not fleet.draining[slot]
        if data.draw(st.booleans()):
            table.sync(fleet)
    table.sync(fleet)
    fresh = build_node_table(fleet)
    fresh_id = fresh.domains.intern(domain)
    for cls in (1, 2, 3):
        assert table.domains.slots(domain_id, cls).tolist() == fresh.domains.slots(fresh_id, cls).tolist()
    used = fresh.used
    assert (table.used == used).all()
    for name in ("site", "compute_class", "placeable", "free_cpu", "free_memory", "free_gpu", "capacity_cpu",
                 "load_permille", "cpu_fen", "memory_fen", "gpu_fen", "peak_bp", "price_ok"):
        assert (getattr(table, name)[used] == getattr(fresh, name)[used]).all(), name
    assert table.slot_of == fresh.slot_of


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(CARD_PRICE_FEN, CARD_PRICE_FEN, CARD_PRICE_FEN, st.integers(0, MAX_PEAK_BP), st.integers(1, 4)),
                min_size=1, max_size=8),
       st.integers(0, 2**20), st.integers(0, 2**24), st.integers(0, 2**10), st.integers(1, 30 * 86_400),
       st.lists(st.integers(0, 30_000), min_size=4, max_size=4))
def test_cost_kernel_equals_its_twin(cards, cpu_milli, memory_mb, gpu, runtime_s, factors):
    n = len(cards)
    columns = [np.array([c[k] for c in cards], dtype=np.int64) for k in range(4)]
    price_ok = np.array([max(c[:3]) <= MAX_PRICE_FEN for c in cards])
    tier_row = np.array([c[4] for c in cards], dtype=np.int8)
    factor_bp = np.array([0, *factors, factors[-1]], dtype=np.int64)
    got = cost_kernel(np.arange(n), np.arange(n), tier_row, factor_bp, *columns, price_ok,
                      cpu_milli, memory_mb, gpu, runtime_s)
    want = [estimate_cost_twin(c[:3], c[3], factors[c[4] - 1], cpu_milli, memory_mb, gpu, runtime_s) for c in cards]
    assert got.tolist() == want


@PROPERTY
@given(st.lists(st.tuples(st.sampled_from(SITES), st.integers(0, 5)), min_size=1, max_size=16),
       st.integers(1, 6), st.integers(1, 4), st.lists(st.tuples(st.sampled_from(SITES), st.sampled_from(SITES),
                                                               st.floats(0.0, 25.0)), max_size=4))
def test_gang_selection_equals_brute_force(members, size, tier, observations):
    """Best gang over maximal cliques equals the best over every set of sites."""
    from shuniu.scheduler.placement.gang import select_gang
    from shuniu.scheduler.placement.reference import RefNode, reference_gang

    matrix = RttMatrix()
    for a, b, rtt in observations:
        matrix.observe(a, b, rtt)
    tiers = site_tiers(matrix, PlacementConfig().bounds, tuple(sorted(SITES + ["zhumadian"])))
    slots = np.arange(len(members), dtype=np.int64) * 3  # gaps: slots are not positions
    sites = np.array([tiers.row(site) for site, _ in members], dtype=np.int64)
    totals = np.array([score for _, score in members], dtype=np.int64)
    got = select_gang(slots, totals, sites, tiers.within(tier), size)
    nodes = [(RefNode(int(slot), f"n{slot}", site, 1, True, False, (0, 0, 0), (0, 0, 0), 0, (0, 0, 0), 0), score)
             for slot, (site, score) in zip(slots.tolist(), members)]
    want = reference_gang(nodes, lambda a, b: bool(tiers.tier[tiers.row(a), tiers.row(b)] <= tier), size)
    assert (None if got is None else tuple(got.tolist())) == want
