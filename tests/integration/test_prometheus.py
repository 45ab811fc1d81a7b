"""A real control plane and biller serve /metrics; Debian's prometheus scrapes them on loopback."""

from __future__ import annotations

import urllib.request

import pytest
from conftest import AgentThread
from prometheus_client.parser import text_string_to_metric_families

from shuniu.client import Client
from shuniu.monitoring.prometheus_server import PrometheusServer
from shuniu.protos.v1 import common_pb2
from shuniu.stack import ManagedProcess, free_port

_CAPACITY = common_pb2.Capacity(cpu_milli=8000, memory_mb=16384)


def _scrape(port: int) -> dict[tuple, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture
def stack(redis_url, tmp_path):
    """A control plane and a biller, each serving /metrics on a loopback port."""
    grpc_port, plane_metrics, biller_metrics = free_port(), free_port(), free_port()
    address = f"127.0.0.1:{grpc_port}"
    procs = [ManagedProcess("control-plane", ["control-plane", "--listen", address, "--redis-url", redis_url,
                                              "--interval", "0.2", "--suspect-after", "1", "--down-after", "2",
                                              "--restart-grace", "2", "--metrics-port", str(plane_metrics)],
                            tmp_path / "logs").start(),
             ManagedProcess("biller", ["biller", "--redis-url", redis_url, "--metrics-port", str(biller_metrics), "--keep-stream"],
                            tmp_path / "logs").start()]
    try:
        with Client(address, timeout_s=2) as client:
            procs[0].wait_for(client.serving, timeout_s=30, what="serving")
        yield address, plane_metrics, biller_metrics, procs
    finally:
        for proc in procs:
            proc.stop()


def test_control_plane_and_biller_serve_their_series(stack, eventually):
    address, plane_port, biller_port, procs = stack
    with AgentThread(address, "n-zz-1", "zhengzhou", _CAPACITY):
        ready = ("shuniu_nodes", (("class", "general"), ("site", "zhengzhou"), ("state", "ready")))
        samples = eventually(lambda: (s := _scrape(plane_port)).get(ready) == 1 and s, what="node ready in /metrics")
        assert samples[("shuniu_capacity_cpu_cores", (("class", "general"), ("kind", "capacity"), ("site", "zhengzhou")))] == 8
        assert samples[("shuniu_pool_nodes", (("site", "zhengzhou"), ("tier", "T1")))] == 1
        assert samples[("shuniu_heartbeat_silence_max_seconds", (("site", "zhengzhou"),))] < 2
        assert eventually(lambda: _scrape(plane_port)[("shuniu_heartbeats_total", ())] >= 3, what="heartbeats counted")
        assert not any(name.startswith("shuniu_usage") for name, _ in samples)  # the biller's, not the plane's
    procs[1].wait_for(lambda: _try_scrape(biller_port), what="biller metrics")
    billing = _scrape(biller_port)
    assert billing[("shuniu_ledger_imbalance_fen", ())] == 0
    assert billing[("shuniu_billing_lag_seconds", ())] == 0
    # The node's registration is an event; the control plane's audit chainer chains it within a poll.
    assert billing[("shuniu_events_total", (("kind", "nodes"),))] >= 1
    assert billing[("shuniu_events_total", (("kind", "vouchers"),))] == 0
    chained = eventually(lambda: (s := _scrape(biller_port))[("shuniu_audit_entries_total", ())] >= 1 and s,
                         what="the registration chained into the audit log")
    assert all(v < 10 for (name, _), v in chained.items() if name == "shuniu_audit_lag_seconds")


def _try_scrape(port: int):
    try:
        return _scrape(port)
    except OSError:
        return None


def test_prometheus_scrapes_the_series_with_sane_values(stack, tmp_path, eventually):
    address, plane_port, biller_port, procs = stack
    procs[1].wait_for(lambda: _try_scrape(biller_port), what="biller metrics")
    server = PrometheusServer(tmp_path / "prometheus", {"control-plane": f"127.0.0.1:{plane_port}",
                                                       "biller": f"127.0.0.1:{biller_port}"}, interval_s=1).start()
    try:
        with AgentThread(address, "n-ly-1", "luoyang", _CAPACITY):
            def ready_nodes():
                result = server.query('sum(shuniu_nodes{state="ready"})')
                return result and float(result[0]["value"][1]) == 1
            eventually(ready_nodes, timeout_s=30, what="prometheus sees one ready node")
            eventually(lambda: {r["metric"]["job"]: r["value"][1] for r in server.query("up")}
                       == {"control-plane": "1", "biller": "1"}, timeout_s=15, what="both targets up")
            assert server.query('shuniu_ledger_imbalance_fen')[0]["value"][1] == "0"
            free = server.query('shuniu_pool_cpu_cores{site="luoyang", tier="T1", kind="free"}')
            assert 0 <= float(free[0]["value"][1]) <= 8
            series = server.query('count({__name__=~"shuniu_.+"})')
            assert int(series[0]["value"][1]) > 50
    finally:
        server.stop()


def test_up_with_prometheus_scrapes_the_local_stack(tmp_path, eventually):
    import json
    import os
    import subprocess
    import sys

    from shuniu.monitoring.prometheus_server import query

    env = {**os.environ, "SHUNIU_STATE_DIR": str(tmp_path), "REDIS_URL": ""}
    proc = subprocess.Popen([sys.executable, "-m", "shuniu.cli", "up", "--nodes", "6", "--port", "0", "--interval", "0.5",
                             "--duration", "40", "--prometheus"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        stack = eventually(lambda: (tmp_path / "stack.json").exists() and json.loads((tmp_path / "stack.json").read_text()),
                           timeout_s=60, what="stack up")

        def nodes_seen():
            result = query(stack["prometheus"], "sum(shuniu_nodes)")
            return result and float(result[0]["value"][1]) == 6
        eventually(nodes_seen, timeout_s=40, interval_s=0.5, what="prometheus sees the simulated fleet")

        def agents_seen():  # the node side's /metrics (the fleet process, summing the Ray workers' files)
            result = query(stack["prometheus"], 'sum(shuniu_agent_nodes{state="ready"})')
            return result and float(result[0]["value"][1]) == 6
        eventually(agents_seen, timeout_s=40, interval_s=0.5, what="prometheus sees the node side's series")

        def all_targets_up():  # the biller serves /metrics only after loading Numba: seconds on a busy machine
            return {r["metric"]["job"] for r in query(stack["prometheus"], "up == 1")} == {"control-plane", "biller", "node"}
        eventually(all_targets_up, timeout_s=40, interval_s=0.5, what="every component's /metrics is up")
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=60)
    assert "stack stopped" in stderr.decode()
