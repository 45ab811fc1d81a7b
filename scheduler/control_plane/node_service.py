"""NodeService: registration, heartbeats, drain and the fleet's read views over gRPC."""

from __future__ import annotations

import asyncio
import bisect
import functools
import time
from collections.abc import AsyncIterator

import grpc
import redis.exceptions

from shuniu.monitoring import metrics
from shuniu.nodes import topology
from shuniu.protos.v1 import common_pb2, nodes_pb2, nodes_pb2_grpc
from shuniu.scheduler.control_plane import validate
from shuniu.scheduler.control_plane.config import ControlPlaneConfig
from shuniu.scheduler.control_plane.errors import RequestError, exhausted, failed_precondition, invalid, not_found
from shuniu.scheduler.control_plane.fleet import DOWN, READY, Fleet, Transition
from shuniu.scheduler.control_plane.idempotency import fingerprint
from shuniu.scheduler.control_plane.node_store import (
    NodeStore, epoch_key, node_key, queue_event, queue_node_delete, queue_node_write,
)
from shuniu.scheduler.control_plane.pools import pools_response, topology_response
from shuniu.security.signing import PUBLIC_KEY_BYTES


def _now_ms() -> int:
    return int(time.time() * 1000)


def refusals(handler):
    """Turns RequestError into its gRPC status, and a Redis outage into UNAVAILABLE."""

    @functools.wraps(handler)
    async def wrapper(self, request, context):
        try:
            return await handler(self, request, context)
        except RequestError as err:
            await context.abort(err.code, err.message)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as err:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"store unavailable: {err}; retry with the same request_id")

    return wrapper


