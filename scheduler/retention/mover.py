"""Retention: what is finished and older than the window leaves Redis for the cold store, durably and once.

Like Nomad's job GC or Kubernetes' TTL-after-finished, a terminal job whose end is older than
`retention_s` is moved: its record, released output and submit's idempotency record go to
`jobs.sqlite` and its index entries, keys and record leave Redis. Every move follows one rule:
the cold write commits (fsync) before the Redis delete, and the delete is one MULTI. A mover
killed between the two leaves the thing on both sides; readers look at Redis first and list a
job once, and the next pass (of this or a restarted control plane) writes the same bytes
again and deletes. Nothing is lost, nothing is counted twice.

Each pass also
- seals the audit chain up to the newest checkpoint signed before the window: the entries go to
  `audit.sqlite` and leave the front of `shuniu:audit:entries`; `sealed_seq` in the head says
  where Redis starts (audit_store.py reads across both); ref lists follow their entries;
- moves the rated lines of ledger batches posted before the window (market/ledger/cold.py);
- trims the event streams that only the audit chainer reads behind its cursor (and the window).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
import redis.exceptions
from redis.exceptions import WatchError
from shuniu.market.ledger import ledger_key
from shuniu.protos.v1 import audit_pb2, jobs_pb2
from shuniu.scheduler.background import stop_if_cancelled
from shuniu.scheduler.control_plane.audit_chainer import SOURCES
from shuniu.scheduler.control_plane.audit_store import (
    CHECKPOINTS_KEY,
    CURSORS_KEY,
    ENTRIES_KEY,
    HEAD_KEY,
    REF_PATTERN,
)
from shuniu.scheduler.control_plane.idempotency import request_key
from shuniu.scheduler.jobs import lifecycle
from shuniu.scheduler.jobs.store import OPEN_KEY, index_key, job_key
from shuniu.scheduler.retention.cold import ColdStores, JobRow

log = logging.getLogger("shuniu.retention")
CURSOR_KEY = "shuniu:retention:cursors"  # how far the ledger's commit order has been looked at
_CHAIN_ONLY_STREAMS = tuple(s for s in SOURCES if s.mapper is not None and s.name not in ("usage", "usage_dead"))
_SEAL_CHUNK = 5000  # audit entries sealed per pass at most
_POP_SEALED = """
local sealed, popped = tonumber(ARGV[1]), 0
for _, key in ipairs(KEYS) do
  while true do
    local first = redis.call('LINDEX', key, 0)
    if not first or tonumber(first) > sealed then break end
    redis.call('LPOP', key)
    popped = popped + 1
  end
