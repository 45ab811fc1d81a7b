"""The chainer: one task of the control plane that turns raw events into the hash-chained audit log.

A state change and its raw event commit together (in the store's own transaction); the
chainer then reads each source after its cursor, numbers and links the drafts, and writes
the entries, the head, the index and the new cursors in one MULTI watched on the head. A
chainer killed at any point has either written a round whole or not at all, so a restart
neither loses nor duplicates an entry; two control planes on one Redis cannot interleave.
At every `checkpoint_every`-th entry past the last checkpoint, or at the round's last entry once
`checkpoint_interval_s` passed since the last one, the round also appends a checkpoint signed with
the exchange's key.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
import redis.exceptions
from redis.exceptions import WatchError
from shuniu.market.analyses.store import ANALYSIS_EVENTS_KEY
from shuniu.market.catalog.certificate_store import CERTIFICATE_EVENTS_KEY
from shuniu.market.credit import CREDIT_EVENTS_KEY
from shuniu.market.grants import GRANT_EVENTS_KEY
from shuniu.market.ledger import ledger_key
from shuniu.market.negative_list.store import NEGATIVE_LIST_EVENTS_KEY
from shuniu.market.public_data.store import FEE_EVENTS_KEY
from shuniu.market.settlement.close import SETTLEMENT_EVENTS_KEY
from shuniu.market.vouchers.store import VOUCHER_EVENTS_KEY
from shuniu.protos.usage_schema import DEAD_LETTER_STREAM, USAGE_STREAM
from shuniu.protos.v1 import audit_pb2
from shuniu.scheduler.control_plane import audit_events as ev
from shuniu.scheduler.control_plane.audit_store import (
    CHECKPOINTS_KEY,
    CURSORS_KEY,
    ENTRIES_KEY,
    HEAD_KEY,
    ref_key,
)
from shuniu.scheduler.background import stop_if_cancelled
from shuniu.scheduler.control_plane.catalog_service import PRODUCT_EVENTS_KEY
from shuniu.scheduler.jobs.store import EVENTS_KEY as JOB_EVENTS_KEY
from shuniu.security import audit_chain, signing

log = logging.getLogger("shuniu.audit")
LEDGER_ORDER_KEY = ledger_key("order")


@dataclass(frozen=True)
class Source:
    """A place raw events are written atomically with their changes: a stream, or the ledger's commit order."""

    name: str
    key: str
    mapper: ev.StreamMapper | None  # None: the ledger's list of posted batch ids
    count: int  # raw events read per round


SOURCES: tuple[Source, ...] = (
    Source("nodes", "shuniu:events:nodes", ev.node_drafts, 500),
    Source("products", PRODUCT_EVENTS_KEY, ev.product_drafts, 500),
    Source("certificates", CERTIFICATE_EVENTS_KEY, ev.certificate_drafts, 500),
    Source("negative_list", NEGATIVE_LIST_EVENTS_KEY, ev.negative_list_drafts, 500),
    Source("grants", GRANT_EVENTS_KEY, ev.grant_drafts, 500),
    Source("jobs", JOB_EVENTS_KEY, ev.job_drafts, 500),
    Source("usage", USAGE_STREAM, ev.usage_drafts, 16),  # entries carry Arrow IPC: fewer per round
    Source("usage_dead", DEAD_LETTER_STREAM, ev.dead_letter_drafts, 100),
    Source("postings", LEDGER_ORDER_KEY, None, 500),
    Source("settlement", SETTLEMENT_EVENTS_KEY, ev.settlement_drafts, 100),
    Source("fees", FEE_EVENTS_KEY, ev.fee_schedule_drafts, 100),
    Source("vouchers", VOUCHER_EVENTS_KEY, ev.voucher_drafts, 500),
    Source("credit", CREDIT_EVENTS_KEY, ev.credit_drafts, 500),
    Source("analyses", ANALYSIS_EVENTS_KEY, ev.analysis_drafts, 500),
)


def state_dir() -> str:
    """The control plane's state directory: $SHUNIU_STATE_DIR, else .shuniu (as the local stack's)."""
    return os.environ.get("SHUNIU_STATE_DIR", ".shuniu")


def _stream_ms(entry_id: bytes) -> int:
    return int(entry_id.split(b"-")[0])


_BACKLOG = 500  # entries in one round that mean more are waiting


