"""Pools and topology views: which sites fall within each tier of an anchor, with live capacity."""

from __future__ import annotations

from shuniu.nodes import topology
from shuniu.protos.v1 import common_pb2, nodes_pb2
from shuniu.scheduler.control_plane.fleet import Fleet


def _capacity(row) -> common_pb2.Capacity:
    return common_pb2.Capacity(cpu_milli=int(row[0]), memory_mb=int(row[1]), gpu=int(row[2]))


def pools_response(
    anchor: str, tiers: list[int], fleet: Fleet, matrix: topology.RttMatrix, bounds: topology.TierBounds
) -> nodes_pb2.GetPoolsResponse:
    """One pool per tier: every site within the tier's bound of the anchor, nearest first."""
    sums = fleet.site_sums()
    index = {site: i for i, site in enumerate(fleet.site_order)}
    response = nodes_pb2.GetPoolsResponse()
    for tier in tiers:
        bound = bounds.bound_ms(tier)
        pool = response.pools.add(anchor_site=anchor, tier=tier, bound_ms=bound)
        totals = [0, 0, 0], [0, 0, 0]
        for site, rtt_ms, measured in matrix.pool_sites(anchor, tier, bounds):
            i = index[site]
            pool.sites.add(
                site=site, rtt_ms=rtt_ms, measured=measured,
                nodes_ready=int(sums["nodes_ready"][i]), nodes_total=int(sums["nodes_total"][i]),
                capacity=_capacity(sums["capacity"][i]), free=_capacity(sums["free"][i]),
            )
            pool.nodes_ready += int(sums["nodes_ready"][i])
            for k in range(3):
                totals[0][k] += int(sums["capacity"][i][k])
                totals[1][k] += int(sums["free"][i][k])
        pool.capacity.CopyFrom(_capacity(totals[0]))
        pool.free.CopyFrom(_capacity(totals[1]))
    return response


def topology_response(matrix: topology.RttMatrix, bounds: topology.TierBounds) -> nodes_pb2.GetTopologyResponse:
    response = nodes_pb2.GetTopologyResponse()
    ids = sorted(topology.site_ids())
    for site_id in ids:
        s = topology.get_site(site_id)
        response.sites.add(site=s.site, display_name=s.display_name, region=s.region,
                           latitude=s.latitude, longitude=s.longitude)
    for a in ids:
        for b in ids:
            response.rtts.add(from_site=a, to_site=b, rtt_ms=matrix.rtt_ms(a, b), measured=matrix.is_measured(a, b))
    for tier in (1, 2, 3, 4):
        response.tiers.add(tier=tier, bound_ms=bounds.bound_ms(tier))
    return response
