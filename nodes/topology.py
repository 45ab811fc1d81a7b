"""Latency topology: the round-trip-time model, latency tiers and the RTT matrix in force.

Pure logic, no I/O. The provincial plan draws a four-level compute latency circle
(算力时延圈): 省辖市内1毫秒、郑洛间3毫秒、省域5毫秒、全国20毫秒 — within a city 1 ms,
Zhengzhou–Luoyang 3 ms, the province 5 ms, the country 20 ms. `TierBounds` holds those
bounds (configurable), `RttModel` estimates round-trip times from geography, and
`RttMatrix` is the model overridden by what node agents measure.
"""

from __future__ import annotations

import math
import numbers
import statistics
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from shuniu.nodes.sites import SITES, Site, UnknownSiteError, get_site, site_ids
from shuniu.protos.v1 import common_pb2

__all__ = [
    "DEFAULT_BOUNDS",
    "MAX_SAMPLES_PER_PAIR",
    "TIERS",
    "RttMatrix",
    "RttModel",
    "Site",
    "TierBounds",
    "UnknownSiteError",
    "distance_km",
    "get_site",
    "site_ids",
    "tier_for",
    "tier_from_name",
    "tier_name",
]

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)
MAX_SAMPLES_PER_PAIR = 16  # measured samples kept per unordered site pair

# Tier numbers are the proto enum values, so they cross the gRPC edge unchanged.
TIERS: tuple[int, ...] = (common_pb2.TIER_T1, common_pb2.TIER_T2, common_pb2.TIER_T3, common_pb2.TIER_T4)
assert TIERS == (1, 2, 3, 4), TIERS
_TIER_NAMES = tuple(f"T{t}" for t in TIERS)


def tier_name(tier: int) -> str:
    """The name, "T1".."T4", of a tier number 1..4."""
    _check_tier(tier)
    return f"T{tier}"


def tier_from_name(name: str) -> int:
    """The tier number (proto enum value) for a name such as "T2"; case and blanks ignored."""
    key = str(name).strip().upper()
    if key not in _TIER_NAMES:
        raise ValueError(f'tier "{name}" unknown; expected one of {", ".join(_TIER_NAMES)}')
    return int(key[1:])


def _check_tier(tier: int) -> None:
    if not isinstance(tier, int) or isinstance(tier, bool) or tier not in TIERS:
        raise ValueError(f"tier {tier!r} unknown; expected one of 1, 2, 3, 4 ({', '.join(_TIER_NAMES)})")


def _check_rtt(rtt_ms: float) -> float:
    if isinstance(rtt_ms, bool) or not isinstance(rtt_ms, numbers.Real):
        raise ValueError(f"rtt_ms {rtt_ms!r} invalid; expected a finite number >= 0")
    value = float(rtt_ms)
    if not math.isfinite(value) or value < 0.0:
        raise ValueError(f"rtt_ms {rtt_ms!r} invalid; expected a finite number >= 0")
    return value


@dataclass(frozen=True, slots=True)
class TierBounds:
    """Upper round-trip-time bound of each tier, in ms; positive and strictly increasing."""

    t1_ms: float = 1.0
    t2_ms: float = 3.0
    t3_ms: float = 5.0
    t4_ms: float = 20.0

    def __post_init__(self) -> None:
        for name, field in zip(_TIER_NAMES, ("t1_ms", "t2_ms", "t3_ms", "t4_ms")):
            bound = getattr(self, field)
            if isinstance(bound, bool) or not isinstance(bound, numbers.Real):
                raise ValueError(f"{name} bound {bound!r} invalid; expected a number of ms")
            if not math.isfinite(bound) or bound <= 0.0:
                raise ValueError(f"{name} bound {bound!r} invalid; expected a finite number of ms > 0")
            object.__setattr__(self, field, float(bound))
        bounds = self.as_tuple()
        for lower, upper, lo_name, up_name in zip(bounds, bounds[1:], _TIER_NAMES, _TIER_NAMES[1:]):
            if upper <= lower:
                raise ValueError(
                    f"{up_name}={upper:g} must be greater than {lo_name}={lower:g}; "
                    "expected bounds increasing, e.g. T1=1,T2=3,T3=5,T4=20"
                )

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.t1_ms, self.t2_ms, self.t3_ms, self.t4_ms)

    def as_mapping(self) -> dict[str, float]:
        """{"T1": 1.0, …, "T4": 20.0}."""
        return dict(zip(_TIER_NAMES, self.as_tuple()))

    def bound_ms(self, tier: int) -> float:
        """The bound of tier 1..4."""
        _check_tier(tier)
        return self.as_tuple()[tier - 1]

    def tier_for(self, rtt_ms: float) -> int | None:
        """The smallest tier whose bound holds `rtt_ms`; None when beyond the last tier."""
        value = _check_rtt(rtt_ms)
        for tier, bound in zip(TIERS, self.as_tuple()):
            if value <= bound:
                return tier
        return None

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, float | str]) -> TierBounds:
        """Bounds from {"T1": 1, "T3": 5.5, …}; tiers left out keep their defaults."""
        values = dict(zip(_TIER_NAMES, cls().as_tuple()))
        for key, raw in mapping.items():
            name = _TIER_NAMES[tier_from_name(key) - 1]
            try:
                values[name] = float(raw)
            except (TypeError, ValueError):
                raise ValueError(f'{name} bound "{raw}" is not a number; expected ms, e.g. {name}=3') from None
        return cls(*(values[n] for n in _TIER_NAMES))

    @classmethod
    def parse(cls, text: str) -> TierBounds:
        """Bounds from "T1=1,T2=3,T3=5,T4=20"; tiers left out keep their defaults."""
        mapping: dict[str, str] = {}
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            key, sep, raw = item.partition("=")
            if not sep:
                raise ValueError(f'tier bound "{item}" has no "="; expected NAME=MS, e.g. T1=1,T2=3,T3=5,T4=20')
            name = _TIER_NAMES[tier_from_name(key) - 1]
            if name in mapping:
                raise ValueError(f"tier {name} given twice in {text!r}; expected each of T1..T4 at most once")
            mapping[name] = raw.strip()
        return cls.from_mapping(mapping)

    def __str__(self) -> str:
        return ",".join(f"{name}={bound:g}" for name, bound in self.as_mapping().items())