class NodeService(nodes_pb2_grpc.NodeServiceServicer):
    def __init__(self, store: NodeStore, fleet: Fleet, matrix: topology.RttMatrix, config: ControlPlaneConfig) -> None:
        self.store = store
        self.fleet = fleet
        self.matrix = matrix
        self.config = config
        # Serialises every write of node records (RPCs and the liveness sweep) so that the
        # record in Redis is always the latest one in memory.
        self.lock = asyncio.Lock()
        self.changed: set[str] = set()
        self.pending_transitions: list[Transition] = []
        self.dirty_rtts: set[tuple[str, str]] = set()
        self._site_ids = frozenset(topology.site_ids())
        self._interval_ms = int(config.liveness.heartbeat_interval_s * 1000)
        self.heartbeats = 0  # applied heartbeats, read by the metrics collector at scrape time

    # -- mutations ---------------------------------------------------------------------------

    @refusals
    async def Register(self, request: nodes_pb2.RegisterRequest, context) -> nodes_pb2.RegisterResponse:
        validate.register(request)
        if request.usage_public_key and len(request.usage_public_key) != PUBLIC_KEY_BYTES:
            raise invalid(f"usage_public_key is {len(request.usage_public_key)} bytes; expected a raw "
                          f"{PUBLIC_KEY_BYTES}-byte Ed25519 public key, or none")
        node_id = request.node_id
        now_ms = _now_ms()

        async def plan(pipe):
            prior_epoch = int(await pipe.get(epoch_key(node_id)) or 0)
            prior = self.fleet.record(node_id)
            if prior is None and len(self.fleet) >= self.config.max_nodes:
                raise exhausted(f"fleet holds {len(self.fleet)} nodes, the limit; deregister nodes first")
            node = nodes_pb2.Node(
                node_id=node_id, site=request.site, compute_class=request.compute_class,
                capacity=request.capacity, free=request.capacity, price_card=request.price_card,
                labels=request.labels, state=READY, draining=prior.draining if prior else False,
                epoch=prior_epoch + 1, registered_unix_ms=now_ms, last_heartbeat_unix_ms=now_ms,
                probe_address=request.probe_address, compute_center=request.compute_center,
                usage_public_key=request.usage_public_key,
            )
            response = nodes_pb2.RegisterResponse(node=node, epoch=node.epoch, heartbeat_interval_ms=self._interval_ms)

            def writes(p):
                queue_node_write(p, node)
                queue_event(p, node_id, f"registered epoch {node.epoch} at {node.site}", now_ms)

            return writes, response.SerializeToString()

        async with self.lock:
            raw, replayed = await self.store.idempotent(
                request.request_id, fingerprint("Register", request.SerializeToString(deterministic=True)),
                [epoch_key(node_id), node_key(node_id)], plan,
            )
            response = nodes_pb2.RegisterResponse.FromString(raw)
            if not replayed:
                self.fleet.upsert(response.node, time.monotonic())
                self.changed.discard(node_id)
        return response

    async def _set_draining(self, rpc: str, request, draining: bool, event: str) -> nodes_pb2.Node:
        validate.request_id(request.request_id)
        validate.node_id(request.node_id)
        now_ms = _now_ms()

        async def plan(pipe):
            slot = self._slot(request.node_id)
            node = self.fleet.snapshot(slot)
            node.draining = draining

            def writes(p):
                queue_node_write(p, node)
                queue_event(p, node.node_id, event, now_ms)

            return writes, node.SerializeToString()

        async with self.lock:
            raw, replayed = await self.store.idempotent(
                request.request_id, fingerprint(rpc, request.SerializeToString(deterministic=True)),
                [node_key(request.node_id)], plan,
            )
            node = nodes_pb2.Node.FromString(raw)
            slot = self.fleet.slots.get(node.node_id)
            if not replayed and slot is not None:
                self.fleet.draining[slot] = draining
                record = self.fleet.records[slot]
                assert record is not None
                record.draining = draining
        return node

    @refusals
    async def Drain(self, request: nodes_pb2.DrainRequest, context) -> nodes_pb2.DrainResponse:
        return nodes_pb2.DrainResponse(node=await self._set_draining(
            "Drain", request, True, f"drained: {request.reason}" if request.reason else "drained"))

    @refusals
    async def Undrain(self, request: nodes_pb2.UndrainRequest, context) -> nodes_pb2.UndrainResponse:
        return nodes_pb2.UndrainResponse(node=await self._set_draining("Undrain", request, False, "undrained"))

    @refusals
    async def Deregister(self, request: nodes_pb2.DeregisterRequest, context) -> nodes_pb2.DeregisterResponse:
        validate.request_id(request.request_id)
        validate.node_id(request.node_id)
        now_ms = _now_ms()

        async def plan(pipe):
            node = self.fleet.snapshot(self._slot(request.node_id))

            def writes(p):
                queue_node_delete(p, node.node_id)
                queue_event(p, node.node_id, "deregistered", now_ms)

            return writes, nodes_pb2.DeregisterResponse(node=node).SerializeToString()

        async with self.lock:
            raw, replayed = await self.store.idempotent(
                request.request_id, fingerprint("Deregister", request.SerializeToString(deterministic=True)),
                [node_key(request.node_id)], plan,
            )
            response = nodes_pb2.DeregisterResponse.FromString(raw)
            if not replayed and response.node.node_id in self.fleet.slots:
                self.fleet.remove(response.node.node_id)
                self.changed.discard(response.node.node_id)
        return response

    # -- heartbeats --------------------------------------------------------------------------

    def _slot(self, node_id: str) -> int:
        slot = self.fleet.slots.get(node_id)
        if slot is None:
            raise not_found(f"node {node_id!r} is not registered; call Register first")
        return slot

    def _accept(self, hb: nodes_pb2.HeartbeatRequest) -> nodes_pb2.HeartbeatResponse:
        """Applies one heartbeat; one in HEARTBEAT_SAMPLE_EVERY is timed for the metrics."""
        self.heartbeats += 1
        if self.heartbeats % metrics.HEARTBEAT_SAMPLE_EVERY:
            return self._apply(hb)
        started = time.perf_counter()
        response = self._apply(hb)
        metrics.HEARTBEAT_HANDLING.observe(time.perf_counter() - started)
        if hb.sent_unix_ms:
            metrics.HEARTBEAT_TRANSIT.observe(max(0.0, response.server_unix_ms - hb.sent_unix_ms) / 1000)
        return response

    def _apply(self, hb: nodes_pb2.HeartbeatRequest) -> nodes_pb2.HeartbeatResponse:
        """Applies one heartbeat to the fleet; the hot path of the control plane."""
        fleet = self.fleet
        slot = fleet.slots.get(hb.node_id)
        if slot is None:
            validate.node_id(hb.node_id)
            raise not_found(f"node {hb.node_id!r} is not registered; call Register first")
        current = int(fleet.epoch[slot])
        if hb.epoch != current:
            if hb.epoch < current:
                raise failed_precondition(
                    f"epoch {hb.epoch} of node {hb.node_id!r} is fenced by a newer registration (epoch {current}); "
                    "this agent must stop"
                )
            raise failed_precondition(f"epoch {hb.epoch} of node {hb.node_id!r} unknown; current epoch is {current}")
        validate.heartbeat(hb, self._site_ids)
        state = int(fleet.state[slot])
        if state != DOWN:
            transition = fleet.apply_heartbeat(slot, hb, time.monotonic(), _now_ms())
            if transition is not None:
                metrics.NODE_TRANSITIONS.labels("ready").inc()
                self.pending_transitions.append(transition)
                self.changed.add(hb.node_id)
                state = transition.new_state
            if hb.rtts:
                site = fleet.site_order[fleet.site[slot]]
                for sample in hb.rtts:
                    if sample.site != site:
                        self.matrix.observe(site, sample.site, sample.rtt_ms)
                        self.dirty_rtts.add((site, sample.site))
        return nodes_pb2.HeartbeatResponse(
            seq=hb.seq, state=state, draining=bool(fleet.draining[slot]),
            server_unix_ms=_now_ms(), heartbeat_interval_ms=self._interval_ms,
        )

    async def Heartbeat(
        self, request_iterator: AsyncIterator[nodes_pb2.HeartbeatRequest], context
    ) -> AsyncIterator[nodes_pb2.HeartbeatResponse]:
        bound_to: str | None = None
        told: tuple[int, bool] | None = None  # (state, draining) last sent on this stream
        async for hb in request_iterator:
            try:
                if bound_to is not None and hb.node_id != bound_to:
                    raise failed_precondition(
                        f"stream belongs to node {bound_to!r}, got a heartbeat of {hb.node_id!r}; open one stream per node"
                    )
                response = self._accept(hb)
            except RequestError as err:
                await context.abort(err.code, err.message)
                return
            bound_to = hb.node_id
            # Answering every heartbeat would double the per-message cost of the stream; the
            # agent asks for an acknowledgement now and then, and hears of every change.
            if hb.ack_requested or told != (response.state, response.draining) or response.state == DOWN:
                told = (response.state, response.draining)
                yield response
            if response.state == DOWN:
                # A DOWN node rejoins only by registering again (a new epoch).
                return

    @refusals
    async def HeartbeatOnce(self, request: nodes_pb2.HeartbeatOnceRequest, context) -> nodes_pb2.HeartbeatOnceResponse:
        return nodes_pb2.HeartbeatOnceResponse(ack=self._accept(request.heartbeat))

    # -- reads -------------------------------------------------------------------------------

    @refusals
    async def GetNode(self, request: nodes_pb2.GetNodeRequest, context) -> nodes_pb2.GetNodeResponse:
        validate.node_id(request.node_id)
        return nodes_pb2.GetNodeResponse(node=self.fleet.snapshot(self._slot(request.node_id)))

    @refusals
    async def ListNodes(self, request: nodes_pb2.ListNodesRequest, context) -> nodes_pb2.ListNodesResponse:
        fleet = self.fleet
        mask = fleet.used.copy()
        if request.site:
            validate.site(request.site)
            mask &= fleet.site == fleet.site_order.index(request.site)
        if request.compute_class:
            validate.compute_class(request.compute_class)
            mask &= fleet.compute_class == request.compute_class
        if request.state:
            if request.state not in nodes_pb2.NodeState.values():
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"state {request.state} unknown; expected READY (1), SUSPECT (2) or DOWN (3)")
            mask &= fleet.state == request.state
        size = validate.page_size(request.page_size)
        matching = sorted(fleet.records[int(s)].node_id for s in mask.nonzero()[0])  # type: ignore[union-attr]
        start = 0
        if request.page_token:
            start = bisect.bisect_right(matching, request.page_token)
        page = matching[start : start + size]
        more = start + size < len(matching)
        return nodes_pb2.ListNodesResponse(
            nodes=[fleet.snapshot(fleet.slots[n]) for n in page],
            next_page_token=page[-1] if more and page else "",
            total=len(matching),
        )

    @refusals
    async def GetPools(self, request: nodes_pb2.GetPoolsRequest, context) -> nodes_pb2.GetPoolsResponse:
        validate.site(request.anchor_site, "anchor_site")
        tiers = list(request.tiers) or [common_pb2.TIER_T1, common_pb2.TIER_T2, common_pb2.TIER_T3, common_pb2.TIER_T4]
        for tier in tiers:
            if tier not in (1, 2, 3, 4):
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"tier {tier} unknown; expected one of T1, T2, T3, T4")
        return pools_response(request.anchor_site, tiers, self.fleet, self.matrix, self.config.tiers)

    @refusals
    async def GetTopology(self, request: nodes_pb2.GetTopologyRequest, context) -> nodes_pb2.GetTopologyResponse:
        return topology_response(self.matrix, self.config.tiers)
