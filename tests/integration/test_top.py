"""`shuniu top` against a real control plane with nodes, a finished job and queued jobs."""

from __future__ import annotations

import json
import subprocess
import sys

from test_jobs import aggregate_spec, finished, market, submit  # noqa: F401  (market is a fixture)

from shuniu.protos.v1 import common_pb2, jobs_pb2


def _shuniu(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shuniu.cli", *args], capture_output=True, text=True, timeout=60)


def test_top_shows_pools_queue_jobs_and_sandbox_start_up(market, eventually):
    plane, product, grant = market
    with plane.client() as client:
        done = finished(client, submit(client, aggregate_spec(grant, product), "top-run-1").job_id, eventually)
        assert done.state == jobs_pb2.JOB_STATE_SUCCEEDED, done.state_message
        # With both nodes of the product's domain drained, new jobs wait in the queue of their tier.
        for node_id in ("ray-n1", "ray-n3"):
            client.drain(node_id, "top test")
        for i in range(2):
            submit(client, aggregate_spec(grant, product), f"top-queued-{i}")
        result = _shuniu("top", "--once", "--json", "--anchor", "xinyang", "--addr", plane.address)
        assert result.returncode == 0, result.stderr
        overview = json.loads(result.stdout)
        assert overview["anchor_site"] == "xinyang"
        assert overview["fleet"] == {"ready": 4, "suspect": 0, "down": 0, "draining": 2}
        assert [p["tier"] for p in overview["pools"]] == ["TIER_T1", "TIER_T2", "TIER_T3", "TIER_T4"]
        assert overview["pools"][3]["nodes_ready"] == 2  # the two undrained nodes, anywhere in the nation
        queue = {q["tier"]: q for q in overview["queue"]}
        assert queue["TIER_T1"]["jobs"] == 2 and int(queue["TIER_T1"]["oldest_wait_ms"]) >= 0
        assert queue["TIER_T2"]["jobs"] == 0
        open_jobs = {j["state"]: j["jobs"] for j in overview["open_jobs"]}
        assert open_jobs["JOB_STATE_ADMITTED"] == 2 and open_jobs["JOB_STATE_RUNNING"] == 0
        ended = {j["state"]: j["jobs"] for j in overview["ended_jobs"]}
        assert ended["JOB_STATE_SUCCEEDED"] == 1
        assert overview["rates"]["ended_per_s"] > 0 and overview["rates"]["window_s"] > 0
        assert overview["sandbox_startup"]["runs"] == 1
        # The run's usage reached the stream; with no biller running it waits there, unbilled.
        assert int(overview["unbilled_batches"]) >= 1 and int(overview["billing_lag_ms"]) > 0

        frame = _shuniu("top", "--once", "--anchor", "xinyang", "--addr", plane.address)
        assert frame.returncode == 0, frame.stderr
        for words in ("pools around xinyang", "sandbox start-up", "billing lag", "admitted/s", "T1"):
            assert words in frame.stdout


def test_top_refuses_an_unknown_anchor(control_plane):
    result = _shuniu("top", "--once", "--anchor", "atlantis", "--addr", control_plane.address)
    assert result.returncode != 0
    assert "INVALID_ARGUMENT" in result.stderr and "anchor_site 'atlantis' unknown" in result.stderr
