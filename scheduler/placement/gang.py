"""Gang selection: N feasible nodes whose pairwise round-trip times are all within the job's tier.

All or nothing. Pairwise RTT is the site-by-site matrix, so a valid gang is a set of nodes
whose sites form a clique of the graph "RTT within the bound" (a site whose own intra-site
RTT exceeds the bound takes no gang member). Every valid gang lies inside a maximal clique,
so taking the best N nodes of each maximal clique and keeping the best of those finds the
best gang overall: highest total score, then the smallest sorted slot tuple.

The loops here run over sites (at most a few dozen) and maximal cliques, never over nodes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["maximal_cliques", "select_gang"]


def maximal_cliques(adjacent: np.ndarray, vertices: list[int]) -> list[list[int]]:
    """Every maximal clique among `vertices` of a symmetric bool matrix (Bron–Kerbosch with pivot), sorted."""
    neighbours = {v: {u for u in vertices if u != v and adjacent[v, u]} for v in vertices}
    found: list[list[int]] = []

    def expand(r: set[int], p: set[int], x: set[int]) -> None:
        if not p and not x:
            found.append(sorted(r))
            return
        pivot = max(p | x, key=lambda u: (len(neighbours[u] & p), -u))
        for v in sorted(p - neighbours[pivot]):
            expand(r | {v}, p & neighbours[v], x & neighbours[v])
            p = p - {v}
            x = x | {v}

    expand(set(), set(vertices), set())
    return sorted(found)


def select_gang(
    slots: np.ndarray, totals: np.ndarray, sites: np.ndarray, within: np.ndarray, size: int,
    cliques_of: Callable[[list[int]], list[list[int]]] | None = None,
) -> np.ndarray | None:
    """The best `size` of the feasible `slots` (with score `totals`, at `sites`) forming a valid gang; None if none.

    `cliques_of(usable_sites)` may supply the maximal cliques of `within` (e.g. from a cache).
    """
    assert size >= 1 and len(slots) == len(totals) == len(sites)
    if len(slots) < size:
        return None
    order = np.lexsort((slots, -totals))  # best score first, then lowest slot
    slot_sorted, site_sorted, total_sorted = slots[order], sites[order], totals[order]
    counts = np.bincount(site_sorted, minlength=len(within))
    usable = [int(s) for s in np.flatnonzero(counts) if within[s, s]]
    best_key: tuple[int, tuple[int, ...]] | None = None
    best: np.ndarray | None = None
    cliques = maximal_cliques(within, usable) if cliques_of is None else cliques_of(usable)
    for clique in cliques:
        if int(counts[clique].sum()) < size:
            continue
        pick = np.flatnonzero(np.isin(site_sorted, clique))[:size]
        chosen = np.sort(slot_sorted[pick])
        key = (-int(total_sorted[pick].sum()), tuple(chosen.tolist()))
        if best_key is None or key < best_key:
            best_key, best = key, chosen
    return best
