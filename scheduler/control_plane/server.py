"""The control plane process: gRPC server, health and reflection, and the liveness loop."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import time

import grpc
import redis.asyncio as aioredis
import redis.exceptions
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from shuniu.monitoring import collectors, exporter, metrics
from shuniu.nodes import topology
from shuniu.protos.v1 import nodes_pb2, nodes_pb2_grpc
from shuniu.scheduler.background import stop_if_cancelled
from shuniu.scheduler.control_plane.auth_interceptor import AuthInterceptor, OwnerLookup
from shuniu.scheduler.control_plane.config import ControlPlaneConfig
from shuniu.scheduler.control_plane.fleet import Fleet
from shuniu.scheduler.control_plane.fleet_metrics import fleet_snapshot
from shuniu.scheduler.control_plane.node_service import NodeService, _now_ms
from shuniu.scheduler.control_plane.node_store import NodeStore
from shuniu.scheduler.control_plane.services import bindings
from shuniu.scheduler.retention.cold import ColdStores
from shuniu.security import tls

log = logging.getLogger("shuniu.control_plane")
_LIVE_WRITE_SLICE = 500

_SERVER_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
]


class ControlPlane:
    """Owns the server and the loops; `start()` loads the fleet from Redis before serving."""

    def __init__(self, config: ControlPlaneConfig) -> None:
        self.config = config
        self.redis = aioredis.Redis.from_url(config.redis_url, socket_timeout=10, health_check_interval=30)
        self.store = NodeStore(self.redis, config.request_id_ttl_s)
        self.cold = ColdStores(self.redis)  # the one set of cold files (retention) its readers share
        self.fleet = Fleet(config.liveness)
        self.matrix = topology.RttMatrix()
        self.service = NodeService(self.store, self.fleet, self.matrix, config)
        self.health = health.aio.HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.port: int | None = None
        self._loop_task: asyncio.Task | None = None
        self.jobs = None
        self.metrics_server = None
        self.metrics_port: int | None = None
        self.bindings: list = []

    async def start(self) -> int:
        from shuniu.scheduler.jobs.runtime import JobRuntime  # noqa: PLC0415  (the job layer imports placement)

        await self.redis.ping()
        await self._load()
        self.jobs = JobRuntime(self)
        await self.jobs.start()
        interceptors = [AuthInterceptor(OwnerLookup(self.redis, self.cold))] if self.config.tls_dir else []
        self.server = grpc.aio.server(options=_SERVER_OPTIONS, interceptors=interceptors)
        nodes_pb2_grpc.add_NodeServiceServicer_to_server(self.service, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        extra = self.bindings = bindings(self)
        for binding in extra:
            binding.add(binding.servicer, self.server)
        names = (nodes_pb2.DESCRIPTOR.services_by_name["NodeService"].full_name,
                 health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME,
                 *(b.full_name for b in extra))
        reflection.enable_server_reflection(names, self.server)
        if self.config.tls_dir:
            self.port = self.server.add_secure_port(self.config.listen, tls.server_credentials(self.config.tls_dir))
        else:
            self.port = self.server.add_insecure_port(self.config.listen)
        if self.port == 0:
            raise RuntimeError(f"cannot listen on {self.config.listen}")
        await self.server.start()
        for name in ("", names[0], *(b.full_name for b in extra)):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._loop_task = asyncio.create_task(self._liveness_loop(), name="liveness")
        if self.config.metrics_port:
            self._serve_metrics()
        log.info("control plane serving on port %d with %d nodes", self.port, len(self.fleet))
        return self.port

    def _serve_metrics(self) -> None:
        """Prometheus /metrics on loopback; the fleet's series are computed on each scrape."""
        if self.metrics_server is None:
            metrics.CONTROL_PLANE.register(collectors.FleetCollector(lambda: fleet_snapshot(self)))
        self.metrics_server, self.metrics_port = exporter.serve_metrics(metrics.CONTROL_PLANE, self.config.metrics_port)
        log.info("metrics on 127.0.0.1:%d/metrics", self.metrics_port)

    async def _load(self) -> None:
        nodes, rtts = await self.store.load_all()
        grace = self.config.liveness
        # Known nodes get restart_grace_s to reconnect before they can turn SUSPECT.
        last_seen = time.monotonic() + max(0.0, grace.restart_grace_s - grace.suspect_after_s)
        for node in nodes:
            self.fleet.upsert(node, last_seen)
        for pair, rtt_ms in rtts.items():
            a, b = pair.split("|")
            if a in topology.site_ids() and b in topology.site_ids():
                self.matrix.observe(a, b, rtt_ms)

    async def flush(self) -> None:
        """Sweeps liveness, then writes changed records and live data to Redis."""
        service = self.service
        started = time.perf_counter()
        async with service.lock:
            transitions = self.fleet.sweep(time.monotonic())
            for t in transitions:
                metrics.NODE_TRANSITIONS.labels(nodes_pb2.NodeState.Name(t.new_state).removeprefix("NODE_STATE_").lower()).inc()
            service.pending_transitions.extend(transitions)
            service.changed.update(t.node_id for t in transitions)
            changed = [self.fleet.snapshot(self.fleet.slots[n]) for n in service.changed if n in self.fleet.slots]
            pending = service.pending_transitions
            service.changed, service.pending_transitions = set(), []
            try:
                await self.store.save_records(changed, pending, _now_ms())
            except redis.exceptions.RedisError:
                service.changed.update(n.node_id for n in changed)
                service.pending_transitions = pending + service.pending_transitions
                raise
        for t in transitions:
            log.info("node %s %s -> %s", t.node_id, nodes_pb2.NodeState.Name(t.old_state),
                     nodes_pb2.NodeState.Name(t.new_state))
        down = {t.node_id for t in transitions if t.new_state == nodes_pb2.NODE_STATE_DOWN}
        if down and self.jobs is not None:
            async with self.jobs.scheduler.lock:
                await self.jobs.scheduler.nodes_down(down)
        node_ids, rows = self.fleet.take_dirty_live()
        rtt_pairs, service.dirty_rtts = service.dirty_rtts, set()
        rtts = {f"{a}|{b}": self.matrix.rtt_ms(a, b) for a, b in rtt_pairs}
        # In slices, so that encoding a large write never holds the event loop (and every
        # heartbeat stream) for long.
        for start in range(0, max(1, len(node_ids)), _LIVE_WRITE_SLICE):
            end = start + _LIVE_WRITE_SLICE
            try:
                await self.store.save_live(node_ids[start:end], rows[start:end], rtts if start == 0 else {})
            except redis.exceptions.RedisError:
                for node_id in node_ids[start:]:
                    slot = self.fleet.slots.get(node_id)
                    if slot is not None:
                        self.fleet.dirty.add(slot)
                if start == 0:
                    service.dirty_rtts |= rtt_pairs
                raise
        metrics.FLEET_FLUSH.observe(time.perf_counter() - started)

    async def _liveness_loop(self) -> None:
        while True:
            stop_if_cancelled()
            await asyncio.sleep(self.config.flush_interval_s)
            try:
                await self.flush()
            except redis.exceptions.RedisError as err:
                log.warning("flush to Redis failed, will retry: %s", err)

    async def stop(self, grace_s: float = 2.0) -> None:
        if self.jobs is not None:
            await self.jobs.stop()
        for binding in self.bindings:  # servicers with work of their own (the audit chainer) stop it here
            close = getattr(binding.servicer, "aclose", None)
            if close is not None:
                await close()
        if self._loop_task is not None:
            self._loop_task.cancel()
            try:
                await self._loop_task
            except asyncio.CancelledError:
                pass
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
        await self.health.enter_graceful_shutdown()
        if self.server is not None:
            await self.server.stop(grace_s)
        try:
            await self.flush()
        except redis.exceptions.RedisError as err:
            log.warning("final flush failed: %s", err)
        self.cold.close()
        await self.redis.aclose()


async def serve(config: ControlPlaneConfig) -> None:
    """Runs until SIGTERM or SIGINT, then stops cleanly."""
    plane = ControlPlane(config)
    await plane.start()
    # Thousands of open streams make a large heap; a full collection of it stalls every stream
    # for hundreds of ms. Long-lived objects are frozen out of collection and young
    # collections run less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"control plane listening on 127.0.0.1:{plane.port}" if config.listen.startswith("127.0.0.1")
          else f"control plane listening on {config.listen} (port {plane.port})", flush=True)
    await stop.wait()
    await plane.stop()
