"""Import direction of the design's layout table, checked on every module's source."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

# folder -> the shuniu packages its modules may import (besides their own)
ALLOWED = {
    "protos": set(),
    "monitoring": set(),
    # security: certificates, roles, signatures and the audit chain's pure rules, used by every side
    "security": {"shuniu.protos"},
    "nodes": {"shuniu.protos", "shuniu.monitoring", "shuniu.security"},
    "market": {"shuniu.protos", "shuniu.monitoring", "shuniu.security"},
    "scheduler": {"shuniu.protos", "shuniu.market", "shuniu.monitoring", "shuniu.security",
                  # nodes: types, pure topology and the Ray naming of nodes; never the agent or the sandbox
                  "shuniu.nodes.topology", "shuniu.nodes.sites", "shuniu.nodes.ray_node"},
}


def _imports(path: pathlib.Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name == "shuniu" or name.startswith("shuniu.")]


def _allowed(folder: str, name: str) -> bool:
    own = f"shuniu.{folder}"
    if name == own or name.startswith(own + "."):
        return True
    for prefix in ALLOWED[folder]:
        if name == prefix or name.startswith(prefix + "."):
            return True
        # `from shuniu.nodes import topology` names the package, then the allowed module
        if prefix.startswith(name + "."):
            return True
    return False


def _violations(folder: str) -> list[str]:
    out = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        imports = _imports(path)
        names = {n for _, n in imports}
        for line, name in imports:
            if _allowed(folder, name):
                continue
            # `from shuniu.nodes import topology` yields both "shuniu.nodes" and "shuniu.nodes.topology":
            # the package name alone is fine when every imported member is allowed.
            if any(n.startswith(name + ".") for n in names) and all(
                _allowed(folder, n) for n in names if n.startswith(name + ".")
            ):
                continue
            out.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return out


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_folder_imports_only_what_the_layout_allows(folder):
    assert _violations(folder) == []


def test_the_check_catches_a_forbidden_import(tmp_path, monkeypatch):
    (tmp_path / "market").mkdir()
    (tmp_path / "market" / "bad.py").write_text("from shuniu.scheduler import control_plane\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    assert _violations("market") == ["market/bad.py:1 imports shuniu.scheduler",
                                      "market/bad.py:1 imports shuniu.scheduler.control_plane"]


def test_every_test_module_has_a_basename_of_its_own():
    """pytest imports test modules by basename (rootdir-relative, no packages): two files of one name
    in tests/unit and tests/integration stop the whole collection."""
    tests = pathlib.Path(__file__).resolve().parents[1]
    seen: dict[str, list[str]] = {}
    for path in tests.rglob("test_*.py"):
        seen.setdefault(path.name, []).append(str(path.relative_to(tests)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}
