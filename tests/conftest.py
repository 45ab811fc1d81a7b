"""Fixtures that start the real parts once and clean up after: Redis, the control plane."""

from __future__ import annotations

import asyncio
import atexit
import os
import pathlib
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator

import grpc
import pytest
import redis

from shuniu.stack.ray_cluster import ray_env

# Ray reads its environment when it is imported: loopback only, token auth with the token in
# a directory of this session's, never under the home directory.
_RAY_ROOT = pathlib.Path(tempfile.mkdtemp(prefix="shuniu-ray-"))
os.environ.update(ray_env(_RAY_ROOT))
atexit.register(shutil.rmtree, _RAY_ROOT, True)

from shuniu.stack.numba_target import prefer_wide_vectors  # noqa: E402

prefer_wide_vectors()  # the tests run the code Numba compiles for the CLI's processes

from shuniu.client import Client  # noqa: E402
from shuniu.stack import LocalRedis, ManagedProcess, free_port  # noqa: E402


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedis]:
    server = LocalRedis(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: LocalRedis) -> Iterator[str]:
    """A clean database for each test, emptied again after it."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield redis_server.url
    client.flushall()
    client.close()


class ControlPlaneProcess:
    """A real `shuniu control-plane` process on a loopback port."""

    def __init__(self, redis_url: str, log_dir: pathlib.Path, ray_address: str = "", tls_dir: str = "",
                 tls=None, **liveness: float) -> None:
        self.ray_address = ray_address
        # tls_dir: serve with mTLS from that CA directory; tls: the ClientTls that client() and the wait use.
        self.tls_dir, self.tls = tls_dir, tls
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.liveness = {"interval": 0.2, "suspect_after": 1.0, "down_after": 2.0, "restart_grace": 2.0, **liveness}
        self.proc: ManagedProcess | None = None

    def start(self) -> "ControlPlaneProcess":
        args = ["control-plane", "--listen", self.address, "--redis-url", self.redis_url]
        for name, value in self.liveness.items():
            args += [f"--{name.replace('_', '-')}", str(value)]
        if self.ray_address:
            args += ["--ray-address", self.ray_address]
        if self.tls_dir:
            args += ["--tls-dir", self.tls_dir]
        self.proc = ManagedProcess(f"control-plane-{self.port}", args, self.log_dir).start()
        with Client(self.address, timeout_s=2, tls=self.tls) as client:
            self.proc.wait_for(client.serving, timeout_s=30, what="serving")
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def client(self) -> Client:
        return Client(self.address, timeout_s=5, tls=self.tls)


@pytest.fixture
def control_plane_factory(redis_url: str, tmp_path: pathlib.Path) -> Iterator:
    """Starts control planes on demand; every one is stopped after the test."""
    started: list[ControlPlaneProcess] = []

    def start(redis_url: str = redis_url, ray_address: str = "", tls_dir: str = "", tls=None,
              **liveness: float) -> ControlPlaneProcess:
        plane = ControlPlaneProcess(redis_url, tmp_path / "logs", ray_address, tls_dir, tls, **liveness).start()
        started.append(plane)
        return plane

    yield start
    for plane in started:
        plane.stop()


@pytest.fixture
def control_plane(control_plane_factory) -> ControlPlaneProcess:
    return control_plane_factory()


def stored_state(redis_url: str, *, events: bool = True) -> dict[bytes, bytes]:
    """Every key with its value (DUMP): what a refused request must leave unchanged; tests import it.

    Not the audit chain, which the control plane derives from the event streams in the background
    (a refused request would show in those streams); without `events`, not the streams either.
    """
    client = redis.Redis.from_url(redis_url)
    try:
        return {k: client.dump(k) for k in sorted(client.keys("*")) if not k.startswith(b"shuniu:audit:")
                and (events or not k.startswith(b"shuniu:events"))}
    finally:
        client.close()


def _eventually(predicate, timeout_s: float = 10.0, interval_s: float = 0.05, what: str = "condition"):
    """Polls until `predicate()` returns a truthy value, which it returns."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout_s} s")
        time.sleep(interval_s)


