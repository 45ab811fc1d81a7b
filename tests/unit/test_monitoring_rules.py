"""Alert rules and the dashboard: promtool checks and tests the rules; every expression names defined metrics."""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

from shuniu.monitoring import collectors, metrics

MONITORING = pathlib.Path(__file__).resolve().parents[2] / "monitoring"
_SUFFIXES = ("_bucket", "_count", "_sum", "_created")


def _promtool(*args: str) -> subprocess.CompletedProcess:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: Debian's prometheus package provides it (./dev installs it)"
    return subprocess.run([promtool, *args], cwd=MONITORING, capture_output=True, text=True, timeout=60)


def test_promtool_accepts_the_alert_rules():
    result = _promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_every_alert_pass():
    result = _promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def _rules() -> list[dict]:
    return [r for g in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"] for r in g["rules"]]


def test_every_alert_has_a_case_that_fires_and_one_that_does_not():
    cases = [c for t in yaml.safe_load((MONITORING / "alerts_test.yml").read_text())["tests"]
             for c in t["alert_rule_test"]]
    for rule in _rules():
        mine = [c for c in cases if c["alertname"] == rule["alert"]]
        assert any(c["exp_alerts"] for c in mine), f"{rule['alert']}: no case where it fires"
        assert any(not c["exp_alerts"] for c in mine), f"{rule['alert']}: no case where it stays quiet"


def _defined_names() -> set[str]:
    names = set(collectors.FLEET_METRIC_NAMES) | set(collectors.BILLING_METRIC_NAMES) | set(collectors.JOBS_METRIC_NAMES)
    names |= set(collectors.AUDIT_METRIC_NAMES)
    for registry in metrics.REGISTRIES.values():
        for collector in set(registry._names_to_collectors.values()):
            for family in collector.describe():
                names.add(family.name + ("_total" if family.type == "counter" else ""))
    return names


def _named_metrics(expr: str) -> set[str]:
    found = set()
    for name in re.findall(r"\bshuniu_[a-z0-9_]+", expr):
        for suffix in _SUFFIXES:
            name = name.removesuffix(suffix) if name.endswith(suffix) and name != suffix else name
        found.add(name)
    return found


def _dashboard_exprs() -> list[str]:
    board = json.loads((MONITORING / "dashboard.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    exprs += [v.get("query", {}).get("query", "") if isinstance(v.get("query"), dict) else v.get("query", "")
              for v in board.get("templating", {}).get("list", [])]
    return exprs


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_expressions_name_only_metrics_defined_in_monitoring(source):
    exprs = [r["expr"] for r in _rules()] if source == "alerts" else _dashboard_exprs()
    assert exprs
    defined = _defined_names()
    unknown = {n for e in exprs for n in _named_metrics(e)} - defined
    assert not unknown, f"{source} names metrics that monitoring/metrics.py does not define: {sorted(unknown)}"


def test_the_name_check_catches_an_unknown_metric():
    assert _named_metrics('rate(shuniu_nope_total[5m]) + shuniu_queue_wait_seconds_bucket') == {
        "shuniu_nope_total", "shuniu_queue_wait_seconds"}
    assert "shuniu_nope_total" not in _defined_names()
