"""AuditStore: the hash-chained audit log in Redis, its checkpoints and its lookup index.

Keys (prefix `shuniu:audit:`):
  entries      LIST of serialized AuditEntry; the entry of seq n is at index n - 1
  head         HASH seq, hash (of the newest entry), checkpoint_seq, checkpoint_ms
  checkpoints  LIST of serialized AuditCheckpoint, in seq order
  cursors      HASH source name -> last raw event chained (a stream id, or a list length)
  ref:{id}     LIST of the seqs of entries about a job, grant, batch, product, node or period

Only the chainer writes, each round in one MULTI watched on `head`; the index is derived
data (not hashed) that lets TraceJob and ListEntries by subject avoid a scan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence

import redis.asyncio as aioredis
from shuniu.protos.v1 import audit_pb2
from shuniu.security import audit_chain

_P = "shuniu:audit:"
ENTRIES_KEY = f"{_P}entries"
HEAD_KEY = f"{_P}head"
CHECKPOINTS_KEY = f"{_P}checkpoints"
CURSORS_KEY = audit_chain.AUDIT_CURSORS_KEY
READ_CHUNK = 1000


def ref_key(ref: str) -> str:
    return f"{_P}ref:{ref}"


class AuditStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    async def head_seq(self) -> int:
        return int(await self.redis.hget(HEAD_KEY, "seq") or 0)

    async def entries(self, from_seq: int, count: int) -> list[audit_pb2.AuditEntry]:
        """Up to `count` entries as stored from the position of `from_seq` on."""
        start = max(1, from_seq) - 1
        raws = await self.redis.lrange(ENTRIES_KEY, start, start + count - 1)
        return [audit_pb2.AuditEntry.FromString(r) for r in raws]

    async def walk(self, from_seq: int, to_seq: int) -> AsyncIterator[list[audit_pb2.AuditEntry]]:
        """Stored entries between the positions of from_seq and to_seq (inclusive; 0 = the end), a chunk at a time."""
        position = max(1, from_seq)
        while not to_seq or position <= to_seq:
            count = min(READ_CHUNK, to_seq - position + 1) if to_seq else READ_CHUNK
            page = await self.entries(position, count)
            if not page:
                return
            yield page
            position += len(page)

    async def entries_by_ref(self, ref: str) -> list[audit_pb2.AuditEntry]:
        """Entries about `ref`, by seq, as their seqs point to them."""
        seqs = sorted({int(s) for s in await self.redis.lrange(ref_key(ref), 0, -1)})
        return await self.entries_at(seqs)

    async def entries_at(self, seqs: Sequence[int]) -> list[audit_pb2.AuditEntry]:
        found = []
        for start in range(0, len(seqs), READ_CHUNK):
            async with self.redis.pipeline(transaction=False) as pipe:
                for seq in seqs[start:start + READ_CHUNK]:
                    pipe.lindex(ENTRIES_KEY, seq - 1)
                found += [audit_pb2.AuditEntry.FromString(r) for r in await pipe.execute() if r is not None]
        return found

    async def checkpoints(self) -> list[audit_pb2.AuditCheckpoint]:
        return [audit_pb2.AuditCheckpoint.FromString(r) for r in await self.redis.lrange(CHECKPOINTS_KEY, 0, -1)]

    async def verify(self, public_keys: Mapping[str, bytes], from_seq: int = 0, to_seq: int = 0) -> audit_chain.ChainVerdict:
        """Recomputes the chain over [from_seq, to_seq] (0 = start, end) and checks the checkpoints within."""
        first = max(1, from_seq)
        prev_hash = audit_chain.GENESIS
        if first > 1:
            (before,) = await self.entries(first - 1, 1) or [None]
            prev_hash = before.hash if before is not None else b""
        head = await self.head_seq()
        last = to_seq or head
        checkpoints = [c for c in await self.checkpoints() if first <= c.seq <= last]
        walk = audit_chain.ChainWalk(first, prev_hash, keep_hashes=(c.seq for c in checkpoints))
        async for page in self.walk(first, last):  # entries past the head were never chained
            walk.feed(page)
            if walk.settled:
                break
        return walk.verdict(checkpoints, public_keys, head_seq=last)
