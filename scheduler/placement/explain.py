"""Placement decisions as the contract's messages: Explanation, Placement (jobs.proto)."""

from __future__ import annotations

from shuniu.protos.v1 import common_pb2, jobs_pb2
from shuniu.scheduler.placement.placer import Decision, Explanation
from shuniu.scheduler.placement.request import BEYOND_T4

__all__ = ["explanation_proto", "placement_proto"]


def _tier(tier: int) -> int:
    return 0 if tier in (0, BEYOND_T4) else tier  # beyond T4 has no Tier value: TIER_UNSPECIFIED


def explanation_proto(explanation: Explanation) -> jobs_pb2.Explanation:
    """Per filter the nodes it removed, in order, and the nearest node when none is feasible."""
    out = jobs_pb2.Explanation(nodes_considered=explanation.nodes_considered,
                               nodes_feasible=explanation.nodes_feasible,
                               effective_tier=explanation.effective_tier)
    for r in explanation.rejections:
        out.rejections.add(filter=r.filter, nodes_removed=r.nodes_removed, reason=r.reason)
    n = explanation.nearest
    if n is not None:
        out.nearest.CopyFrom(jobs_pb2.NearestNode(
            node_id=n.node_id, site=n.site, tier=_tier(n.tier), rtt_ms=n.rtt_ms, failed_filters=list(n.failed_filters),
            shortfall=common_pb2.Capacity(cpu_milli=n.shortfall[0], memory_mb=n.shortfall[1], gpu=n.shortfall[2]),
            over_price_cap_fen=n.over_price_cap_fen,
        ))
    return out


def placement_proto(decision: Decision, estimated_data_fen: int = 0) -> jobs_pb2.Placement:
    """The chosen nodes with each scorer's points (averaged over a gang's nodes) and the compute estimate."""
    assert decision.placed, "an unplaced decision has no placement"
    n = len(decision.slots)
    return jobs_pb2.Placement(
        node_ids=list(decision.node_ids), sites=list(decision.sites), tier=_tier(decision.tier),
        scores=[jobs_pb2.ScoreTerm(scorer=name, score=points / n) for name, points in decision.scores],
        estimated_compute_fen=decision.estimated_compute_fen, estimated_data_fen=estimated_data_fen,
    )
