"""`shuniu bench heartbeats` runs end to end at a small size and reports in the common shape."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from shuniu.bench.heartbeats import node_driver_available


@pytest.mark.skipif(not node_driver_available(), reason="needs node and `npm install` (./dev test does both)")
def test_heartbeat_bench_reports_figures_beside_the_unary_baseline():
    result = subprocess.run(
        [sys.executable, "-m", "shuniu.cli", "bench", "heartbeats", "--nodes", "40", "--interval", "0.25",
         "--duration", "1", "--senders", "8", "--json"],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    figures = {f["name"]: f for f in report["figures"]}
    held = figures["heartbeats/s held at target"]
    assert held["unit"] == "hb/s" and held["baseline"] > 0 and held["goal"]
    assert held["value"] == pytest.approx(40 / 0.25, rel=0.2)
    assert figures["saturated throughput"]["ratio"] > 1, "a stream carries more heartbeats than unary calls"
    assert report["params"]["driver"] == "node"
