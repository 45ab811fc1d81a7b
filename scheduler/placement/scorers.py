"""Placement scorers, one per concern (Nomad's rankers; Kubernetes' Score plugins).

Each gives every feasible slot integer points in [0, 1000], higher is better; the placer
adds them with integer weights. Integers keep the choice exact and equal to the
pure-Python reference; ties go to the lowest slot.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from shuniu.scheduler.placement.filters import PlacementContext

__all__ = ["COST_SCORE_CLAMP_FEN", "CostScorer", "LoadScorer", "Scorer", "SpreadScorer", "TierScorer", "group_counts"]

MAX_POINTS = 1000
# Costs above this (only out-of-range price cards, with no cap) score as this, so points stay in int64.
COST_SCORE_CLAMP_FEN = 2**50


class Scorer(Protocol):
    name: str

    def points(self, ctx: PlacementContext, slots: np.ndarray) -> np.ndarray: ...


class CostScorer:
    """Cheapest feasible node 1000, dearest 0, linear between (floored)."""

    name = "cost"

    def points(self, ctx: PlacementContext, slots: np.ndarray) -> np.ndarray:
        cost = np.minimum(ctx.cost_fen(slots), COST_SCORE_CLAMP_FEN)
        low, high = int(cost[cost.argmin()]), int(cost[cost.argmax()])  # argmin/argmax: cheaper than min/max here
        if high == low:
            return np.full(len(slots), MAX_POINTS, dtype=np.int64)
        return (high - cost) * MAX_POINTS // (high - low)


_TIER_POINTS = np.array([0, 1000, 666, 333, 0, 0], dtype=np.int64)  # by tier; 5 (beyond T4) never feasible
_TIER_POINTS.setflags(write=False)


class TierScorer:
    """Nearer is better: T1 1000, T2 666, T3 333, T4 0."""

    name = "tier"

    def points(self, ctx: PlacementContext, slots: np.ndarray) -> np.ndarray:
        return _TIER_POINTS[ctx.tier_of(slots)]


class LoadScorer:
    """Idle 1000, fully busy 0."""

    name = "load"

    def points(self, ctx: PlacementContext, slots: np.ndarray) -> np.ndarray:
        return MAX_POINTS - ctx.table.load_permille[slots]


def group_counts(group_slots: tuple[int, ...], slots: np.ndarray) -> np.ndarray:
    """How many entries of `group_slots` name each of `slots`."""
    if not group_slots:
        return np.zeros(len(slots), dtype=np.int64)
    if len(group_slots) <= 16:  # a few jobs: one broadcast compare beats sorting
        return (slots[:, None] == np.array(group_slots, dtype=np.int64)).sum(axis=1)
    where, counts = np.unique(np.array(group_slots, dtype=np.int64), return_counts=True)
    pos = np.minimum(np.searchsorted(where, slots), len(where) - 1)
    return np.where(where[pos] == slots, counts[pos], 0)


class SpreadScorer:
    """Fewer running jobs of the same buyer/job group on the node is better: 1000 / (1 + jobs)."""

    name = "spread"

    def points(self, ctx: PlacementContext, slots: np.ndarray) -> np.ndarray:
        return MAX_POINTS // (1 + group_counts(ctx.request.group_slots, slots))