DEFAULT_BOUNDS = TierBounds()


def tier_for(rtt_ms: float, bounds: TierBounds = DEFAULT_BOUNDS) -> int | None:
    """The smallest tier whose bound holds `rtt_ms` (default bounds); None beyond T4."""
    return bounds.tier_for(rtt_ms)


def distance_km(a: Site, b: Site) -> float:
    """Great-circle (haversine) distance between two sites."""
    phi_a, phi_b = math.radians(a.latitude), math.radians(b.latitude)
    d_phi = phi_b - phi_a
    d_lambda = math.radians(b.longitude - a.longitude)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi_a) * math.cos(phi_b) * math.sin(d_lambda / 2) ** 2
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _distance_matrix_km(sites: Sequence[Site]) -> np.ndarray:
    lat = np.radians(np.array([s.latitude for s in sites], dtype=np.float64))
    lon = np.radians(np.array([s.longitude for s in sites], dtype=np.float64))
    d_phi = lat[None, :] - lat[:, None]
    d_lambda = lon[None, :] - lon[:, None]
    h = np.sin(d_phi / 2) ** 2 + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(d_lambda / 2) ** 2
    dist = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    return (dist + dist.T) / 2.0  # exact symmetry despite rounding


@dataclass(frozen=True, slots=True)
class RttModel:
    """Round-trip time from geography: rtt_ms = 2 × distance_km × route_factor / fibre_km_per_ms + overhead_ms.

    - fibre_km_per_ms = 200: light in silica fibre travels at about c / 1.47 ≈ 204 km/ms.
    - route_factor = 1.5: fibre follows roads, railways and metro rings and passes through
      aggregation points, so a path is longer than the great circle; 1.3–2× is what
      terrestrial routes measure, 1.5 is the usual planning figure.
    - overhead_ms = 0.2: switching, serialization and metro access on one round trip; two
      sites in the same city (distance 0) sit at 0.2 ms, well inside T1.

    With the default tier bounds these reproduce the provincial circle: Zhengzhou–Luoyang
    ≈ 1.8 ms (T2, not T1), the farthest Henan city, Xinyang (≈ 292 km), ≈ 4.6 ms (T3), the
    farthest hub, Gui'an (≈ 1157 km), ≈ 17.6 ms (T4). The circle holds for any route_factor
    in (0.75, 1.64]; 1.5 leaves margin on both sides.
    """

    route_factor: float = 1.5
    overhead_ms: float = 0.2
    fibre_km_per_ms: float = 200.0

    def __post_init__(self) -> None:
        # A route is never shorter than the great circle; config may carry these, so not asserts.
        if not (math.isfinite(self.route_factor) and self.route_factor >= 1.0):
            raise ValueError(f"route_factor {self.route_factor!r} invalid; expected a finite number >= 1")
        if not (math.isfinite(self.overhead_ms) and self.overhead_ms >= 0.0):
            raise ValueError(f"overhead_ms {self.overhead_ms!r} invalid; expected a finite number >= 0")
        if not (math.isfinite(self.fibre_km_per_ms) and self.fibre_km_per_ms > 0.0):
            raise ValueError(f"fibre_km_per_ms {self.fibre_km_per_ms!r} invalid; expected a finite number > 0")

    def rtt_ms_for_distance(self, km: float) -> float:
        """The modelled round-trip time over a great-circle distance of `km`."""
        assert km >= 0.0, km
        return 2.0 * km * self.route_factor / self.fibre_km_per_ms + self.overhead_ms

    def rtt_ms(self, a: Site, b: Site) -> float:
        """The modelled round-trip time between two sites."""
        return self.rtt_ms_for_distance(distance_km(a, b))

    def matrix_ms(self, sites: Sequence[Site]) -> np.ndarray:
        """The modelled round-trip times between every pair of `sites`, in their order."""
        return 2.0 * _distance_matrix_km(sites) * self.route_factor / self.fibre_km_per_ms + self.overhead_ms


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


