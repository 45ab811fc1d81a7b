"""Every metric monitoring/metrics.py defines is updated by the code that runs, not only defined.

The check reads the source (ast): a metric is live when a module of the running code (not
monitoring/, the benchmarks or the tests) names it through the metrics module, directly or
through a helper of metrics.py that names it (`PLACEMENT_OUTCOMES`, `observe_run_startup`).
"""

from __future__ import annotations

import ast
import pathlib

import pytest
from prometheus_client.metrics import MetricWrapperBase

from shuniu.monitoring import metrics

ROOT = pathlib.Path(__file__).resolve().parents[2]
_LIVE_DIRS = ("scheduler", "market", "nodes", "security", "shuniu")
_NOT_LIVE = ("shuniu/bench",)  # `shuniu bench metrics` repeats the hot paths' updates on purpose
_METRICS_MODULE = "shuniu.monitoring.metrics"
_KNOWN_DEAD: dict[str, str] = {}  # metric -> why nothing updates it yet (an expected failure, strict)


def _names_used(tree: ast.AST) -> set[str]:
    """Names of metrics.py used in one module: `alias.NAME` after importing the module, or imported by name."""
    aliases, used = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "shuniu.monitoring":
            aliases |= {a.asname or a.name for a in node.names if a.name == "metrics"}
        elif isinstance(node, ast.ImportFrom) and node.module == _METRICS_MODULE:
            used |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            aliases |= {a.asname for a in node.names if a.name == _METRICS_MODULE and a.asname}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            used.add(node.attr)
    return used


def _live_names() -> set[str]:
    used: set[str] = set()
    for folder in _LIVE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if ".venv" in relative or relative.startswith(_NOT_LIVE) or "_pb2" in relative:
                continue
            used |= _names_used(ast.parse(path.read_text(), relative))
    return used


def _reached_through() -> dict[str, set[str]]:
    """Top-level name of metrics.py -> the names its definition refers to (helpers reach their metrics)."""
    tree = ast.parse(pathlib.Path(metrics.__file__).read_text())
    found: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        else:
            continue
        refs = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        for name in names:
            found[name] = refs
    return found


def _updated() -> set[str]:
    live, through = _live_names(), _reached_through()
    reached, todo = set(live), list(live)
    while todo:
        for ref in through.get(todo.pop(), ()):
            if ref not in reached:
                reached.add(ref)
                todo.append(ref)
    return reached


_METRICS = sorted(name for name, value in vars(metrics).items() if isinstance(value, MetricWrapperBase))


@pytest.fixture(scope="module")
def updated() -> set[str]:
    return _updated()


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=_KNOWN_DEAD[n])) if n in _KNOWN_DEAD else n
    for n in _METRICS])
def test_every_defined_metric_is_updated_by_running_code(name, updated):
    assert name in updated, f"metrics.{name} is defined but nothing outside monitoring/ updates it"


def test_the_call_site_check_sees_aliases_and_helpers():
    tree = ast.parse("from shuniu.monitoring import metrics as prom\nprom.SANDBOX_KILLS.labels('x').inc()\n"
                     "from shuniu.monitoring.metrics import LEDGER_POST\n")
    assert _names_used(tree) == {"SANDBOX_KILLS", "LEDGER_POST"}
    assert "PLACEMENT_DECISIONS" in _reached_through()["PLACEMENT_OUTCOMES"]
    assert "RUN_STARTUP" in _reached_through()["observe_run_startup"]
