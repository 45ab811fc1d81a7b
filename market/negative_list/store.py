"""NegativeListStore: the negative list (负面清单) in Redis.

Keys: `shuniu:negative-list`, a hash entry_id -> NegativeListEntry bytes; `shuniu:events:negative-list`,
a stream of changes (entry_id, change "add" or "remove", entry bytes on "add", actor, unix_ms) written in
the same transaction as the change, for the audit log.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from shuniu.protos.v1 import negative_list_pb2
from shuniu.security.caller import current_actor

NEGATIVE_LIST_KEY = "shuniu:negative-list"
NEGATIVE_LIST_EVENTS_KEY = "shuniu:events:negative-list"
_EVENTS_MAXLEN = 100_000


class NegativeListStore:
    """Reads the entries in force; writes are queued on a transaction by `queue_entry_write`/`queue_entry_delete`."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def entries(self) -> list[negative_list_pb2.NegativeListEntry]:
        """Every entry in force, by entry id."""
        raw = await self.redis.hgetall(NEGATIVE_LIST_KEY)
        return sorted((negative_list_pb2.NegativeListEntry.FromString(v) for v in raw.values()), key=lambda e: e.entry_id)

    async def get(self, entry_id: str) -> negative_list_pb2.NegativeListEntry | None:
        raw = await self.redis.hget(NEGATIVE_LIST_KEY, entry_id)
        return None if raw is None else negative_list_pb2.NegativeListEntry.FromString(raw)


def queue_entry_write(pipe: aioredis.client.Pipeline, entry: negative_list_pb2.NegativeListEntry) -> None:
    assert entry.entry_id, "an entry needs its id before it is stored"
    raw = entry.SerializeToString(deterministic=True)
    pipe.hset(NEGATIVE_LIST_KEY, entry.entry_id, raw)
    _queue_event(pipe, {"entry_id": entry.entry_id, "change": "add", "entry": raw})


def queue_entry_delete(pipe: aioredis.client.Pipeline, entry_id: str) -> None:
    pipe.hdel(NEGATIVE_LIST_KEY, entry_id)
    _queue_event(pipe, {"entry_id": entry_id, "change": "remove"})


def _queue_event(pipe: aioredis.client.Pipeline, fields: dict) -> None:
    fields.update(actor=current_actor(), unix_ms=int(time.time() * 1000))
    pipe.xadd(NEGATIVE_LIST_EVENTS_KEY, fields, maxlen=_EVENTS_MAXLEN, approximate=True)
