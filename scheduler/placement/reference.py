"""The placement rules in plain Python: loops over plain node objects, exact integers.

The specification the vectorised placer must equal (tests/unit/test_placement_equivalence.py)
and the benchmark's baseline. Built from the fleet directly, not from the node table, so the
table and the index are checked too. Never on a hot path.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass

from shuniu.nodes.topology import RttMatrix
from shuniu.scheduler.control_plane.fleet import READY, Fleet
from shuniu.market.rating.tables import MAX_BAND_MULTIPLIER_BP, MAX_COMPUTE_PRICE_FEN
from shuniu.scheduler.placement.cost import OUT_OF_RANGE_FEN
from shuniu.scheduler.placement.request import BEYOND_T4, PlacementConfig, PlacementRequest
from shuniu.scheduler.placement.table import peak_multiplier_bp

__all__ = [
    "RefDecision", "RefNode", "reference_cost_fen", "reference_fits", "reference_gang", "reference_nodes",
    "reference_plan",
]



@dataclass(frozen=True)
class RefNode:
    slot: int
    node_id: str
    site: str
    compute_class: int
    ready: bool
    draining: bool
    free: tuple[int, int, int]
    capacity: tuple[int, int, int]
    load_permille: int
    prices: tuple[int, int, int]  # cpu core-hour, memory GB-hour, gpu-hour, fen
    peak_bp: int


@dataclass(frozen=True)
class RefDecision:
    slots: tuple[int, ...]
    rejections: tuple[tuple[str, int], ...]
    nearest_slot: int | None
    nearest_failed: tuple[str, ...]
    estimated_compute_fen: int
    scores: tuple[tuple[str, int], ...]


def reference_nodes(fleet: Fleet) -> list[RefNode]:
    """Every registered node of the fleet as a plain object, by slot."""
    out = []
    for node_id, slot in sorted(fleet.slots.items(), key=lambda item: item[1]):
        record = fleet.records[slot]
        load = float(fleet.load[slot])
        load = 1.0 if math.isnan(load) or load == math.inf else (0.0 if load == -math.inf else load)
        card = record.price_card
        out.append(RefNode(
            slot=slot, node_id=node_id, site=fleet.site_order[int(fleet.site[slot])],
            compute_class=int(fleet.compute_class[slot]), ready=int(fleet.state[slot]) == READY,
            draining=bool(fleet.draining[slot]), free=tuple(int(v) for v in fleet.free[slot]),  # type: ignore[arg-type]
            capacity=tuple(int(v) for v in fleet.capacity[slot]),  # type: ignore[arg-type]
            load_permille=min(1000, max(0, round(load * 1000))),
            prices=(card.cpu_core_hour_fen, card.memory_gb_hour_fen, card.gpu_hour_fen),
            peak_bp=peak_multiplier_bp(card),
        ))
    return out


def reference_cost_fen(prices: tuple[int, int, int], peak_bp: int, tier_factor_bp: int, cpu_milli: int,
                       memory_mb: int, gpu: int, max_runtime_s: int) -> int:
    """The estimate on one node in exact integers, each of its three steps rounded up; shares no code with cost.py.

    Cards beyond what node registration accepts cost OUT_OF_RANGE_FEN, which no cap admits."""
    if max(prices) > MAX_COMPUTE_PRICE_FEN or min(prices) < 0 or not 0 <= peak_bp <= MAX_BAND_MULTIPLIER_BP:
        return OUT_OF_RANGE_FEN
    cpu_fen, memory_gb_fen, gpu_fen = prices
    millifen_an_hour = cpu_milli * cpu_fen + _rounded_up(memory_mb * memory_gb_fen * 1000, 1024) + gpu * gpu_fen * 1000
    at_peak = _rounded_up(millifen_an_hour * peak_bp * tier_factor_bp, 10_000 * 10_000)
    return _rounded_up(at_peak * max_runtime_s, 1000 * 3600)  # milli-fen to fen, seconds to hours


def _rounded_up(numerator: int, denominator: int) -> int:
    whole, rest = divmod(numerator, denominator)
    return whole + (1 if rest else 0)


def _cost_fen(node: RefNode, r: PlacementRequest, tier: int, config: PlacementConfig) -> int:
    factor = config.tier_factor_bp[min(tier, 4)]
    return reference_cost_fen(node.prices, node.peak_bp, factor, r.cpu_milli, r.memory_mb, r.gpu, r.max_runtime_s)


def _tier(matrix: RttMatrix, config: PlacementConfig, anchor: str, site: str) -> int:
    return config.bounds.tier_for(matrix.rtt_ms(anchor, site)) or BEYOND_T4


def _checks(node: RefNode, r: PlacementRequest, tier: int, effective_tier: int, cost: int, static: bool) -> list[tuple[str, bool]]:
    demand = (r.cpu_milli, r.memory_mb, r.gpu)
    have = node.capacity if static else node.free
    budget = r.compute_budget_fen()
    checks = [("compute_class", node.compute_class == r.compute_class)]
    if not static:
        checks.append(("health", node.ready and not node.draining))
    checks += [
        ("tier", tier <= effective_tier),
        ("capacity", all(h >= d for h, d in zip(have, demand))),
        ("price", budget is None or cost <= budget),
    ]
    return checks


def _points(r: PlacementRequest, feasible: list[tuple[RefNode, int, int]]) -> dict[int, dict[str, int]]:
    costs = [cost for _, _, cost in feasible]
    low, high = min(costs), max(costs)
    out = {}
    for (node, tier, _), cost in zip(feasible, costs):
        out[node.slot] = {
            "cost": 1000 if high == low else (high - cost) * 1000 // (high - low),
            "tier": (4 - tier) * 1000 // 3,
            "load": 1000 - node.load_permille,
            "spread": 1000 // (1 + r.group_slots.count(node.slot)),
        }
    return out


def reference_gang(feasible: list[tuple[RefNode, int]], within, size: int) -> tuple[int, ...] | None:
    """Brute force over every set of sites: all pairs (and each site with itself) within the bound."""
    sites = sorted({node.site for node, _ in feasible})
    best: tuple[int, tuple[int, ...]] | None = None
    for k in range(1, len(sites) + 1):
        for chosen_sites in itertools.combinations(sites, k):
            if not all(within(a, b) for a in chosen_sites for b in chosen_sites):
                continue
            members = sorted(((-total, node.slot) for node, total in feasible if node.site in chosen_sites))[:size]
            if len(members) < size:
                continue
            key = (sum(t for t, _ in members), tuple(sorted(slot for _, slot in members)))
            if best is None or key < best:
                best = key
    return None if best is None else best[1]


def reference_plan(
    nodes: Iterable[RefNode], domain: frozenset[str], r: PlacementRequest, now_s: float,
    matrix: RttMatrix, config: PlacementConfig,
) -> RefDecision:
    """The same rules as Placer.plan, one node at a time."""
    return _plan(list(nodes), domain, r, r.effective_tier(now_s), matrix, config, static=False)


def reference_fits(
    nodes: Iterable[RefNode], domain: frozenset[str], r: PlacementRequest, matrix: RttMatrix, config: PlacementConfig
) -> bool:
    """Whether any registered node (or gang), whatever its state and load, could ever hold the job."""
    return bool(_plan(list(nodes), domain, r, r.max_tier, matrix, config, static=True).slots)


def _plan(nodes: list[RefNode], domain: frozenset[str], r: PlacementRequest, effective_tier: int,
          matrix: RttMatrix, config: PlacementConfig, static: bool) -> RefDecision:
    names = ["domain", "compute_class", *([] if static else ["health"]), "tier", "capacity", "price"]
    removed = dict.fromkeys(names, 0)
    feasible: list[tuple[RefNode, int, int]] = []
    near: tuple[tuple[int, int, int], RefNode, tuple[str, ...]] | None = None
    for node in nodes:
        if node.node_id not in domain:
            removed["domain"] += 1
            continue
        tier = _tier(matrix, config, r.anchor_site, node.site)
        cost = _cost_fen(node, r, tier, config)
        checks = _checks(node, r, tier, effective_tier, cost, static)
        failed = tuple(name for name, ok in checks if not ok)
        if failed:
            removed[failed[0]] += 1
        else:
            feasible.append((node, tier, cost))
        key = (len(failed), tier, node.slot)
        if near is None or key < near[0]:
            near = (key, node, failed)
    rejections = tuple(removed.items())
    if not feasible:
        nearest = (None, ()) if static or near is None else (near[1].slot, near[2])
        return RefDecision((), rejections, nearest[0], nearest[1], 0, ())
    points = _points(r, feasible)
    weights = config.weights
    totals = {slot: sum(weights[name] * p for name, p in pts.items()) for slot, pts in points.items()}
    if r.gang_size == 1:
        best = min(totals, key=lambda slot: (-totals[slot], slot))
        chosen: tuple[int, ...] | None = (best,)
    else:
        def within(a: str, b: str) -> bool:
            return _tier(matrix, config, a, b) <= effective_tier
        scored = [(node, 0 if static else totals[node.slot]) for node, _, _ in feasible]
        chosen = reference_gang(scored, within, r.gang_size)
    if chosen is None:
        return RefDecision((), (*rejections, ("gang", len(feasible))), None, (), 0, ())
    cost_of = {node.slot: cost for node, _, cost in feasible}
    scores = tuple((name, sum(points[slot][name] for slot in chosen)) for name in ("cost", "tier", "load", "spread"))
    return RefDecision(chosen, rejections, None, (), min(OUT_OF_RANGE_FEN, sum(cost_of[s] for s in chosen)), scores)