@pytest.fixture
def eventually():
    return _eventually


class AgentThread:
    """A real NodeAgent (heartbeats, product verification) in its own thread and event loop; tests import it."""

    def __init__(self, address: str, node_id: str, site: str, capacity, compute_class: int = 1, **spec) -> None:
        from shuniu.nodes.agent import NodeSpec

        self.address, self.spec = address, NodeSpec(node_id, site, compute_class, capacity, **spec)
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        from shuniu.nodes.agent import NodeAgent

        self.loop, self.stop = asyncio.get_running_loop(), asyncio.Event()
        async with grpc.aio.insecure_channel(self.address) as channel:
            self.agent = NodeAgent(self.spec, channel, load=lambda: 0.1, verify_products_every_s=0.1)
            self.ready.set()
            await self.agent.run(self.stop)

    def __enter__(self) -> "AgentThread":
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)
        assert not self.thread.is_alive()


class RayTestCluster:
    """A head and a second raylet on loopback, each hosting two Shuniu nodes, with this process as driver."""

    HOSTED = {"head": ("ray-n1", "ray-n2"), "raylet": ("ray-n3", "ray-n4")}

    def __init__(self) -> None:
        from ray.cluster_utils import Cluster

        from shuniu.nodes.ray_node import UNITS_PER_NODE, node_resource

        def resources(node_ids):
            return {node_resource(n): UNITS_PER_NODE for n in node_ids}

        self.cluster = Cluster(initialize_head=True, head_node_args={
            "node_ip_address": "127.0.0.1", "num_cpus": 2, "include_dashboard": False,
            "resources": resources(self.HOSTED["head"])})
        raylet = self.cluster.add_node(node_ip_address="127.0.0.1", num_cpus=2,
                                       resources=resources(self.HOSTED["raylet"]))
        self.cluster.wait_for_nodes()
        self.address = self.cluster.address
        self.ray_node_ids = {"head": self.cluster.head_node.node_id, "raylet": raylet.node_id}

    def shutdown(self) -> None:
        self.cluster.shutdown()


@pytest.fixture(scope="session")
def ray_cluster(redis_server: LocalRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayTestCluster]:
    """Started once per session, on first use; the test process connects as a driver.

    Its workers run node code: they spool usage under their own state directory and send it
    to the session's Redis.
    """
    import ray

    os.environ["SHUNIU_STATE_DIR"] = str(tmp_path_factory.mktemp("ray-nodes"))
    os.environ["SHUNIU_REDIS_URL"] = redis_server.url
    cluster = RayTestCluster()
    ray.init(address=cluster.address, namespace="shuniu", log_to_driver=False, logging_level="warning")
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def bill_synthetic_usage(client: redis.Redis, market, spool_dir: pathlib.Path, rows: int, prefix: str,
                         batches: int = 3, node: str | None = None):
    """Spools `batches` synthetic usage batches of one node, sends them signed and bills them all with a real
    Biller; returns ({batch id: batch}, the biller) for the test to check against a reference."""
    from shuniu.bench.billing import signed_sender, synthetic_usage
    from shuniu.market.billing import Biller, BillerConfig
    from shuniu.nodes.usage import UsageSpool

    node = node or market.nodes[0]
    spool = UsageSpool(spool_dir, node)
    made = {}
    for seed in range(batches):
        batch = synthetic_usage(market, node, rows, seed=seed, prefix=f"{prefix}{seed}-")
        made[spool.append(batch)] = batch
    assert signed_sender(market, spool, client).send_pending() == batches
    biller = Biller(client, BillerConfig(block_ms=0))
    biller.ensure_group()
    while biller.step(block_ms=0):
        pass
    return made, biller
