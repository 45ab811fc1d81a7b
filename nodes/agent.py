"""NodeAgent: registers a node, keeps its heartbeat stream open, reconnects after outages."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from shuniu.monitoring import metrics
from shuniu.nodes.probes import RttProbe
from shuniu.nodes.product_verifier import ProductVerifier
from shuniu.protos.v1 import common_pb2, nodes_pb2, nodes_pb2_grpc

log = logging.getLogger("shuniu.agent")


class AgentStopped(Exception):
    """The control plane told this agent to stop for good (fenced or deregistered)."""


@dataclass(frozen=True)
class NodeSpec:
    node_id: str
    site: str
    compute_class: int
    capacity: common_pb2.Capacity
    price_card: common_pb2.PriceCard = field(default_factory=common_pb2.PriceCard)
    labels: dict[str, str] = field(default_factory=dict)
    compute_center: str = ""
    probe_address: str = ""
    # Raw Ed25519 public key of the node's usage-signing key (security.signing), registered with the node.
    usage_public_key: bytes = b""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter between reconnect attempts."""

    initial_s: float = 0.2
    max_s: float = 5.0

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.max_s, self.initial_s * (2 ** min(attempt, 16))))


@dataclass
class AgentStats:
    registrations: int = 0
    heartbeats_sent: int = 0
    heartbeats_acked: int = 0
    reconnects: int = 0
    epoch: int = 0
    state: int = 0
    last_error: str = ""
    # Why the control plane told this agent to stop for good (fenced, deregistered, refused).
    stopped_for: str = ""


