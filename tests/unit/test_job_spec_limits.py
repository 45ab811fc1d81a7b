"""A job spec admitted at the edge always becomes a placement request: the two agree on every bound."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shuniu.protos.v1 import common_pb2, jobs_pb2
from shuniu.scheduler.control_plane.errors import RequestError
from shuniu.scheduler.jobs import spec_rules
from shuniu.scheduler.placement.request import PlacementRequest


def _spec(cpu_milli: int, memory_mb: int, gpu: int, runtime_s: int, gang: int, cap_fen: int) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(
        grant_id="g-1", kind=common_pb2.JOB_KIND_AGGREGATE, compute_class=common_pb2.COMPUTE_CLASS_AI,
        products=[common_pb2.ProductColumns(product_id="p-1", columns=["city"])],
        aggregate=jobs_pb2.AggregateArgs(group_by=["city"], aggregations=[jobs_pb2.Aggregation(function=jobs_pb2.AGGREGATE_FUNCTION_COUNT)]),
        resources=common_pb2.Capacity(cpu_milli=cpu_milli, memory_mb=memory_mb, gpu=gpu),
        max_runtime_s=runtime_s, gang_size=gang, price_cap_fen=cap_fen, max_tier=common_pb2.TIER_T4)


def _placement(spec: jobs_pb2.JobSpec) -> PlacementRequest:
    # The fields job_scheduler.placement_request copies from the spec.
    return PlacementRequest(
        domain=0, compute_class=spec.compute_class, anchor_site="zhengzhou", max_tier=spec.max_tier,
        cpu_milli=spec.resources.cpu_milli, memory_mb=spec.resources.memory_mb, gpu=spec.resources.gpu,
        max_runtime_s=int(spec.max_runtime_s), price_cap_fen=spec.price_cap_fen, gang_size=max(1, spec.gang_size))


@given(
    cpu_milli=st.integers(1, spec_rules.MAX_CPU_MILLI),
    memory_mb=st.integers(1, spec_rules.MAX_MEMORY_MB),
    gpu=st.integers(0, spec_rules.MAX_GPU),
    runtime_s=st.integers(1, spec_rules.MAX_RUNTIME_S),
    gang=st.integers(0, spec_rules.MAX_GANG_SIZE),
    cap_fen=st.integers(1, spec_rules.MAX_PRICE_CAP_FEN),
)
def test_every_spec_the_edge_admits_is_a_valid_placement_request(cpu_milli, memory_mb, gpu, runtime_s, gang, cap_fen):
    spec = _spec(cpu_milli, memory_mb, gpu, runtime_s, gang, cap_fen)
    spec_rules.check_spec(spec)
    _placement(spec)  # raises ValueError (an internal error at the RPC) if the bounds disagree


@pytest.mark.parametrize("field, values", [
    ("resources.cpu_milli", dict(cpu_milli=spec_rules.MAX_CPU_MILLI + 1)),
    ("resources.memory_mb", dict(memory_mb=spec_rules.MAX_MEMORY_MB + 1)),
    ("resources.gpu", dict(gpu=spec_rules.MAX_GPU + 1)),
], ids=["cpu", "memory", "gpu"])
def test_a_request_larger_than_any_node_is_refused_at_the_edge_naming_the_field(field, values):
    args = dict(cpu_milli=1000, memory_mb=1024, gpu=0, runtime_s=60, gang=1, cap_fen=100) | values
    with pytest.raises(RequestError) as refused:
        spec_rules.check_spec(_spec(args["cpu_milli"], args["memory_mb"], args["gpu"], args["runtime_s"],
                                    args["gang"], args["cap_fen"]))
    assert refused.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert field in refused.value.message
