"""The `shuniu` command line against a real control plane: listings, JSON, refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from shuniu.protos.v1 import common_pb2, nodes_pb2


def shuniu(*args: str, env: dict[str, str] | None = None, timeout_s: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shuniu.cli", *args], capture_output=True, text=True, timeout=timeout_s,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


@pytest.fixture
def fleet(control_plane_factory):
    # These nodes never heartbeat: liveness is long enough that they stay READY while a CLI starts.
    control_plane = control_plane_factory(suspect_after=60.0, down_after=120.0)
    with control_plane.client() as client:
        for i, (site, cls, gpu) in enumerate([("zhengzhou", 1, 0), ("luoyang", 2, 8), ("gansu", 3, 0)]):
            client.register(nodes_pb2.RegisterRequest(
                request_id=f"r{i}", node_id=f"n-{site}", site=site, compute_class=cls,
                capacity=common_pb2.Capacity(cpu_milli=32000, memory_mb=65536, gpu=gpu)))
    return control_plane


def test_nodes_ls_json_lists_every_node(fleet):
    result = shuniu("nodes", "ls", "--json", "--addr", fleet.address)
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["total"] == 3
    assert {n["node_id"]: n["site"] for n in listing["nodes"]} == {
        "n-zhengzhou": "zhengzhou", "n-luoyang": "luoyang", "n-gansu": "gansu"}


def test_nodes_ls_table_filters_by_class(fleet):
    result = shuniu("nodes", "ls", "--class", "ai", "--addr", fleet.address)
    assert result.returncode == 0, result.stderr
    assert "n-luoyang" in result.stdout and "n-zhengzhou" not in result.stdout


def test_pools_json_reports_live_capacity(fleet):
    result = shuniu("pools", "--anchor", "zhengzhou", "--json", "--addr", fleet.address)
    assert result.returncode == 0, result.stderr
    pools = {p["tier"]: p for p in json.loads(result.stdout)["pools"]}
    assert pools["TIER_T2"]["nodes_ready"] == 2
    assert pools["TIER_T4"]["nodes_ready"] == 3
    assert pools["TIER_T4"]["capacity"]["gpu"] == 8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nodes", "ls", "--site", "atlantis"], "INVALID_ARGUMENT: site 'atlantis' unknown"),
        (["nodes", "ls", "--class", "quantum"], "compute class 'quantum' unknown"),
        (["nodes", "drain", "nobody"], "NOT_FOUND: node 'nobody' is not registered"),
        (["pools", "--anchor", "atlantis"], "INVALID_ARGUMENT: anchor_site 'atlantis' unknown"),
        (["pools", "--tier", "T7"], 'tier "T7" unknown; expected one of T1, T2, T3, T4'),
    ],
    ids=["unknown-site", "unknown-class", "drain-unknown-node", "unknown-anchor", "unknown-tier"],
)
def test_bad_input_exits_nonzero_with_a_clear_message(fleet, args, message):
    result = shuniu(*args, "--addr", fleet.address)
    assert result.returncode != 0
    assert message in " ".join(result.stderr.split())


def test_unreachable_control_plane_says_how_to_start_one():
    result = shuniu("nodes", "ls", "--addr", "127.0.0.1:1")
    assert result.returncode != 0
    assert "UNAVAILABLE" in result.stderr and "shuniu up" in " ".join(result.stderr.split())


def test_topology_model_json_has_every_site_and_the_circle():
    result = shuniu("topology", "--model", "--json")
    assert result.returncode == 0, result.stderr
    topo = json.loads(result.stdout)
    assert len(topo["sites"]) == 26
    assert topo["rtt_ms"]["zhengzhou"]["luoyang"] <= 3.0 < topo["rtt_ms"]["zhengzhou"]["xinyang"] + 1.0


def test_up_runs_the_stack_and_stops_cleanly(tmp_path):
    # Starting Redis, a Ray head, the control plane, the fleet and the biller takes a minute on a busy machine.
    result = shuniu("up", "--nodes", "12", "--port", "0", "--interval", "0.5", "--duration", "6",
                    env={"SHUNIU_STATE_DIR": str(tmp_path), "REDIS_URL": ""}, timeout_s=240)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "fleet: 12 nodes" in result.stdout
    assert "stack stopped" in result.stderr
    assert not (tmp_path / "stack.json").exists()
    assert (tmp_path / "redis" / "appendonlydir").exists()
