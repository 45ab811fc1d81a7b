"""NegativeListStore: the negative list (负面清单) in Redis.

Key: `shuniu:negative-list`, a hash entry_id -> NegativeListEntry bytes.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from shuniu.protos.v1 import negative_list_pb2

NEGATIVE_LIST_KEY = "shuniu:negative-list"


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
    pipe.hset(NEGATIVE_LIST_KEY, entry.entry_id, entry.SerializeToString(deterministic=True))


def queue_entry_delete(pipe: aioredis.client.Pipeline, entry_id: str) -> None:
    pipe.hdel(NEGATIVE_LIST_KEY, entry_id)
