"""`shuniu bench soak` for a fraction of a minute: every fault kind injected, nothing lost or doubled."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from shuniu.bench.soak import FAULTS, fault_schedule


@pytest.mark.parametrize("minutes,seed", [(0.4, 1), (5, 7), (30, 3)], ids=["smoke", "5-min", "30-min"])
def test_each_fault_kind_falls_once_per_five_minutes_within_the_first_60_percent(minutes, seed):
    duration_s = minutes * 60
    schedule = fault_schedule(duration_s, seed)
    rounds = max(1, round(duration_s / 300))
    assert sorted(k for _, k in schedule) == sorted(FAULTS * rounds)
    assert all(min(60.0, duration_s * 0.1) <= t <= duration_s * 0.6 for t, _ in schedule)
    assert [t for t, _ in schedule] == sorted(t for t, _ in schedule)
    assert fault_schedule(duration_s, seed) == schedule, "the seed alone decides the schedule"


def test_a_short_soak_with_every_fault_loses_and_doubles_nothing(tmp_path):
    run = subprocess.run([sys.executable, "-m", "shuniu.cli", "bench", "soak", "--minutes", "0.4", "--seed", "2",
                          "--nodes", "12", "--jobs-per-s", "2", "--json"],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False)
    assert run.returncode == 0, run.stderr[-3000:] + run.stdout[-3000:]
    report = json.loads(run.stdout)
    figures = {f["name"]: f for f in report["figures"]}
    assert figures["faults injected (kill -9 and restart)"]["value"] == len(FAULTS)
    assert figures["jobs submitted (answered)"]["value"] > 0
    assert figures["jobs SUCCEEDED"]["value"] > 0 and figures["usage records billed"]["value"] > 0
    assert figures["heartbeats applied per second"]["value"] > 0
    for name in ("lost jobs", "duplicated jobs", "doubled charges", "balances off the reference rater",
                 "lost charges (completed runs uncharged, batches unbilled)", "jobs still open after the drain",
                 "submits refused or never answered"):
        assert figures[name]["value"] == 0, (name, report["params"])
    assert figures["ledger check (debits = credits, balances = postings)"]["met"]
    assert any(name.startswith("RSS growth control-plane") for name in figures)
