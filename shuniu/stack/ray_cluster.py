"""The local stack's Ray: one head on loopback hosting every simulated node.

The head is a `ray start --block` process in its own process group, carrying one custom
resource per Shuniu node it hosts (see nodes/ray_node.py). Token authentication is on, with
the token kept in the cluster's own directory rather than under the home directory.

Extra raylets on the same machine are started with `ray.cluster_utils.Cluster` in the
tests: `ray start --address` refuses to join while Ray is held to loopback, and without
that hold it rewrites 127.0.0.1 to the machine's outward address.
"""

from __future__ import annotations

import os
import pathlib
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterable

from shuniu.nodes.ray_node import RAY_LOOPBACK_ENV, resources_json
from shuniu.stack.redis_server import free_port

_START_TIMEOUT_S = 60.0


def ray_env(root: pathlib.Path) -> dict[str, str]:
    """What every Ray process of this cluster, drivers included, needs in its environment."""
    token = root / "auth_token"
    if not token.exists():
        root.mkdir(parents=True, exist_ok=True)
        token.write_text(secrets.token_hex(32))
        token.chmod(0o600)
    return {**RAY_LOOPBACK_ENV, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token),
            "RAY_USAGE_STATS_ENABLED": "0"}


class _Raylet:
    def __init__(self, name: str, args: list[str], root: pathlib.Path, env: dict[str, str]) -> None:
        self.name = name
        self.log_path = root / f"{name}.log"
        log = open(self.log_path, "ab")
        ray_cli = pathlib.Path(sys.executable).with_name("ray")
        self.proc = subprocess.Popen([str(ray_cli), "start", "--block", *args], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env},
                                     start_new_session=True)
        log.close()

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def started(self) -> bool:
        # `ray start` prints this once its processes are up, then blocks.
        return "Ray runtime started" in self.log_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 5.0) -> None:
        # A graceful `ray start --block` shutdown takes ~35 s here; the group is killed after a short grace.
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class LocalRayCluster:
    """A Ray head on 127.0.0.1 that hosts the given Shuniu nodes."""

    def __init__(self, root: pathlib.Path, num_cpus: int = 2, worker_env: dict[str, str] | None = None) -> None:
        self.root = pathlib.Path(root)
        self.num_cpus = num_cpus
        self.worker_env = dict(worker_env or {})  # for the raylet and its workers only, not for drivers
        self.port = 0
        self.head: _Raylet | None = None
        self.env: dict[str, str] = {}

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, node_ids: Iterable[str] = ()) -> "LocalRayCluster":
        self.root.mkdir(parents=True, exist_ok=True)
        self.env = ray_env(self.root)
        self.port = free_port()
        args = ["--head", "--node-ip-address", "127.0.0.1", "--port", str(self.port),
                "--include-dashboard", "false", "--disable-usage-stats", "--num-cpus", str(self.num_cpus),
                "--ray-client-server-port", str(free_port()), "--resources", resources_json(node_ids)]
        self.head = _Raylet("ray-head", args, self.root, {**self.env, **self.worker_env})
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self.head.started():
            if self.head.proc.poll() is not None:
                raise RuntimeError(f"Ray head exited:\n{self.head.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Ray head not started within {_START_TIMEOUT_S} s:\n{self.head.log_tail()}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.head is not None:
            self.head.stop()
            self.head = None
