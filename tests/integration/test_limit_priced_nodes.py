"""Nodes registered at the price card limit are placed, on a real control plane: agents register cards of
10^8 fen a unit-hour with a x10 band all day (what registration accepts), and a job is planned and submitted
on them when its price cap covers the estimate, refused with the price filter's reason when it does not."""

from __future__ import annotations

import grpc
import pytest
import test_jobs
from test_jobs import aggregate_spec, power_market

from shuniu.market.rating.tables import MAX_BAND_MULTIPLIER_BP, MAX_COMPUTE_PRICE_FEN
from shuniu.protos.v1 import common_pb2, jobs_pb2

LIMIT_CARD = common_pb2.PriceCard(
    cpu_core_hour_fen=MAX_COMPUTE_PRICE_FEN, memory_gb_hour_fen=MAX_COMPUTE_PRICE_FEN, gpu_hour_fen=MAX_COMPUTE_PRICE_FEN,
    bands=[common_pb2.TimeOfUseBand(start_hour=0, end_hour=24, multiplier_bp=MAX_BAND_MULTIPLIER_BP)])
# aggregate_spec's job: 1 core and 512 MB for 60 s at 10^8 fen a unit-hour, x10 all day, tier factor x1:
# (1 core + 0.5 GB) x 10^8 fen x 10 x 60/3600 h = 25,000,000 fen (250,000 yuan).
LIMIT_COST_FEN = 25_000_000


@pytest.fixture
def market(control_plane_factory, tmp_path, eventually, monkeypatch):
    """A control plane (no Ray: admitted jobs wait) whose four agents register the limit card, and a grant."""
    monkeypatch.setattr(test_jobs, "PRICE", LIMIT_CARD)  # the card power_market's agents register
    plane = control_plane_factory()
    with power_market(plane, tmp_path, eventually, grants={"apply": "zz-bank"}, job_kinds=[common_pb2.JOB_KIND_AGGREGATE],
                      max_budget_fen=10**9) as (product, (grant,)):
        yield plane, product, grant


def test_a_node_priced_at_the_limit_is_placed_when_the_cap_covers_it_and_refused_for_price_when_not(market):
    plane, product, grant = market
    with plane.client() as client:
        cards = {n.node_id: n.price_card for n in client.list_nodes()}
        assert set(cards) == set(test_jobs.NODES) and all(c == LIMIT_CARD for c in cards.values())

        covered = aggregate_spec(grant, product, price_cap_fen=LIMIT_COST_FEN)
        plan = client.jobs.PlanJob(jobs_pb2.PlanJobRequest(spec=covered), timeout=10)
        assert plan.admissible, plan.admission_reason
        assert list(plan.placement.node_ids) == ["ray-n3"]  # the domain's node in xinyang, the anchor (T1)
        assert plan.placement.estimated_compute_fen == LIMIT_COST_FEN
        job = client.jobs.SubmitJob(jobs_pb2.SubmitJobRequest(request_id="sub-covered", spec=covered), timeout=10).job
        assert job.job_id and job.state != jobs_pb2.JOB_STATE_FAILED

        short = aggregate_spec(grant, product, price_cap_fen=LIMIT_COST_FEN - 1)
        plan = client.jobs.PlanJob(jobs_pb2.PlanJobRequest(spec=short), timeout=10)
        with pytest.raises(grpc.RpcError) as refused:
            client.jobs.SubmitJob(jobs_pb2.SubmitJobRequest(request_id="sub-short", spec=short), timeout=10)
    reason = (f"price_cap_fen {LIMIT_COST_FEN - 1} is below the estimated cost on every node that could run the job; "
              f"expected at least {LIMIT_COST_FEN} fen")
    assert not plan.admissible and reason in plan.admission_reason
    assert not plan.placement.node_ids
    removed = {r.filter: (r.nodes_removed, r.reason) for r in plan.explanation.rejections if r.nodes_removed}
    assert removed["price"] == (1, f"estimated compute cost above {LIMIT_COST_FEN - 1} fen per node "
                                   "(price cap less data cost)")
    assert list(plan.explanation.nearest.failed_filters) == ["price"]
    assert plan.explanation.nearest.over_price_cap_fen == 1
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION and reason in refused.value.details()
