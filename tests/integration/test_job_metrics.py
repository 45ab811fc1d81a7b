"""The job layer's series on a real control plane's /metrics: jobs, queue, placement, admission, run start-up."""

from __future__ import annotations

import grpc
import pytest
from test_jobs import aggregate_spec, finished, market, submit  # noqa: F401  (market is a fixture)
from test_prometheus import _scrape

from shuniu.protos.v1 import jobs_pb2
from shuniu.stack import free_port


@pytest.fixture
def control_plane_factory(control_plane_factory):
    """The suite's control planes, each serving /metrics on a loopback port of its own (`metrics_port`)."""
    def start(**kwargs):
        port = free_port()
        plane = control_plane_factory(metrics_port=port, **kwargs)
        plane.metrics_port = port
        return plane
    return start


def test_a_job_run_a_refusal_and_a_queued_job_move_the_job_series(market, eventually):
    plane, product, grant = market
    with plane.client() as client:
        done = finished(client, submit(client, aggregate_spec(grant, product), "metrics-run-1").job_id, eventually)
        assert done.state == jobs_pb2.JOB_STATE_SUCCEEDED, done.state_message
        with pytest.raises(grpc.RpcError):
            submit(client, aggregate_spec(grant, product, grant_id="g-unknown"), "metrics-refused")
        for node_id in ("ray-n1", "ray-n3"):  # the product's domain drained: the next job waits within T1
            client.drain(node_id, "metrics test")
        submit(client, aggregate_spec(grant, product), "metrics-queued")
        s = eventually(lambda: (s := _scrape(plane.metrics_port)).get(("shuniu_queue_jobs", (("tier", "T1"),))) == 1
                       and s, what="the queued job in /metrics")
    assert s[("shuniu_jobs_admitted_total", (("kind", "aggregate"),))] == 2
    assert s[("shuniu_admission_refusals_total", (("reason", "grant_not_found"),))] == 1
    assert s[("shuniu_job_transitions_total", (("state", "succeeded"),))] == 1
    assert s[("shuniu_jobs", (("state", "admitted"),))] == 1 and s[("shuniu_jobs", (("state", "running"),))] == 0
    assert s[("shuniu_queue_jobs", (("tier", "T2"),))] == 0
    assert s[("shuniu_placement_decisions_total", (("outcome", "placed"),))] >= 1
    assert s[("shuniu_placement_seconds_count", ())] >= 1
    assert s[("shuniu_queue_wait_seconds_count", (("tier", "T1"),))] == 1
    # Reported in whole ms: a warm sandbox can start in less than one.
    assert 0 <= s[("shuniu_run_startup_seconds_sum", ())] < 60 and s[("shuniu_run_startup_seconds_count", ())] == 1
