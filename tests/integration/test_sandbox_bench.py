"""`shuniu bench sandbox` runs end to end at a small size and reports in the common shape."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from shuniu.nodes.sandbox import sandbox_available


@pytest.mark.skipif(not sandbox_available(), reason="bubblewrap cannot run here")
def test_sandbox_bench_reports_startup_stream_and_overhead():
    result = subprocess.run(
        [sys.executable, "-m", "shuniu.cli", "bench", "sandbox", "--jobs", "3", "--pool-size", "1",
         "--stream-rows", "200000", "--egress-rows", "100000", "--answer-jobs", "4", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    figures = {f["name"]: f for f in report["figures"]}
    startup = figures["start-up p99, warm pool"]
    assert startup["unit"] == "ms" and startup["baseline"] > 0 and startup["goal"] == "< 100 ms"
    assert figures["start-up p50, warm pool"]["ratio"] < 1, "a warm sandbox starts faster than a cold one"
    assert figures["rows streamed into a sandbox per second"]["value"] > 0
    overhead = next(f for name, f in figures.items() if name.startswith("aggregate of 200,000 rows"))
    assert overhead["baseline"] > 0 and overhead["ratio"] > 0
    assert figures["egress profile of 1 M identifiers (hashed)"]["value"] > 0
    checks = [f for name, f in figures.items() if name.startswith("check of ")]
    assert len(checks) == 2 and all(f["value"] > 0 and f["baseline"] > 0 for f in checks)
    latency = [f for name, f in figures.items() if name.startswith("verify submit → answer")]
    assert len(latency) == 4 and all(f["unit"] == "ms" and f["value"] > 0 and f["baseline"] > 0 for f in latency)
    assert report["params"] == {"jobs": 3, "pool_size": 1, "stream_rows": 200000, "answer_jobs": 4, "answer_clients": 4}
