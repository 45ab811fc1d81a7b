"""`shuniu bench metrics` runs end to end at a small size and reports in the common shape."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def test_metrics_bench_reports_overhead_per_hot_path_beside_the_metrics_off_baseline():
    result = subprocess.run(
        [sys.executable, "-m", "shuniu.cli", "bench", "metrics", "--nodes", "2000", "--heartbeats", "2000",
         "--jobs", "50", "--batches", "2", "--batch-records", "200", "--rounds", "1", "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["benchmark"] == "metrics" and report["params"]["rounds"] == 1
    figures = {f["name"]: f for f in report["figures"]}
    for path, per in (("heartbeat handling", "heartbeat"), ("placement", "decision"),
                      ("billing (rate, split, post)", "batch")):
        overhead = figures[f"{path}: overhead of metric updates"]
        assert overhead["unit"] == "%" and overhead["goal"] == "< 5 %" and overhead["met"] in (True, False)
        timed = figures[f"{path}: time per {per}, metrics on (baseline: off)"]
        assert timed["unit"] == "µs" and timed["value"] > 0 and timed["baseline"] > 0
        assert timed["ratio"] == round(timed["value"] / timed["baseline"], 3)
        assert overhead["value"] == pytest.approx((timed["ratio"] - 1) * 100, abs=0.1)  # one round: the same pair
