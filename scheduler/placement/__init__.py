"""Placement: which node (or gang of nodes) runs a job, and why — filters and scorers over numpy columns.

Pure logic, no I/O. Build a `NodeTable` from the fleet (`build_node_table`, then `sync`),
the site tiers from the RTT matrix (`site_tiers`), intern each product domain
(`table.domains.intern`), and ask a `Placer` to `plan`, `place_many` or `fit` a
`PlacementRequest`. `reference` holds the same rules in plain Python.
"""

from shuniu.scheduler.placement.explain import explanation_proto, placement_proto
from shuniu.scheduler.placement.placer import Decision, Explanation, Fit, Nearest, Placer, Rejection
from shuniu.scheduler.placement.request import PlacementConfig, PlacementRequest
from shuniu.scheduler.placement.table import NodeTable, SyncReport, build_node_table
from shuniu.scheduler.placement.tiers import SiteTiers, site_tiers

__all__ = [
    "Decision",
    "Explanation",
    "Fit",
    "Nearest",
    "NodeTable",
    "PlacementConfig",
    "PlacementRequest",
    "Placer",
    "Rejection",
    "SiteTiers",
    "SyncReport",
    "build_node_table",
    "explanation_proto",
    "placement_proto",
    "site_tiers",
]
