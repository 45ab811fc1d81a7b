"""NodeStore: the fleet's system of record in Redis.

Keys (prefix `shuniu:`):
  node:{id}        the Node record (protobuf bytes): registration, state, draining, epoch
  nodes            set of registered node ids
  node-epoch:{id}  last epoch handed out; never deleted, so a removed node's old agents stay fenced
  nodes:live       hash id -> packed LiveStatus, written in batches from heartbeats
  rtt              hash "a|b" -> measured median round-trip time (ms)
  req:{id}         idempotency record of a mutating request: fingerprint and response bytes
  events:nodes     stream of state changes, for the scheduler and the audit log
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import redis.asyncio as aioredis

from shuniu.protos.v1 import nodes_pb2
from shuniu.security.caller import current_actor
from shuniu.scheduler.control_plane.fleet import LIVE_DTYPE, LiveStatus, Transition
from shuniu.scheduler.control_plane.idempotency import Plan, run_idempotent

_P = "shuniu:"
_EVENTS_MAXLEN = 100_000


def node_key(node_id: str) -> str:
    return f"{_P}node:{node_id}"


def epoch_key(node_id: str) -> str:
    return f"{_P}node-epoch:{node_id}"


class NodeStore:
    def __init__(self, client: aioredis.Redis, request_id_ttl_s: int) -> None:
        self.redis = client
        self.request_id_ttl_s = request_id_ttl_s

    async def idempotent(self, request_id: str, fp: bytes, watch: Iterable[str], plan: Plan) -> tuple[bytes, bool]:
        """Runs `plan` once per request id (see `idempotency.run_idempotent`)."""
        return await run_idempotent(self.redis, request_id, fp, watch, plan, self.request_id_ttl_s)

    async def load_all(self) -> tuple[list[nodes_pb2.Node], dict[str, float]]:
        """Every registered node with its last live status, and the measured RTT medians."""
        ids = sorted(i.decode() for i in await self.redis.smembers(f"{_P}nodes"))
        nodes: list[nodes_pb2.Node] = []
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            async with self.redis.pipeline(transaction=False) as pipe:
                for node_id in chunk:
                    pipe.get(node_key(node_id))
                pipe.hmget(f"{_P}nodes:live", chunk)
                *records, lives = await pipe.execute()
            for raw, live in zip(records, lives):
                if raw is None:
                    continue
                node = nodes_pb2.Node.FromString(raw)
                if live is not None:
                    _apply_live(node, _unpack_live(live))
                nodes.append(node)
        rtts = {k.decode(): float(v) for k, v in (await self.redis.hgetall(f"{_P}rtt")).items()}
        return nodes, rtts

    async def save_records(self, nodes: list[nodes_pb2.Node], transitions: list[Transition], now_ms: int) -> None:
        """Writes changed records and appends their state changes to the event stream, in one transaction."""
        if not nodes:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            for node in nodes:
                pipe.set(node_key(node.node_id), node.SerializeToString())
            for t in transitions:
                pipe.xadd(
                    f"{_P}events:nodes",
                    {"node_id": t.node_id, "from": nodes_pb2.NodeState.Name(t.old_state),
                     "to": nodes_pb2.NodeState.Name(t.new_state), "unix_ms": now_ms, "actor": current_actor()},
                    maxlen=_EVENTS_MAXLEN, approximate=True,
                )
            await pipe.execute()

    async def save_live(self, node_ids: list[str], rows: np.ndarray, rtts: dict[str, float]) -> None:
        """Writes live statuses (LIVE_DTYPE rows, one per node id) and measured RTT medians."""
        if not node_ids and not rtts:
            return
        raw, size = rows.tobytes(), LIVE_DTYPE.itemsize
        async with self.redis.pipeline(transaction=False) as pipe:
            if node_ids:
                pipe.hset(f"{_P}nodes:live", mapping={n: raw[i * size:(i + 1) * size] for i, n in enumerate(node_ids)})
            if rtts:
                pipe.hset(f"{_P}rtt", mapping={k: repr(v) for k, v in rtts.items()})
            await pipe.execute()


def queue_node_write(pipe: aioredis.client.Pipeline, node: nodes_pb2.Node) -> None:
    pipe.set(node_key(node.node_id), node.SerializeToString())
    pipe.sadd(f"{_P}nodes", node.node_id)
    pipe.set(epoch_key(node.node_id), node.epoch)


def queue_node_delete(pipe: aioredis.client.Pipeline, node_id: str) -> None:
    pipe.delete(node_key(node_id))
    pipe.srem(f"{_P}nodes", node_id)
    pipe.hdel(f"{_P}nodes:live", node_id)


def queue_event(pipe: aioredis.client.Pipeline, node_id: str, event: str, now_ms: int) -> None:
    pipe.xadd(f"{_P}events:nodes", {"node_id": node_id, "event": event, "unix_ms": now_ms, "actor": current_actor()},
              maxlen=_EVENTS_MAXLEN, approximate=True)


def _unpack_live(raw: bytes) -> LiveStatus:
    row = np.frombuffer(raw, dtype=LIVE_DTYPE)[0]
    return LiveStatus(*(row[name].item() for name in LIVE_DTYPE.names))


def _apply_live(node: nodes_pb2.Node, s: LiveStatus) -> None:
    if s.last_heartbeat_unix_ms < node.last_heartbeat_unix_ms:
        return
    node.last_heartbeat_unix_ms = s.last_heartbeat_unix_ms
    node.free.cpu_milli, node.free.memory_mb, node.free.gpu = s.free_cpu_milli, s.free_memory_mb, s.free_gpu
    node.load = s.load
    node.running_jobs = s.running_jobs