class AuditChainer:
    """Chains what the sources hold; `step()` for one round, `run()` until cancelled."""

    def __init__(self, client: aioredis.Redis, key: signing.SigningKey, *, checkpoint_every: int = 1000,
                 checkpoint_interval_s: float = 60.0, poll_s: float = 0.2, sources: Sequence[Source] = SOURCES) -> None:
        assert checkpoint_every >= 1 and checkpoint_interval_s > 0 and poll_s > 0
        self.redis = client
        self.key = key
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval_ms = int(checkpoint_interval_s * 1000)
        self.poll_s = poll_s
        self.sources = tuple(sources)

    async def run(self) -> None:
        while True:
            stop_if_cancelled()
            try:
                # Only a backlog is chained round after round; a few events wait a poll for more, so a
                # busy exchange pays for one round per poll, not one per event.
                if await self.step() >= _BACKLOG:
                    continue
            except redis.exceptions.RedisError as err:
                log.warning("audit chainer: Redis failed, will retry: %s", err)
            await asyncio.sleep(self.poll_s)

    async def step(self) -> int:
        """One round: chain what the sources hold past their cursors; return how many entries were appended."""
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(HEAD_KEY)
                    return await self._round(pipe)
                except WatchError:
                    continue  # another chainer wrote a round: read the head again

    async def _round(self, pipe: aioredis.client.Pipeline) -> int:
        head = await pipe.hgetall(HEAD_KEY)
        cursors = {k.decode(): v.decode() for k, v in (await pipe.hgetall(CURSORS_KEY)).items()}
        drafts, moved = await self._collect(pipe, cursors)
        seq, prev_hash = int(head.get(b"seq", 0)), head.get(b"hash", audit_chain.GENESIS)
        now_ms = int(time.time() * 1000)
        checkpoint_seq, checkpoint_ms = int(head.get(b"checkpoint_seq", 0)), int(head.get(b"checkpoint_ms", 0))
        entries: list[tuple[bytes, tuple[str, ...], int]] = []
        checkpoints: list[audit_pb2.AuditCheckpoint] = []
        for draft in drafts:
            seq += 1
            entry = draft.entry()
            entry.seq = seq
            audit_chain.link(prev_hash, entry)
            prev_hash = entry.hash
            entries.append((entry.SerializeToString(deterministic=True), draft.refs, seq))
            if seq - checkpoint_seq >= self.checkpoint_every:
                checkpoints.append(audit_chain.sign_checkpoint(self.key, seq, prev_hash, now_ms))
                checkpoint_seq = seq
        if seq > checkpoint_seq and not checkpoints and now_ms - checkpoint_ms >= self.checkpoint_interval_ms:
            checkpoints.append(audit_chain.sign_checkpoint(self.key, seq, prev_hash, now_ms))
        if not entries and not moved and not checkpoints:
            await pipe.unwatch()
            return 0
        pipe.multi()
        if entries:
            pipe.rpush(ENTRIES_KEY, *(raw for raw, _, _ in entries))
            for _, refs, entry_seq in entries:
                for ref in dict.fromkeys(r for r in refs if r):
                    pipe.rpush(ref_key(ref), entry_seq)
            pipe.hset(HEAD_KEY, mapping={"seq": seq, "hash": prev_hash})
        if moved:  # a raw event may map to no entry; its cursor still moves
            pipe.hset(CURSORS_KEY, mapping=moved)
        if checkpoints:
            pipe.rpush(CHECKPOINTS_KEY, *(c.SerializeToString(deterministic=True) for c in checkpoints))
            pipe.hset(HEAD_KEY, mapping={"checkpoint_seq": checkpoints[-1].seq, "checkpoint_ms": now_ms})
        await pipe.execute()
        return len(entries)

    async def _collect(self, pipe, cursors: dict[str, str]) -> tuple[list[ev.Draft], dict[str, str]]:
        """Drafts of every source's new raw events, merged by time (each source in its own order), and new cursors."""
        per_source: list[list[tuple[int, int, list[ev.Draft]]]] = []
        moved: dict[str, str] = {}
        for index, source in enumerate(self.sources):
            cursor = cursors.get(source.name, "")
            if source.mapper is None:
                found, new_cursor = await self._read_postings(pipe, source, cursor)
            else:
                found, new_cursor = await self._read_stream(pipe, source, cursor)
            if new_cursor != cursor:
                moved[source.name] = new_cursor
            per_source.append([(ms, index, drafts) for ms, drafts in found])
        merged = heapq.merge(*per_source, key=lambda item: (item[0], item[1]))
        return [draft for _, _, drafts in merged for draft in drafts], moved

    async def _read_stream(self, pipe, source: Source, cursor: str) -> tuple[list[tuple[int, list[ev.Draft]]], str]:
        raw = await pipe.xrange(source.key, min=f"({cursor}" if cursor else "-", max="+", count=source.count)
        found = []
        for entry_id, fields in raw:
            at_ms = _stream_ms(entry_id)
            found.append((at_ms, source.mapper({k.decode(): v for k, v in fields.items()}, at_ms)))
        return found, (raw[-1][0].decode() if raw else cursor)

    async def _read_postings(self, pipe, source: Source, cursor: str) -> tuple[list[tuple[int, list[ev.Draft]]], str]:
        start = int(cursor or 0)
        batch_ids = await pipe.lrange(source.key, start, start + source.count - 1)
        if not batch_ids:
            return [], cursor
        summaries = await pipe.hmget(ledger_key("batches"), batch_ids)
        now_ms = int(time.time() * 1000)
        found = []
        for batch_id, raw in zip(batch_ids, summaries):
            summary = json.loads(raw) if raw else {}
            drafts = ev.posting_drafts(batch_id.decode(), summary, now_ms)
            found.append((drafts[0].recorded_unix_ms, drafts))
        return found, str(start + len(batch_ids))


def exchange_key() -> signing.SigningKey:
    """The exchange's checkpoint-signing key in the state directory (created on first start)."""
    return signing.load_or_create(signing.exchange_key_path(state_dir()))
