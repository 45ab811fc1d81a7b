"""What placement is asked: one job's demand (`PlacementRequest`) and the placer's policy (`PlacementConfig`).

Plain frozen data, validated on construction: a bad value raises ValueError naming the
field and what would be accepted, so the job layer can turn it into INVALID_ARGUMENT.
Limits keep the integer cost estimate inside int64 (see cost.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from shuniu.market.rating.tables import MAX_MULTIPLIER_BP
from shuniu.nodes.topology import DEFAULT_BOUNDS, TIERS, TierBounds

__all__ = [
    "BEYOND_T4",
    "MAX_CPU_MILLI",
    "MAX_GANG_SIZE",
    "MAX_GPU",
    "MAX_MEMORY_MB",
    "MAX_RUNTIME_S",
    "PlacementConfig",
    "PlacementRequest",
]

BEYOND_T4 = 5  # tier number of a node farther than the last bound
MAX_CPU_MILLI = 2**20  # per node: 1,048 cores
MAX_MEMORY_MB = 2**24  # per node: 16 TiB
MAX_GPU = 2**10
MAX_RUNTIME_S = 30 * 86_400
MAX_GANG_SIZE = 4096
MAX_PRICE_CAP_FEN = 2**62
_COMPUTE_CLASSES = (1, 2, 3)  # shuniu.v1.ComputeClass: general, AI, HPC
_SCORERS = ("cost", "tier", "load", "spread")


def _int_in(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{name} {value!r} invalid; expected an integer in [{low}, {high}]")
    return int(value)


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    """One job's demand, per node; `domain` is an id from `NodeTable.domains.intern`."""

    domain: int
    compute_class: int
    anchor_site: str
    max_tier: int
    cpu_milli: int = 0
    memory_mb: int = 0
    gpu: int = 0
    max_runtime_s: int = 3600
    # 0 means none; otherwise the tier wanted until relax_after_s has passed since submitted_s.
    preferred_tier: int = 0
    relax_after_s: float = 0.0
    submitted_s: float = 0.0
    # Most the whole job may cost, compute and data; None means no cap.
    price_cap_fen: int | None = None
    data_cost_fen: int = 0
    gang_size: int = 1
    # Slots where this buyer's job group already runs, one entry per running job (spread scorer).
    group_slots: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _int_in(self.domain, "domain", 0, 2**31)
        if self.compute_class not in _COMPUTE_CLASSES or isinstance(self.compute_class, bool):
            raise ValueError(f"compute_class {self.compute_class!r} unknown; expected 1 (general), 2 (AI) or 3 (HPC)")
        if self.max_tier not in TIERS or isinstance(self.max_tier, bool):
            raise ValueError(f"max_tier {self.max_tier!r} unknown; expected one of 1, 2, 3, 4 (T1..T4)")
        if self.preferred_tier not in (0, *TIERS) or self.preferred_tier > self.max_tier:
            raise ValueError(f"preferred_tier {self.preferred_tier!r} invalid; expected 0 (none) or a tier from 1 "
                             f"to max_tier {self.max_tier}")
        _int_in(self.cpu_milli, "cpu_milli", 0, MAX_CPU_MILLI)
        _int_in(self.memory_mb, "memory_mb", 0, MAX_MEMORY_MB)
        _int_in(self.gpu, "gpu", 0, MAX_GPU)
        _int_in(self.max_runtime_s, "max_runtime_s", 1, MAX_RUNTIME_S)
        _int_in(self.gang_size, "gang_size", 1, MAX_GANG_SIZE)
        _int_in(self.data_cost_fen, "data_cost_fen", 0, MAX_PRICE_CAP_FEN)
        if self.price_cap_fen is not None:
            _int_in(self.price_cap_fen, "price_cap_fen", 0, MAX_PRICE_CAP_FEN)
        if not self.relax_after_s >= 0.0:
            raise ValueError(f"relax_after_s {self.relax_after_s!r} invalid; expected a number of seconds >= 0")

    def effective_tier(self, now_s: float) -> int:
        """preferred_tier until relax_after_s has passed since submission, then max_tier."""
        if self.preferred_tier and now_s - self.submitted_s < self.relax_after_s:
            return self.preferred_tier
        return self.max_tier

    def compute_budget_fen(self) -> int | None:
        """What one node's compute may cost: the cap less data, shared equally by the gang; None without a cap."""
        if self.price_cap_fen is None:
            return None
        return max(-1, (self.price_cap_fen - self.data_cost_fen) // self.gang_size)


def _default_tier_factors() -> Mapping[int, int]:
    # ×1 at every tier until the exchange sets tier factors (they come from the rate tables).
    return {tier: 10_000 for tier in TIERS}


def _default_weights() -> Mapping[str, int]:
    # Policy, not measurement: price matters most, then nearness and load, spread breaks near-ties.
    return {"cost": 4, "tier": 2, "load": 2, "spread": 1}


@dataclass(frozen=True)
class PlacementConfig:
    """Tier bounds, tier price factors (basis points) and the scorers' integer weights."""

    bounds: TierBounds = DEFAULT_BOUNDS
    tier_factor_bp: Mapping[int, int] = field(default_factory=_default_tier_factors)
    weights: Mapping[str, int] = field(default_factory=_default_weights)

    def __post_init__(self) -> None:
        if set(self.tier_factor_bp) != set(TIERS):
            raise ValueError(f"tier_factor_bp keys {sorted(self.tier_factor_bp)} invalid; expected every tier 1..4")
        for tier, bp in self.tier_factor_bp.items():
            _int_in(bp, f"tier_factor_bp[T{tier}]", 0, MAX_MULTIPLIER_BP)
        if set(self.weights) != set(_SCORERS):
            raise ValueError(f"weights keys {sorted(self.weights)} invalid; expected exactly {', '.join(_SCORERS)}")
        for name, weight in self.weights.items():
            _int_in(weight, f"weights[{name}]", 0, 1000)

    def tier_factor_array(self) -> np.ndarray:
        """int64 [tier 0..5]: index = tier; beyond T4 is charged as T4 (only the explanation uses it)."""
        factors = [10_000] + [self.tier_factor_bp[t] for t in TIERS] + [self.tier_factor_bp[TIERS[-1]]]
        return np.array(factors, dtype=np.int64)
