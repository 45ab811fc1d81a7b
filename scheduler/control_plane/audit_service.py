"""AuditService: reads and verifies the audit log (全流程可追溯) and tells a job's whole story. Changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import redis.asyncio as aioredis
from shuniu.protos.v1 import audit_pb2, audit_pb2_grpc
from shuniu.scheduler.control_plane import validate
from shuniu.scheduler.control_plane.audit_chainer import AuditChainer, exchange_key
from shuniu.scheduler.control_plane.audit_store import AuditStore
from shuniu.scheduler.control_plane.errors import invalid, not_found
from shuniu.scheduler.control_plane.node_service import refusals
from shuniu.scheduler.jobs.store import JobStore
from shuniu.scheduler.retention.cold import ColdStores

log = logging.getLogger("shuniu.audit")
SCAN_LIMIT = 20_000  # entries one ListEntries call reads at most while filtering; the token says where to go on


def _seq_from(request: audit_pb2.AuditServiceListEntriesRequest) -> int:
    if request.from_seq < 0:
        raise invalid(f"from_seq is {request.from_seq}; expected 0 (the start) or a seq ≥ 1")
    if not request.page_token:
        return max(1, request.from_seq)
    if not request.page_token.isdigit():
        raise invalid(f"page_token {request.page_token!r} is not one this service gave; pass next_page_token as is")
    return int(request.page_token)


def _matches(entry: audit_pb2.AuditEntry, request: audit_pb2.AuditServiceListEntriesRequest) -> bool:
    return ((not request.kind or entry.kind == request.kind) and (not request.actor or entry.actor == request.actor)
            and (not request.subject_id or entry.subject_id == request.subject_id))


class AuditService(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, client: aioredis.Redis, public_keys: dict[str, bytes], cold: ColdStores | None = None) -> None:
        cold = cold if cold is not None else ColdStores(client)
        self.store = AuditStore(client, cold)
        self.jobs = JobStore(client, cold)
        self.redis = client
        self.public_keys = public_keys
        self.chainer_task: asyncio.Task | None = None

    @classmethod
    def with_chainer(cls, client: aioredis.Redis, retention_s: float = 0.0, cold: ColdStores | None = None) -> AuditService:
        """The servicer, and the control plane's one chainer task started beside it on the running loop.

        With retention, checkpoints are signed at least twice per retention window: only a
        checkpointed prefix of the chain is sealed into the cold store.
        """
        key = exchange_key()
        chainer = AuditChainer(client, key, checkpoint_interval_s=min(60.0, retention_s / 2) if retention_s > 0 else 60.0)
        service = cls(client, {key.key_id: key.public_raw}, cold)
        service.chainer_task = asyncio.get_running_loop().create_task(chainer.run(), name="audit-chainer")
        log.info("audit chainer started; checkpoints signed by key %s", key.key_id)
        return service

    async def aclose(self) -> None:
        """Stops the chainer; what it had not chained yet waits in the event streams for the next start."""
        if self.chainer_task is not None:
            self.chainer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.chainer_task

    @refusals
    async def ListEntries(self, request: audit_pb2.AuditServiceListEntriesRequest, context):
        size = validate.page_size(request.page_size)
        if request.kind and request.kind not in audit_pb2.AuditKind.values():
            raise invalid(f"kind {request.kind} unknown; expected one of {', '.join(audit_pb2.AuditKind.keys()[1:])}")
        start = _seq_from(request)
        head = await self.store.head_seq()
        if request.subject_id:
            found = [e for e in await self.store.entries_by_ref(request.subject_id) if e.seq >= start and _matches(e, request)]
            page = found[:size]
            more = len(found) > size
            return audit_pb2.AuditServiceListEntriesResponse(
                entries=page, head_seq=head, next_page_token=str(page[-1].seq + 1) if more else "")
        page: list[audit_pb2.AuditEntry] = []
        position = start
        async for chunk in self.store.walk(start, min(head, start + SCAN_LIMIT - 1)):
            for entry in chunk:
                position += 1
                if _matches(entry, request):
                    page.append(entry)
                    if len(page) == size:
                        break
            if len(page) == size:
                break
        more = position <= head
        return audit_pb2.AuditServiceListEntriesResponse(entries=page, head_seq=head,
                                                         next_page_token=str(position) if more else "")

    @refusals
    async def VerifyChain(self, request: audit_pb2.VerifyChainRequest, context):
        if request.from_seq < 0 or request.to_seq < 0:
            raise invalid(f"from_seq {request.from_seq} and to_seq {request.to_seq} must be ≥ 0 (0 = start and end)")
        if request.to_seq and request.from_seq > request.to_seq:
            raise invalid(f"from_seq {request.from_seq} is after to_seq {request.to_seq}; expected from_seq ≤ to_seq")
        verdict = await self.store.verify(self.public_keys, request.from_seq, request.to_seq)
        checkpoints = await self.store.checkpoints()
        return audit_pb2.VerifyChainResponse(
            ok=verdict.ok, entries_checked=verdict.entries_checked, checkpoints_checked=verdict.checkpoints_checked,
            first_bad_seq=verdict.first_bad_seq, problem=verdict.problem, detail=verdict.detail,
            last_checkpoint=checkpoints[-1] if checkpoints else None)

    @refusals
    async def TraceJob(self, request: audit_pb2.TraceJobRequest, context):
        if not request.job_id:
            raise invalid("job_id is empty; expected a job id such as job-3f9a2c41 (see `shuniu jobs ls`)")
        own = await self.store.entries_by_ref(request.job_id)
        job = await self.jobs.get(request.job_id)
        if job is None and not own:
            raise not_found(f"job {request.job_id!r} not found and no audit entry names it; see `shuniu jobs ls`")
        story = {e.seq: e for e in own}
        if job is not None:
            grant_id = job.spec.grant_id
            story.update((e.seq, e) for e in await self.store.entries_by_ref(grant_id) if e.subject_id == grant_id)
        batches = {e.subject_id for e in own if e.action == "usage.received"}
        periods: set[str] = set()
        for batch_id in sorted(batches):
            for entry in await self.store.entries_by_ref(batch_id):
                if entry.subject_id == batch_id:
                    story[entry.seq] = entry
                    if entry.kind == audit_pb2.AUDIT_KIND_POSTING:
                        periods.update(_periods(entry))
        for period in sorted(periods):
            story.update((e.seq, e) for e in await self.store.entries_by_ref(period)
                         if e.kind == audit_pb2.AUDIT_KIND_SETTLEMENT)
        return audit_pb2.TraceJobResponse(job_id=request.job_id, entries=[story[s] for s in sorted(story)])


def _periods(entry: audit_pb2.AuditEntry) -> list[str]:
    return [str(p) for p in json.loads(entry.details_json).get("periods", [])]