end
return popped
"""


@dataclass
class PassReport:
    """What one pass moved, by kind (counts of jobs, entries, seqs, batches and stream entries)."""

    jobs: int = 0
    audit_entries: int = 0
    refs: int = 0
    ledger_lines: int = 0
    stream_entries: int = 0


class Retention:
    """Moves what is older than `retention_s` out of Redis; `step()` is one pass, `run()` passes until cancelled."""

    def __init__(self, client: aioredis.Redis, cold: ColdStores, retention_s: float, batch: int = 500) -> None:
        assert retention_s > 0 and batch > 0
        self.redis, self.cold = client, cold
        self.retention_ms = int(retention_s * 1000)
        self.every_s = max(0.5, min(30.0, retention_s / 4))
        self.batch = batch
        self._pop_sealed = client.register_script(_POP_SEALED)

    async def run(self) -> None:
        while True:
            stop_if_cancelled()
            try:
                report = await self.step()
                if any(vars(report).values()):
                    log.info("retention moved %s", vars(report))
            except (redis.exceptions.RedisError, sqlite3.Error, OSError) as err:
                log.warning("retention pass failed, will retry: %s", err)
            await asyncio.sleep(self.every_s)

    async def step(self, now_ms: int | None = None) -> PassReport:
        cutoff_ms = (now_ms or time.time_ns() // 1_000_000) - self.retention_ms
        report = PassReport()
        report.jobs = await self.move_jobs(cutoff_ms)
        report.audit_entries = await self.seal_audit(cutoff_ms)
        report.refs = await self.move_refs()
        report.ledger_lines = await self.move_ledger_lines(cutoff_ms)
        report.stream_entries = await self.trim_streams(cutoff_ms)
        return report

    # ---- jobs ----------------------------------------------------------------------------------

    async def _movable(self, cutoff_ms: int) -> list[tuple[jobs_pb2.Job, bytes]]:
        """Up to `batch` terminal jobs that ended before the cutoff, with their stored bytes, oldest first."""
        found: list[tuple[jobs_pb2.Job, bytes]] = []
        offset = 0
        while len(found) < self.batch:
            ids = await self.redis.zrangebyscore(index_key(None), "-inf", cutoff_ms, start=offset, num=self.batch)
            if not ids:
                break
            offset += len(ids)
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.smismember(OPEN_KEY, ids)
                pipe.mget([job_key(i.decode()) for i in ids])
                open_flags, raws = await pipe.execute()
            for is_open, raw in zip(open_flags, raws):
                if is_open or raw is None:
                    continue
                job = jobs_pb2.Job.FromString(raw)
                if job.state in lifecycle.TERMINAL and job.finished_unix_ms <= cutoff_ms:
                    found.append((job, raw))
        return found[:self.batch]

    async def move_jobs(self, cutoff_ms: int) -> int:
        movable = await self._movable(cutoff_ms)
        if not movable:
            return 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for job, _ in movable:
                if job.result.result_ref:
                    pipe.get(job.result.result_ref)
                else:
                    pipe.echo(b"")  # keeps the replies two per job
                pipe.hmget(request_key(job.request_id), "fp", "resp")
            replies = await pipe.execute()
        rows: list[JobRow] = []
        for (job, raw), result, (fp, resp) in zip(movable, replies[0::2], replies[1::2]):
            rows.append((job.job_id, job.submitted_unix_ms, job.buyer_id, job.spec.grant_id, raw,
                         result if job.result.result_ref else None, job.request_id, fp, resp))
        cold = await self.cold.jobs(create=True)
        await self.cold.run(cold.put_many, rows)  # durable before anything leaves Redis
        return await self._delete_jobs([job for job, _ in movable], {job.job_id: raw for job, raw in movable})

    async def _delete_jobs(self, jobs: list[jobs_pb2.Job], stored: dict[str, bytes]) -> int:
        """Deletes the moved jobs' keys in one MULTI, watched so that a record changed since is kept."""
        keys = [job_key(j.job_id) for j in jobs]
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(*keys)
                now = await pipe.mget(keys)
                same = [j for j, raw in zip(jobs, now) if raw == stored[j.job_id]]
                pipe.multi()
                for job in same:
                    pipe.delete(job_key(job.job_id), *([request_key(job.request_id)] if job.request_id else []),
                                *([job.result.result_ref] if job.result.result_ref else []))
                    pipe.zrem(index_key(None), job.job_id)
                    pipe.zrem(index_key(("buyer", job.buyer_id)), job.job_id)
                    pipe.zrem(index_key(("grant", job.spec.grant_id)), job.job_id)
                await pipe.execute()
            except WatchError:
                return 0  # the next pass moves them (the cold rows are written again, the same)
        return len(same)

    # ---- the audit chain -----------------------------------------------------------------------

    async def seal_audit(self, cutoff_ms: int) -> int:
        """Moves entries up to the newest checkpoint signed before the cutoff to the cold store."""
        sealed = int(await self.redis.hget(HEAD_KEY, "sealed_seq") or 0)
        checkpoints = [audit_pb2.AuditCheckpoint.FromString(r) for r in await self.redis.lrange(CHECKPOINTS_KEY, 0, -1)]
        target = max((c.seq for c in checkpoints if c.signed_unix_ms <= cutoff_ms), default=0)
        target = min(target, sealed + _SEAL_CHUNK)
        if target <= sealed:
            return 0
        raws = await self.redis.lrange(ENTRIES_KEY, 0, target - sealed - 1)
        seqs = [audit_pb2.AuditEntry.FromString(r).seq for r in raws]
        if seqs != list(range(sealed + 1, target + 1)):
            # What Redis holds is not the run it should be: seal nothing, and let verification say what is wrong.
            log.error("audit entries %d..%d are not stored in seq order; not sealing them", sealed + 1, target)
            return 0
        cold = await self.cold.audit(create=True)
        await self.cold.run(cold.put_entries, list(zip(seqs, raws)))
        for _ in range(20):  # the chainer writes the head every round: retry a lost race at once
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(HEAD_KEY)
                    if int(await pipe.hget(HEAD_KEY, "sealed_seq") or 0) != sealed:
                        return 0  # another control plane sealed meanwhile
                    pipe.multi()
                    pipe.ltrim(ENTRIES_KEY, target - sealed, -1)
                    pipe.hset(HEAD_KEY, "sealed_seq", target)
                    await pipe.execute()
                    return target - sealed
                except WatchError:
                    continue
        return 0

    async def move_refs(self) -> int:
        """Moves the seqs of sealed entries from the per-subject ref lists to the cold store."""
        sealed = int(await self.redis.hget(HEAD_KEY, "sealed_seq") or 0)
        if not sealed:
            return 0
        keys = [k async for k in self.redis.scan_iter(match=REF_PATTERN, count=1000)]
        moved = 0
        for start in range(0, len(keys), self.batch):
            chunk = keys[start:start + self.batch]
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in chunk:
                    pipe.lindex(key, 0)
                firsts = await pipe.execute()
            due = [k for k, first in zip(chunk, firsts) if first is not None and int(first) <= sealed]
            if not due:
                continue
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in due:
                    pipe.lrange(key, 0, -1)
                lists = await pipe.execute()
            prefix = len(REF_PATTERN) - 1
            rows = [(key.decode()[prefix:], int(s)) for key, seqs in zip(due, lists) for s in seqs if int(s) <= sealed]
            cold = await self.cold.audit(create=True)
            await self.cold.run(cold.put_refs, rows)
            moved += int(await self._pop_sealed(keys=due, args=[sealed]))
        return moved

    # ---- the ledger's rated lines and the chainer's streams ------------------------------------

    async def move_ledger_lines(self, cutoff_ms: int) -> int:
        """Moves the rated lines of batches posted before the cutoff, following the ledger's commit order."""
        done = int(await self.redis.hget(CURSOR_KEY, "ledger_lines") or 0)
        batch_ids = await self.redis.lrange(ledger_key("order"), done, done + self.batch - 1)
        if not batch_ids:
            return 0
        summaries = await self.redis.hmget(ledger_key("batches"), batch_ids)
        old = []
        for batch_id, summary in zip(batch_ids, summaries):
            if summary is None or json.loads(summary).get("posted_unix_ms", 0) > cutoff_ms:
                break  # commit order is posting order: the rest is newer
            old.append(batch_id.decode())
        if not old:
            return 0
        lines = await self.redis.mget([ledger_key(f"lines:{b}") for b in old])
        rows = [(b, raw) for b, raw in zip(old, lines) if raw is not None]
        if rows:
            cold = await self.cold.ledger(create=True)
            await self.cold.run(cold.put_lines, rows)
        async with self.redis.pipeline(transaction=True) as pipe:
            if rows:
                pipe.delete(*(ledger_key(f"lines:{b}") for b, _ in rows))
            pipe.hset(CURSOR_KEY, "ledger_lines", done + len(old))
            await pipe.execute()
        return len(rows)

    async def trim_streams(self, cutoff_ms: int) -> int:
        """Trims each stream only the audit chainer reads behind its cursor and the window."""
        cursors = await self.redis.hgetall(CURSORS_KEY)
        trimmed = 0
        for source in _CHAIN_ONLY_STREAMS:
            cursor = cursors.get(source.name.encode())
            if not cursor:
                continue
            ms, seq = (int(x) for x in cursor.decode().split("-"))
            floor = min((ms, seq + 1), (cutoff_ms, 0))
            trimmed += int(await self.redis.xtrim(source.key, minid=f"{floor[0]}-{floor[1]}", approximate=False))
        return trimmed
