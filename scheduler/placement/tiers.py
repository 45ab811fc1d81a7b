"""Site-by-site round-trip times and tiers, in the node table's site order, as numpy matrices.

A node's tier from an anchor is then one gather: `tier[anchor_row][site_of_node]`. Rebuilt
(26 × 26, microseconds) whenever the RTT matrix in force changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shuniu.nodes.topology import RttMatrix, TierBounds, UnknownSiteError
from shuniu.scheduler.placement.request import BEYOND_T4

__all__ = ["SiteTiers", "site_tiers"]


@dataclass(frozen=True, eq=False)
class SiteTiers:
    """rtt_ms and tier (1..4, 5 beyond T4) between every pair of sites, rows and columns in `sites` order."""

    sites: tuple[str, ...]
    rtt_ms: np.ndarray  # float64 [site, site]
    tier: np.ndarray  # int8 [site, site]
    bounds: TierBounds

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rows", {site: i for i, site in enumerate(self.sites)})

    def row(self, site: str) -> int:
        """The row of a site id; raises UnknownSiteError naming the valid ids."""
        try:
            return self._rows[site]  # type: ignore[attr-defined]
        except (KeyError, TypeError):
            raise UnknownSiteError(str(site), self.sites) from None

    def within(self, tier: int) -> np.ndarray:
        """bool [site, site]: pairs whose round-trip time is within `tier`'s bound."""
        return self.tier <= tier


def site_tiers(matrix: RttMatrix, bounds: TierBounds, sites: Sequence[str]) -> SiteTiers:
    """The matrix in force reordered to `sites` (the node table's order), with each pair's tier."""
    order = [matrix.sites.index(s) for s in sites]
    rtt = matrix.as_array()[np.ix_(order, order)]
    # searchsorted 'left': the first bound >= rtt, i.e. the smallest tier whose bound holds it.
    tier = np.searchsorted(np.array(bounds.as_tuple()), rtt, side="left") + 1
    assert int(tier.max(initial=1)) <= BEYOND_T4
    rtt.setflags(write=False)
    tier = tier.astype(np.int8)
    tier.setflags(write=False)
    return SiteTiers(tuple(sites), rtt, tier, bounds)