class RttMatrix:
    """The round-trip-time matrix in force: the model, overridden per site pair by measurements.

    Measurements are symmetric; each unordered pair keeps its last `max_samples` samples and
    uses their median, so that one slow probe does not move a site across a tier.
    """

    def __init__(
        self,
        model: RttModel | None = None,
        *,
        sites: Sequence[Site] = SITES,
        max_samples: int = MAX_SAMPLES_PER_PAIR,
    ) -> None:
        assert 1 <= max_samples <= 1024, max_samples
        self._model = model or RttModel()
        self._sites = tuple(sites)
        self._ids = tuple(s.site for s in self._sites)
        self._index = {site: i for i, site in enumerate(self._ids)}
        assert len(self._index) == len(self._sites), "site ids must be unique"
        self._max_samples = max_samples
        self._model_ms = self._model.matrix_ms(self._sites)
        self._model_ms.setflags(write=False)
        self._samples: dict[tuple[str, str], deque[float]] = {}

    @property
    def model(self) -> RttModel:
        return self._model

    @property
    def sites(self) -> tuple[str, ...]:
        """The site ids, in the stable order of `as_array`."""
        return self._ids

    def _check_site(self, site: str) -> int:
        try:
            return self._index[site]
        except (KeyError, TypeError):
            raise UnknownSiteError(str(site), self._ids) from None

    def observe(self, from_site: str, to_site: str, rtt_ms: float) -> None:
        """Records a measured round trip between two sites (either direction)."""
        self._check_site(from_site)
        self._check_site(to_site)
        value = _check_rtt(rtt_ms)
        pair = _pair(from_site, to_site)
        samples = self._samples.get(pair)
        if samples is None:
            samples = self._samples[pair] = deque(maxlen=self._max_samples)
        samples.append(value)

    def samples(self, a: str, b: str) -> tuple[float, ...]:
        """The kept samples of a pair, oldest first."""
        self._check_site(a)
        self._check_site(b)
        return tuple(self._samples.get(_pair(a, b), ()))

    def is_measured(self, a: str, b: str) -> bool:
        """Whether the pair's round-trip time comes from measurements rather than the model."""
        self._check_site(a)
        self._check_site(b)
        return _pair(a, b) in self._samples

    def model_rtt_ms(self, a: str, b: str) -> float:
        """The modelled round-trip time, ignoring measurements."""
        return float(self._model_ms[self._check_site(a), self._check_site(b)])

    def rtt_ms(self, a: str, b: str) -> float:
        """The round-trip time in force: the median of measured samples, else the model."""
        i, j = self._check_site(a), self._check_site(b)
        samples = self._samples.get(_pair(a, b))
        if samples:
            return float(statistics.median(samples))
        return float(self._model_ms[i, j])

    def as_array(self) -> np.ndarray:
        """A fresh (n × n) float64 matrix of the round-trip times in force, rows and columns in `sites` order."""
        out = self._model_ms.copy()
        for (a, b), samples in self._samples.items():
            i, j = self._index[a], self._index[b]
            out[i, j] = out[j, i] = statistics.median(samples)
        return out

    def measured_mask(self) -> np.ndarray:
        """A (n × n) bool matrix, True where the value in force is measured."""
        mask = np.zeros(self._model_ms.shape, dtype=bool)
        for a, b in self._samples:
            i, j = self._index[a], self._index[b]
            mask[i, j] = mask[j, i] = True
        return mask

    def pool_sites(
        self, anchor: str, tier: int, bounds: TierBounds = DEFAULT_BOUNDS
    ) -> list[tuple[str, float, bool]]:
        """Every site within `tier`'s bound of `anchor`, as (site, rtt_ms, measured), nearest first."""
        i = self._check_site(anchor)
        bound = bounds.bound_ms(tier)
        row = self.as_array()[i]
        measured = self.measured_mask()[i]
        order = np.argsort(row, kind="stable")  # ties keep catalog order
        return [(self._ids[j], float(row[j]), bool(measured[j])) for j in order if row[j] <= bound]
