"""Placement filters, one per concern (Nomad's feasibility checkers; Kubernetes' Filter plugins).

Each filter answers, for an array of candidate slots, which may take the job: a bool mask,
vectorised, never a loop over nodes. What it removed is counted by the placer, so that a
rejection is data (`{"tier": 812, "capacity": 40}`) that `shuniu explain` prints.

The domain and compute-class filters are also applied ahead of time by the domain index;
their `keep` serves the nearest-node search and the static feasibility check.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from shuniu.scheduler.placement.cost import cost_kernel
from shuniu.scheduler.placement.request import PlacementRequest
from shuniu.scheduler.placement.table import NodeTable
from shuniu.scheduler.placement.tiers import SiteTiers

__all__ = [
    "CapacityFilter",
    "ComputeClassFilter",
    "DomainFilter",
    "Filter",
    "HealthFilter",
    "PlacementContext",
    "PriceFilter",
    "TierFilter",
]


class PlacementContext:
    """One job's evaluation: the table, the request and what follows from it (tier row, budget).

    Per-slot values that several pieces need (tier, cost) are computed once for a slot array
    and carried along as the filters narrow it (`narrowed`).
    """

    __slots__ = (
        "_aligned",
        "_slots",
        "anchor",
        "budget_fen",
        "effective_tier",
        "request",
        "rtt_row",
        "table",
        "tier_factor_bp",
        "tier_row",
    )

    def __init__(self, table: NodeTable, tiers: SiteTiers, tier_factor_bp: np.ndarray,
                 request: PlacementRequest, effective_tier: int) -> None:
        self.table = table
        self.request = request
        self.effective_tier = effective_tier
        self.anchor = tiers.row(request.anchor_site)
        self.tier_row = tiers.tier[self.anchor]
        self.rtt_row = tiers.rtt_ms[self.anchor]
        self.tier_factor_bp = tier_factor_bp
        self.budget_fen = request.compute_budget_fen()
        self._slots: np.ndarray | None = None
        self._aligned: dict[str, np.ndarray] = {}

    def _cache(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        if self._slots is not slots:
            self._slots, self._aligned = slots, {}
        return self._aligned

    def narrowed(self, slots: np.ndarray, kept: np.ndarray) -> np.ndarray:
        """slots[kept], carrying the values computed for `slots` along."""
        out = slots[kept]
        if self._slots is slots:
            self._slots, self._aligned = out, {k: v[kept] for k, v in self._aligned.items()}
        return out

    def tier_of(self, slots: np.ndarray) -> np.ndarray:
        """Tier (1..4, 5 beyond T4) of each slot's site from the anchor."""
        cache = self._cache(slots)
        tier = cache.get("tier")
        if tier is None:
            tier = cache["tier"] = self.tier_row[self.table.site[slots]]
        return tier

    def cost_fen(self, slots: np.ndarray) -> np.ndarray:
        """Estimated compute cost of the job on each slot."""
        cache = self._cache(slots)
        cost = cache.get("cost")
        if cost is None:
            t, r = self.table, self.request
            cost = cache["cost"] = cost_kernel(slots, t.site, self.tier_row, self.tier_factor_bp, t.cpu_fen,
                                               t.memory_fen, t.gpu_fen, t.peak_bp, t.price_ok,
                                               r.cpu_milli, r.memory_mb, r.gpu, r.max_runtime_s)
        return cost


class Filter(Protocol):
    """A hard rule: `keep` says which candidate slots pass; `reason` words what a removal means."""

    name: str

    def keep(self, ctx: PlacementContext, slots: np.ndarray) -> np.ndarray: ...

    def reason(self, ctx: PlacementContext) -> str: ...


class DomainFilter:
    """Raw data never leaves its domain (原始数据不出域): only the domain's nodes."""

    name = "domain"

    def keep(self, ctx: PlacementContext, slots: np.ndarray) -> np.ndarray:
        return np.isin(slots, ctx.table.domains.domain_slots(ctx.request.domain))

    def reason(self, ctx: PlacementContext) -> str:
        return f"outside the data domain ({len(ctx.table.domains.members(ctx.request.domain))} nodes named)"


class ComputeClassFilter:
    name = "compute_class"

    def keep(self, ctx: PlacementContext, slots: np.ndarray) -> np.ndarray:
        return ctx.table.compute_class[slots] == ctx.request.compute_class

    def reason(self, ctx: PlacementContext) -> str:
        return f"compute class other than {ctx.request.compute_class}"


class HealthFilter:
    """No new work on SUSPECT or DOWN nodes, nor on drained ones."""

    name = "health"

    def keep(self, ctx: PlacementContext, slots: np.ndarray) -> np.ndarray:
        return ctx.table.placeable[slots]

    def reason(self, ctx: PlacementContext) -> str:
        return "not READY (SUSPECT or DOWN) or draining"


class TierFilter:
    """Within the effective tier of the anchor: preferred_tier until it relaxes, then max_tier."""

    name = "tier"

    def keep(self, ctx: PlacementContext, slots: np.ndarray) -> np.ndarray:
        return ctx.tier_of(slots) <= ctx.effective_tier

    def reason(self, ctx: PlacementContext) -> str:
        return f"farther than T{ctx.effective_tier} from {ctx.request.anchor_site}"


class CapacityFilter:
    """Free cpu, memory and gpu cover the job's demand per node; with `total`, the idle node's capacity does."""

    name = "capacity"

    def __init__(self, total: bool = False) -> None:
        self._columns = ("capacity_cpu", "capacity_memory", "capacity_gpu") if total else ("free_cpu", "free_memory",
                                                                                           "free_gpu")
        self._wording = "smaller, even when idle, than" if total else "less free than"

    def keep(self, ctx: PlacementContext, slots: np.ndarray) -> np.ndarray:
        t, r = ctx.table, ctx.request
        cpu, memory, gpu = (getattr(t, c) for c in self._columns)
        return (cpu[slots] >= r.cpu_milli) & (memory[slots] >= r.memory_mb) & (gpu[slots] >= r.gpu)

    def reason(self, ctx: PlacementContext) -> str:
        r = ctx.request
        return f"{self._wording} cpu_milli={r.cpu_milli}, memory_mb={r.memory_mb}, gpu={r.gpu}"


class PriceFilter:
    """The estimated cost on the node, with data, within the price cap (a gang shares the cap equally)."""

    name = "price"

    def keep(self, ctx: PlacementContext, slots: np.ndarray) -> np.ndarray:
        if ctx.budget_fen is None:
            return np.ones(len(slots), dtype=bool)
        return ctx.cost_fen(slots) <= ctx.budget_fen

    def reason(self, ctx: PlacementContext) -> str:
        return f"estimated compute cost above {ctx.budget_fen} fen per node (price cap less data cost)"

