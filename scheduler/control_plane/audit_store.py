"""AuditStore: the hash-chained audit log in Redis, its checkpoints and its lookup index.

Keys (prefix `shuniu:audit:`):
  entries      LIST of serialized AuditEntry; the entry of seq n is at index n - 1
  head         HASH seq, hash (of the newest entry), checkpoint_seq, checkpoint_ms
  checkpoints  LIST of serialized AuditCheckpoint, in seq order
  cursors      HASH source name -> last raw event chained (a stream id, or a list length)
  ref:{id}     LIST of the seqs of entries about a job, grant, batch, product, node or period

Only the chainer writes, each round in one MULTI watched on `head`; the index is derived
data (not hashed) that lets TraceJob and ListEntries by subject avoid a scan.

Retention (scheduler/retention) seals the chain's old, checkpointed prefix into the cold store:
the head's `sealed_seq` says how many entries left the front of `entries` (so the entry of
seq n > sealed_seq is at index n - sealed_seq - 1), and seqs ≤ sealed_seq leave the ref lists
for the cold index. Reads here span both parts; verification walks both, so a changed,
removed or reordered sealed entry breaks the chain as it would in Redis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence

import redis.asyncio as aioredis
from shuniu.protos.v1 import audit_pb2
from shuniu.scheduler.retention.cold import ColdStores
from shuniu.security import audit_chain

_P = "shuniu:audit:"
ENTRIES_KEY = f"{_P}entries"
HEAD_KEY = f"{_P}head"
CHECKPOINTS_KEY = f"{_P}checkpoints"
CURSORS_KEY = audit_chain.AUDIT_CURSORS_KEY
REF_PATTERN = f"{_P}ref:*"
READ_CHUNK = 1000
# Seqs reach the read scripts as Lua numbers (doubles); none stored can be past this, so reads stop here.
_MAX_SEQ = 2**52
# The sealed count and the stored entries read together, so that a seal cannot shift the list between them.
_READ_RANGE = """
local sealed = tonumber(redis.call('HGET', KEYS[1], 'sealed_seq') or '0')
local first, last = math.max(tonumber(ARGV[1]), sealed + 1), tonumber(ARGV[2])
local out = {tostring(sealed)}
if last >= first then
  for _, raw in ipairs(redis.call('LRANGE', KEYS[2], first - sealed - 1, last - sealed - 1)) do out[#out + 1] = raw end
end
return out
"""
_READ_AT = """
local sealed = tonumber(redis.call('HGET', KEYS[1], 'sealed_seq') or '0')
local out = {tostring(sealed)}
for i, seq in ipairs(ARGV) do
  local n = tonumber(seq)
  out[i + 1] = n > sealed and redis.call('LINDEX', KEYS[2], n - sealed - 1) or ''
end
return out
"""


def ref_key(ref: str) -> str:
    return f"{_P}ref:{ref}"


class AuditStore:
    def __init__(self, client: aioredis.Redis, cold: ColdStores | None = None) -> None:
        self.redis = client
        self.cold = cold if cold is not None else ColdStores(client)
        self._read_range = client.register_script(_READ_RANGE)
        self._read_at = client.register_script(_READ_AT)

    async def head_seq(self) -> int:
        return int(await self.redis.hget(HEAD_KEY, "seq") or 0)

    async def entries(self, from_seq: int, count: int) -> list[audit_pb2.AuditEntry]:
        """Up to `count` entries as stored from the position of `from_seq` on (sealed ones by seq)."""
        first = max(1, from_seq)
        if first > _MAX_SEQ:
            return []
        last = min(first + count - 1, _MAX_SEQ)
        sealed, *hot = await self._read_range(keys=[HEAD_KEY, ENTRIES_KEY], args=[first, last])
        sealed = int(sealed)
        raws = hot
        if first <= sealed:
            cold = await self.cold.audit()
            sealed_part = await self.cold.run(cold.entries, first, min(sealed, last)) if cold else []
            raws = sealed_part + hot
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
        """Entries about `ref`, by seq, as their seqs point to them (the sealed ones' in the cold index)."""
        seqs = {int(s) for s in await self.redis.lrange(ref_key(ref), 0, -1)}
        cold = await self.cold.audit()
        if cold is not None:
            seqs.update(await self.cold.run(cold.refs, ref))
        return await self.entries_at(sorted(seqs))

    async def entries_at(self, seqs: Sequence[int]) -> list[audit_pb2.AuditEntry]:
        """The stored entries of these seqs (ascending), from the sealed part or Redis."""
        found: list[bytes] = []
        seqs = [seq for seq in seqs if 0 < seq <= _MAX_SEQ]
        for start in range(0, len(seqs), READ_CHUNK):
            chunk = seqs[start:start + READ_CHUNK]
            sealed, *hot = await self._read_at(keys=[HEAD_KEY, ENTRIES_KEY], args=chunk)
            old = [seq for seq in chunk if seq <= int(sealed)]
            cold = await self.cold.audit() if old else None
            found += (await self.cold.run(cold.entries_at, old) if cold else []) + [r for r in hot if r]
        return [audit_pb2.AuditEntry.FromString(r) for r in found]

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
