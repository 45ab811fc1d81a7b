"""Placement scorers, one per concern (Nomad's rankers; Kubernetes' Score plugins).

Each gives every feasible slot integer points in [0, 1000], higher is better; the placer
adds them with integer weights. Integers keep the choice exact and equal to the
pure-Python reference; ties go to the lowest slot.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from shuniu.scheduler.placement.filters import PlacementContext

__all__ = ["CostScorer", "LoadScorer", "Scorer", "SpreadScorer", "TierScorer", "cost_points", "group_counts"]

MAX_POINTS = 1000
# (high − cost) · 1000 stays in int64 while high − low is at most this: every fleet whose feasible costs
# span less than 92 billion yuan. Wider spans (dear cards, big and long jobs) take the corrected float path.
_NARROW_SPAN_FEN = (2**63 - 1) // MAX_POINTS


class Scorer(Protocol):
    name: str

    def points(self, ctx: PlacementContext, slots: np.ndarray) -> np.ndarray: ...


class CostScorer:
    """Cheapest feasible node 1000, dearest 0, linear between (floored)."""

    name = "cost"

    def points(self, ctx: PlacementContext, slots: np.ndarray) -> np.ndarray:
        return cost_points(ctx.cost_fen(slots))


def cost_points(cost: np.ndarray) -> np.ndarray:
    """⌊(high − cost) · 1000 / (high − low)⌋ exactly for int64 costs in [0, 2^62]; 1000 each when all are equal."""
    low, high = int(cost[cost.argmin()]), int(cost[cost.argmax()])  # argmin/argmax: cheaper than min/max here
    span = high - low
    if span == 0:
        return np.full(len(cost), MAX_POINTS, dtype=np.int64)
    if span <= _NARROW_SPAN_FEN:
        return (high - cost) * MAX_POINTS // span
    assert 0 <= low and high <= 2**62, "costs are fen in [0, OUT_OF_RANGE_FEN]"
    below = high - cost  # 0 ≤ below ≤ span ≤ 2^62
    # The float quotient is within 4·2^-53 · 1000 of the exact one, so its floor is off by at most one;
    # the remainder below·1000 − p·span then lies in [−span, 2·span) ⊂ int64, and is exact when taken
    # modulo 2^64 (unsigned arithmetic wraps by definition), which tells which way to correct.
    p = np.floor(below.astype(np.float64) * (MAX_POINTS / span)).astype(np.int64)
    rest = (below.astype(np.uint64) * np.uint64(MAX_POINTS) - p.astype(np.uint64) * np.uint64(span)).astype(np.int64)
    return p - (rest < 0) + (rest >= span)


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
