"""The one place where filters and scorers are wired: `Placer.plan`, `place_many` and `fit`.

A decision narrows the candidates from the domain index through each filter in order,
counting what each removed, scores the survivors with integer weights and takes the best
(ties to the lowest slot). Nothing fits: the explanation names the nearest node and what it
missed by. Expected outcomes are values (`Decision`, `Fit`), never exceptions.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from shuniu.scheduler.placement import filters as f
from shuniu.scheduler.placement import scorers as s
from shuniu.scheduler.placement.cost import OUT_OF_RANGE_FEN
from shuniu.scheduler.placement.gang import maximal_cliques, select_gang
from shuniu.scheduler.placement.request import PlacementConfig, PlacementRequest
from shuniu.scheduler.placement.table import NodeTable
from shuniu.scheduler.placement.tiers import SiteTiers

__all__ = ["Decision", "Explanation", "Fit", "Nearest", "Placer", "Rejection"]

# Filter order: the first two are applied ahead of time by the domain index.
INDEXED_FILTERS: tuple[f.Filter, ...] = (f.DomainFilter(), f.ComputeClassFilter())
LIVE_FILTERS: tuple[f.Filter, ...] = (f.HealthFilter(), f.TierFilter(), f.CapacityFilter(), f.PriceFilter())
# "Could this job ever fit this fleet?": health and free capacity left out, max_tier in force.
STATIC_FILTERS: tuple[f.Filter, ...] = (f.TierFilter(), f.CapacityFilter(total=True), f.PriceFilter())
SCORERS: tuple[s.Scorer, ...] = (s.CostScorer(), s.TierScorer(), s.LoadScorer(), s.SpreadScorer())
GANG = "gang"
MAX_CACHED_CLIQUE_SETS = 4096


class Rejection(NamedTuple):  # a NamedTuple: several are made per decision, and cheaply
    filter: str
    nodes_removed: int
    reason: str


@dataclass(frozen=True)
class Nearest:
    """The node that came closest to fitting: fewest failed filters, then nearest tier, then lowest slot."""

    slot: int
    node_id: str
    site: str
    tier: int  # 5: beyond T4
    rtt_ms: float
    failed_filters: tuple[str, ...]
    shortfall: tuple[int, int, int]  # cpu_milli, memory_mb, gpu missing on it
    over_price_cap_fen: int


@dataclass(frozen=True)
class Explanation:
    nodes_considered: int
    rejections: tuple[Rejection, ...]
    nodes_feasible: int
    nearest: Nearest | None
    effective_tier: int

    def removed(self) -> dict[str, int]:
        """{"domain": 99_800, "tier": 812, …} in filter order."""
        return {r.filter: r.nodes_removed for r in self.rejections}


@dataclass(frozen=True)
class Decision:
    slots: tuple[int, ...]  # empty when nothing fits; gang_size slots for a gang
    node_ids: tuple[str, ...]
    sites: tuple[str, ...]
    tier: int  # farthest chosen node's tier from the anchor; 0 when unplaced
    scores: tuple[tuple[str, int], ...]  # per scorer, points summed over the chosen nodes
    estimated_compute_fen: int  # summed over the chosen nodes
    explanation: Explanation

    @property
    def placed(self) -> bool:
        return bool(self.slots)


class Fit(enum.Enum):
    NOW = "now"  # a placement exists now
    NOT_NOW = "not_now"  # the fleet could hold it once nodes are healthy or free again
    NEVER = "never"  # no node (or gang) of this fleet could ever hold it: refuse at submit


class Placer:
    """Places jobs on a node table; `tiers` must be in the table's site order."""

    def __init__(self, table: NodeTable, tiers: SiteTiers, config: PlacementConfig | None = None) -> None:
        assert tiers.sites == table.site_order, "site tiers must follow the node table's site order"
        self.table = table
        self.tiers = tiers
        self.config = config or PlacementConfig(bounds=tiers.bounds)
        self._tier_factor_bp = self.config.tier_factor_array()
        self._weights = [self.config.weights[sc.name] for sc in SCORERS]
        self._cliques: dict[tuple[int, tuple[int, ...]], list[list[int]]] = {}

    def use_tiers(self, tiers: SiteTiers) -> None:
        """Places with a new RTT matrix from now on (after agents measured new round-trip times)."""
        assert tiers.sites == self.table.site_order
        self.tiers = tiers
        self._cliques = {}

    def _cliques_of(self, tier: int) -> Callable[[list[int]], list[list[int]]]:
        """Maximal cliques of the sites within `tier`, cached by the set of usable sites (bounded)."""
        def cliques(usable: list[int]) -> list[list[int]]:
            key = (tier, tuple(usable))
            found = self._cliques.get(key)
            if found is None:
                if len(self._cliques) >= MAX_CACHED_CLIQUE_SETS:
                    self._cliques = {}
                found = self._cliques[key] = maximal_cliques(self.tiers.within(tier), usable)
            return found
        return cliques

    def context(self, request: PlacementRequest, effective_tier: int) -> f.PlacementContext:
        return f.PlacementContext(self.table, self.tiers, self._tier_factor_bp, request, effective_tier)

    def plan(self, request: PlacementRequest, now_s: float) -> Decision:
        """Where the job would go now, and why; changes nothing."""
        ctx = self.context(request, request.effective_tier(now_s))
        slots, rejections = self._narrow(ctx, LIVE_FILTERS)
        if len(slots) == 0:
            return self._unplaced(ctx, rejections, self._nearest(ctx))
        totals, points = self._score(ctx, slots)
        if request.gang_size == 1:
            at = totals.argmax()  # the first best: slots are ascending, so ties go to the lowest slot
            chosen = slots[at:at + 1]
            tier, cost = int(ctx.tier_of(slots)[at]), int(ctx.cost_fen(slots)[at])
            scores = tuple([(sc.name, int(p[at])) for sc, p in zip(SCORERS, points)])
        else:
            chosen = select_gang(slots, totals, self.table.site[slots], self.tiers.within(ctx.effective_tier),
                                 request.gang_size, self._cliques_of(ctx.effective_tier))
            if chosen is None:
                reason = f"no {request.gang_size} feasible nodes pairwise within T{ctx.effective_tier}"
                return self._unplaced(ctx, (*rejections, Rejection(GANG, len(slots), reason)), None)
            at = np.searchsorted(slots, chosen)
            # Summed in Python integers and capped at OUT_OF_RANGE_FEN: within a price cap the sum is at most
            # the cap (≤ 2^62); without one, a big gang of nodes at the card limit (each up to MAX_COST_FEN,
            # 2^55) or an out-of-range card would pass int64, and the estimate saturates instead.
            tier, cost = int(ctx.tier_of(slots)[at].max()), min(OUT_OF_RANGE_FEN, sum(ctx.cost_fen(slots)[at].tolist()))
            scores = tuple([(sc.name, int(p[at].sum())) for sc, p in zip(SCORERS, points)])
        t = self.table
        chosen_list = chosen.tolist()
        return Decision(
            slots=tuple(chosen_list),
            node_ids=tuple([t.node_ids[i] for i in chosen_list]),  # type: ignore[misc]
            sites=tuple([t.site_order[i] for i in t.site[chosen].tolist()]),
            tier=tier, scores=scores, estimated_compute_fen=cost,
            explanation=Explanation(t.n_used, rejections, len(slots), None, ctx.effective_tier),
        )

    def place_many(self, requests: Sequence[PlacementRequest], now_s: float) -> list[Decision]:
        """Plans each request in order and reserves each placement, so later ones see earlier ones."""
        decisions = []
        for request in requests:
            decision = self.plan(request, now_s)
            if decision.placed:
                self.table.reserve(np.array(decision.slots), request.cpu_milli, request.memory_mb, request.gpu)
            decisions.append(decision)
        return decisions

    def fit(self, request: PlacementRequest, now_s: float) -> tuple[Fit, Decision]:
        """NOW with the decision, NOT_NOW with why it waits, or NEVER with what the fleet's shape lacks."""
        static = self._static(request)
        if static is not None:
            return Fit.NEVER, static
        decision = self.plan(request, now_s)
        return (Fit.NOW if decision.placed else Fit.NOT_NOW), decision

    def never(self, request: PlacementRequest) -> Decision | None:
        """The unplaced decision when no node of the fleet's shape could ever run the job, else None."""
        return self._static(request)

    def _static(self, request: PlacementRequest) -> Decision | None:
        """An unplaced decision when no registered node (or gang), whatever its state, could hold the job.

        When the price cap or the gang size alone rules the job out, the rejection names the field
        and the values the fleet would accept, so that a refusal at submit says what would run.
        """
        ctx = self.context(request, request.max_tier)
        slots, rejections = self._narrow(ctx, STATIC_FILTERS)
        if len(slots) == 0:
            if rejections[-1].filter == f.PriceFilter.name and rejections[-1].nodes_removed:
                rejections = (*rejections[:-1], self._price_rejection(ctx, rejections[-1].nodes_removed))
            return self._unplaced(ctx, rejections, None)
        if request.gang_size > 1:
            zeros = np.zeros(len(slots), dtype=np.int64)
            within = self.tiers.within(request.max_tier)
            if select_gang(slots, zeros, self.table.site[slots], within, request.gang_size,
                           self._cliques_of(request.max_tier)) is None:
                largest = self._largest_gang(slots, request.max_tier)
                reason = (f"gang_size {request.gang_size} is more than any set of nodes pairwise within "
                          f"T{request.max_tier} in the whole fleet holds; expected at most {max(1, largest)}")
                return self._unplaced(ctx, (*rejections, Rejection(GANG, len(slots), reason)), None)
        return None

    def _price_rejection(self, ctx: f.PlacementContext, removed: int) -> Rejection:
        """The price filter's rejection at submit, with the least price cap that passes some node."""
        slots, _ = self._narrow(ctx, STATIC_FILTERS[:-1])  # the nodes the price cap alone removed
        r = ctx.request
        costs = ctx.cost_fen(slots)
        per_node = self._least_gang_cost(slots, costs, r) if r.gang_size > 1 else int(costs.min())
        reason = f"price_cap_fen {r.price_cap_fen} is below the estimated cost on every node that could run the job"
        if per_node is not None:  # a gang shares the cap equally: each member's share covers the dearest
            reason += f"; expected at least {r.data_cost_fen + per_node * r.gang_size} fen"
        return Rejection(f.PriceFilter.name, removed, reason)

    def _least_gang_cost(self, slots: np.ndarray, costs: np.ndarray, r: PlacementRequest) -> int | None:
        """The least cost c such that the nodes costing at most c hold a gang (binary search over the costs)."""
        within, zeros = self.tiers.within(r.max_tier), np.zeros(len(slots), dtype=np.int64)

        def holds(cost: int) -> bool:
            kept = costs <= cost
            return select_gang(slots[kept], zeros[kept], self.table.site[slots[kept]], within, r.gang_size,
                               self._cliques_of(r.max_tier)) is not None

        candidates = np.unique(costs).tolist()
        if not holds(candidates[-1]):
            return None
        low, high = 0, len(candidates) - 1
        while low < high:
            middle = (low + high) // 2
            low, high = (low, middle) if holds(candidates[middle]) else (middle + 1, high)
        return int(candidates[low])

    def _largest_gang(self, slots: np.ndarray, tier: int) -> int:
        """The most of `slots` whose sites are pairwise within `tier` (loops over sites and cliques, not nodes)."""
        within = self.tiers.within(tier)
        counts = np.bincount(self.table.site[slots], minlength=len(within))
        usable = [int(site) for site in np.flatnonzero(counts) if within[site, site]]
        return max((int(counts[clique].sum()) for clique in self._cliques_of(tier)(usable)), default=0)

    def _narrow(self, ctx: f.PlacementContext, chain: tuple[f.Filter, ...]) -> tuple[np.ndarray, tuple[Rejection, ...]]:
        domains, r = self.table.domains, ctx.request
        in_domain = len(domains.domain_slots(r.domain))
        slots = domains.slots(r.domain, r.compute_class)
        domain_f, class_f = INDEXED_FILTERS
        counts = [(domain_f, self.table.n_used - in_domain), (class_f, in_domain - len(slots))]
        for flt in chain:
            before = len(slots)
            if before:
                slots = ctx.narrowed(slots, flt.keep(ctx, slots))
            counts.append((flt, before - len(slots)))
        # A filter that removed nothing has nothing to explain; wording only the others keeps decisions cheap.
        return slots, tuple([Rejection(flt.name, n, flt.reason(ctx) if n else "") for flt, n in counts])

    def _score(self, ctx: f.PlacementContext, slots: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        points = [sc.points(ctx, slots) for sc in SCORERS]
        totals = None
        for weight, p in zip(self._weights, points):
            if weight:
                totals = weight * p if totals is None else totals + weight * p
        return (np.zeros(len(slots), dtype=np.int64) if totals is None else totals), points

    def _unplaced(self, ctx: f.PlacementContext, rejections: tuple[Rejection, ...], nearest: Nearest | None) -> Decision:
        explanation = Explanation(self.table.n_used, rejections, 0, nearest, ctx.effective_tier)
        return Decision((), (), (), 0, (), 0, explanation)

    def _nearest(self, ctx: f.PlacementContext) -> Nearest | None:
        """Among the domain's nodes: fewest failed filters, then nearest tier, then lowest slot."""
        slots = self.table.domains.domain_slots(ctx.request.domain)
        if len(slots) == 0:
            return None
        chain = (INDEXED_FILTERS[1], *LIVE_FILTERS)
        failed = np.stack([~flt.keep(ctx, slots) for flt in chain])
        tier = ctx.tier_of(slots)
        best = int(np.lexsort((slots, tier, failed.sum(axis=0)))[0])
        slot = int(slots[best])
        t, r = self.table, ctx.request
        cost = int(ctx.cost_fen(slots)[best])
        over = 0 if ctx.budget_fen is None else max(0, cost - ctx.budget_fen)
        return Nearest(
            slot=slot, node_id=t.node_ids[slot] or "", site=t.site_order[int(t.site[slot])], tier=int(tier[best]),
            rtt_ms=float(ctx.rtt_row[int(t.site[slot])]),
            failed_filters=tuple(flt.name for flt, miss in zip(chain, failed[:, best].tolist()) if miss),
            shortfall=(max(0, r.cpu_milli - int(t.free_cpu[slot])), max(0, r.memory_mb - int(t.free_memory[slot])),
                       max(0, r.gpu - int(t.free_gpu[slot]))),
            over_price_cap_fen=over,
        )