class NodeAgent:
    """One node's agent. `run()` returns only when stopped or when told to stop for good."""

    def __init__(
        self,
        spec: NodeSpec,
        channel: grpc.aio.Channel,
        *,
        load: Callable[[], float],
        probe: RttProbe | None = None,
        rtt_every_s: float = 60.0,
        interval_s: float | None = None,
        ack_every: int = 6,
        backoff: Backoff = Backoff(),
        rng: random.Random | None = None,
        verify_products_every_s: float | None = None,
    ) -> None:
        self.spec = spec
        self.stub = nodes_pb2_grpc.NodeServiceStub(channel)
        self.load = load
        self.probe = probe
        self.rtt_every_s = rtt_every_s
        self.interval_override_s = interval_s
        self.backoff = backoff
        self.ack_every = max(1, ack_every)
        self.rng = rng or random.Random()
        self.stats = AgentStats()
        self._interval_s = interval_s or 5.0
        self._seq = 0
        self._last_rtt_s = -1e18
        # Optional: verify newly registered products whose files this node holds.
        self.product_verifier = (ProductVerifier([spec.node_id], channel, interval_s=verify_products_every_s)
                                 if verify_products_every_s else None)
        site = metrics.agent_site(spec.site)
        self._sent_metric = metrics.AGENT_HEARTBEATS.labels(site)
        self._reconnects_metric = metrics.AGENT_RECONNECTS.labels(site)
        self._shown_state = ""  # the state this agent counts under in shuniu_agent_nodes ("" = not counted)

    def _show_state(self, state: int | None) -> None:
        """Moves this node between the states of shuniu_agent_nodes (None: out of the gauge)."""
        name = "" if state is None else nodes_pb2.NodeState.Name(state).removeprefix("NODE_STATE_").lower()
        if name == self._shown_state:
            return
        site = metrics.agent_site(self.spec.site)
        if self._shown_state:
            metrics.AGENT_NODES.labels(site, self._shown_state).dec()
        if name:
            metrics.AGENT_NODES.labels(site, name).inc()
        self._shown_state = name

    async def run(self, stop: asyncio.Event) -> None:
        verifier = None if self.product_verifier is None else asyncio.create_task(self.product_verifier.run(stop))
        try:
            await self._run(stop)
        finally:
            self._show_state(None)
            if verifier is not None:
                verifier.cancel()
                await asyncio.gather(verifier, return_exceptions=True)

    async def _run(self, stop: asyncio.Event) -> None:
        attempt = 0
        need_register = True
        while not stop.is_set():
            try:
                if need_register:
                    await self._register(stop)
                    need_register = False
                need_register = await self._stream(stop)
                attempt = 0
            except grpc.aio.AioRpcError as err:
                code = err.code()
                self.stats.last_error = f"{code.name}: {err.details()}"
                if code == grpc.StatusCode.FAILED_PRECONDITION:
                    raise AgentStopped(f"node {self.spec.node_id}: {err.details()}") from err
                if code == grpc.StatusCode.NOT_FOUND:
                    raise AgentStopped(f"node {self.spec.node_id} was deregistered: {err.details()}") from err
                if code == grpc.StatusCode.INVALID_ARGUMENT:
                    raise AgentStopped(f"node {self.spec.node_id} refused: {err.details()}") from err
                # UNAVAILABLE and friends: the control plane is restarting or unreachable.
                self.stats.reconnects += 1
                self._reconnects_metric.inc()
                delay = self.backoff.delay_s(attempt, self.rng)
                attempt += 1
                log.info("node %s: %s; retrying in %.2f s", self.spec.node_id, self.stats.last_error, delay)
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except asyncio.TimeoutError:
                    pass

    async def _register(self, stop: asyncio.Event) -> None:
        spec = self.spec
        request = nodes_pb2.RegisterRequest(
            # One id per registration attempt: a retry after a lost answer returns the same epoch.
            request_id=f"register-{spec.node_id}-{uuid.uuid4().hex}",
            node_id=spec.node_id, site=spec.site, compute_class=spec.compute_class,
            capacity=spec.capacity, price_card=spec.price_card, labels=spec.labels,
            probe_address=spec.probe_address, compute_center=spec.compute_center,
            usage_public_key=spec.usage_public_key,
        )
        attempt = 0
        while True:
            try:
                response = await self.stub.Register(request, timeout=10)
                break
            except grpc.aio.AioRpcError as err:
                if err.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise
                self.stats.reconnects += 1
                self._reconnects_metric.inc()
                try:
                    await asyncio.wait_for(stop.wait(), self.backoff.delay_s(attempt, self.rng))
                    return
                except asyncio.TimeoutError:
                    attempt += 1
        self.stats.registrations += 1
        self.stats.epoch = response.epoch
        self.stats.state = response.node.state
        self._show_state(response.node.state)
        if self.interval_override_s is None:
            self._interval_s = response.heartbeat_interval_ms / 1000.0
        log.info("node %s registered at %s, epoch %d", spec.node_id, spec.site, response.epoch)

    async def _heartbeat(self) -> nodes_pb2.HeartbeatRequest:
        load = self.load()
        cap = self.spec.capacity
        hb = nodes_pb2.HeartbeatRequest(
            node_id=self.spec.node_id, epoch=self.stats.epoch, seq=self._seq, sent_unix_ms=int(time.time() * 1000),
            load=load, running_jobs=0,
            free=common_pb2.Capacity(cpu_milli=int(cap.cpu_milli * max(0.0, 1.0 - load)),
                                     memory_mb=cap.memory_mb, gpu=cap.gpu),
        )
        self._seq += 1
        now = time.monotonic()
        if self.probe is not None and now - self._last_rtt_s >= self.rtt_every_s:
            self._last_rtt_s = now
            for site, rtt_ms in (await self.probe.measure()).items():
                hb.rtts.add(site=site, rtt_ms=rtt_ms)
        return hb

    async def _stream(self, stop: asyncio.Event) -> bool:
        """Holds one heartbeat stream open; returns True when the node must register again.

        The first heartbeat of a stream and every `ack_every`-th one ask for an acknowledgement;
        the control plane also speaks up whenever the node's state or drain flag changes.
        """
        call = self.stub.Heartbeat()
        reader = asyncio.create_task(self._read_acks(call))
        stopping = asyncio.create_task(stop.wait())
        try:
            sent = 0
            while not stop.is_set() and not reader.done():
                started = time.monotonic()
                hb = await self._heartbeat()
                hb.ack_requested = sent % self.ack_every == 0
                try:
                    await call.write(hb)
                except asyncio.InvalidStateError:
                    break  # the stream ended; the reader knows why
                sent += 1
                self.stats.heartbeats_sent += 1
                self._sent_metric.inc()
                await asyncio.wait({reader, stopping}, timeout=max(0.0, self._interval_s - (time.monotonic() - started)),
                                   return_when=asyncio.FIRST_COMPLETED)
            if not reader.done():
                await call.done_writing()
                if stop.is_set():
                    return False
            return await reader
        finally:
            reader.cancel()
            stopping.cancel()
            call.cancel()

    async def _read_acks(self, call: grpc.aio.StreamStreamCall) -> bool:
        """Reads answers until the stream ends; True when the node was marked DOWN."""
        while True:
            ack = await call.read()
            if ack is grpc.aio.EOF:
                await _raise_status(call)
                return False
            self.stats.heartbeats_acked += 1
            self.stats.state = ack.state
            self._show_state(ack.state)
            if ack.state == nodes_pb2.NODE_STATE_DOWN:
                log.info("node %s was marked DOWN; registering again", self.spec.node_id)
                return True


async def _raise_status(call: grpc.aio.StreamStreamCall) -> None:
    """Raises the ended stream's status as AioRpcError, unless it ended OK."""
    code = await call.code()
    if code != grpc.StatusCode.OK:
        raise grpc.aio.AioRpcError(code, grpc.aio.Metadata(), await call.trailing_metadata() or grpc.aio.Metadata(),
                                   await call.details())
