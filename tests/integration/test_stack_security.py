"""`shuniu up` is secure by default: mTLS with the stack's own CA, Ray on loopback only, sandboxes cut off.

One stack for the module (Redis, Ray, control plane, biller, four simulated nodes), stopped after it.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap
import time

import grpc
import pyarrow as pa
import pytest
from local_stack import local_stack
from shuniu.nodes.sandbox import (
    EgressPolicy,
    SandboxLimits,
    SandboxRunner,
    SandboxStatus,
    custom_job,
    sandbox_available,
)

from shuniu.client import Client


def _shuniu(*args: str, state: pathlib.Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SHUNIU_STATE_DIR": str(state), "COLUMNS": "200"}
    for name in ("SHUNIU_TLS_DIR", "SHUNIU_IDENTITY", "SHUNIU_ADDR"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "shuniu.cli", *args], capture_output=True, text=True, timeout=60,
                          env=env, check=False)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    state = tmp_path_factory.mktemp("stack")
    with local_stack(state, nodes=4, duration_s=300, up_within_s=120) as (info, _):
        yield state, info


def test_the_stack_serves_mtls_and_the_cli_uses_the_operator_certificate(stack):
    state, info = stack
    assert info["tls_dir"] == str(state / "ca")
    deadline = time.monotonic() + 30
    while True:
        listed = _shuniu("nodes", "ls", "--json", state=state)
        assert listed.returncode == 0, listed.stderr
        nodes = json.loads(listed.stdout)["nodes"]
        if len(nodes) == 4 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    # The simulated fleet registered under its own certificate (it binds sim-*).
    assert sorted(n["node_id"].split("-")[0] for n in nodes) == ["sim"] * 4
    with Client(info["address"], timeout_s=3, tls=None) as plaintext, pytest.raises(grpc.RpcError) as err:
        next(plaintext.list_nodes())
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_user_without_a_certificate_of_the_stack_ca_gets_a_clear_error(stack):
    state, _ = stack
    result = _shuniu("--identity", "bank-nobody", "nodes", "ls", state=state)
    assert result.returncode != 0
    assert "user-bank-nobody.pem not found" in " ".join(result.stderr.split())


def _ray_pids(ray_root: pathlib.Path) -> set[int]:
    """Processes of this stack's Ray: they carry its token path in their environment."""
    marker = f"RAY_AUTH_TOKEN_PATH={ray_root}/".encode()
    pids = set()
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes():
                    pids.add(int(entry.name))
            except OSError:
                continue
    return pids


def _listeners(pids: set[int]) -> list[tuple[str, int, int]]:
    """(address, port, pid) of every TCP listener of `pids`, read with `ss -ltnp`."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        local = line.split()[3]
        address, _, port = local.rpartition(":")
        for pid in re.findall(r"pid=(\d+)", line):
            if int(pid) in pids:
                found.append((address, int(port), int(pid)))
    return found


LOOPBACK = {"127.0.0.1", "[::ffff:127.0.0.1]", "[::1]"}


def test_ray_listens_on_loopback_only(stack):
    state, info = stack
    listeners = _listeners(_ray_pids(state / "ray"))
    ports = {port for _, port, _ in listeners}
    assert int(info["ray"].rsplit(":", 1)[1]) in ports, listeners
    assert [l for l in listeners if l[0] not in LOOPBACK] == []


@pytest.mark.skipif(not sandbox_available(), reason="bubblewrap cannot run here")
def test_a_sandbox_reaches_neither_ray_nor_redis(stack):
    state, info = stack
    ports = sorted({port for _, port, _ in _listeners(_ray_pids(state / "ray"))}
                   | {int(info["redis_url"].rsplit(":", 1)[1].split("/")[0])})
    code = textwrap.dedent(f"""
        import pyarrow as pa
        import socket

        def run(table):
            reached = []
            for port in {ports!r}:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        reached.append(port)
                except OSError:
                    pass
            return pa.table({{"reached": [",".join(map(str, reached)) or "none"], "n": [len({ports!r})]}})
    """)
    outcome = SandboxRunner(SandboxLimits(cpu_s=10, wall_timeout_s=20.0)).run(
        custom_job(code), pa.table({"x": list(range(10))}), EgressPolicy(min_group_rows=1, max_rows=10))
    assert outcome.status is SandboxStatus.OK, outcome.reason
    assert outcome.table.column("reached")[0].as_py() == "none"
    assert outcome.table.column("n")[0].as_py() == len(ports) >= 3
