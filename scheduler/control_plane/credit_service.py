"""CreditService (信用): operators record adjustments and read every organisation's standing; each party its own.

Most events are recorded by the system where they happen (see market/credit): a revoked grant
(GrantService), a job whose output was withheld (the job layer's end writes), a job refused for
reaching outside its grant (admission) and a bill unpaid past its due date (the sweep this
servicer runs every `sweep_every_s`). Recording here is for operators: an adjustment, or a penalty
the system cannot see, always naming its cause (subject_id); a cause has one event, never two.

An org id names a party's record, not a bare name (market/credit/party.py): a buyer's is its id or
"buyer:<id>", a holder's "holder:<id>", a compute center's "compute_center:<id>".
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging

import redis.asyncio as aioredis
import redis.exceptions
from shuniu.market import credit
from shuniu.market.credit import DEFAULT_POLICY, CreditPolicy, CreditStore
from shuniu.protos.v1 import credit_pb2, credit_pb2_grpc
from shuniu.scheduler.background import stop_if_cancelled
from shuniu.scheduler.control_plane import validate
from shuniu.scheduler.control_plane.errors import failed_precondition, invalid
from shuniu.protos.metadata import OPERATOR_METADATA
from shuniu.scheduler.control_plane.idempotency import fingerprint, run_idempotent
from shuniu.scheduler.control_plane.node_service import refusals
from shuniu.security.caller import current_caller

log = logging.getLogger("shuniu.credit")
_MAX_SUBJECT = 128
_MAX_NOTE = 500


def _org_id(value: str) -> str:
    """The id the record `value` names is kept under; INVALID_ARGUMENT when it names no party's record."""
    try:
        return credit.party_org(value)
    except credit.OrgIdError as err:
        raise invalid(str(err)) from None


def _recorder(context) -> str:
    caller = current_caller()
    if caller is not None:
        return caller.name
    return dict(context.invocation_metadata() or ()).get(OPERATOR_METADATA, "operator")[:64]


def _checked_event(event: credit_pb2.CreditEvent, policy: CreditPolicy) -> credit_pb2.CreditEvent:
    """The request's event with its points settled and its org id as kept; INVALID_ARGUMENT naming the field otherwise."""
    org_id = _org_id(event.org_id)
    try:
        points = credit.check_points(event.kind, event.points, policy)
    except ValueError as err:
        raise invalid(f"event.{err}") from None  # names the field: "event.kind …" or "event.points …"
    if event.kind != credit.ADJUSTMENT and not event.subject_id:
        raise invalid("event.subject_id is empty; a penalty names its cause (a job, grant or statement id), "
                      "so that it is recorded once")
    if len(event.subject_id) > _MAX_SUBJECT or len(event.note) > _MAX_NOTE:
        raise invalid(f"event.subject_id or event.note too long; expected at most {_MAX_SUBJECT} and {_MAX_NOTE} "
                      "characters")
    if event.kind == credit.ADJUSTMENT and not event.note.strip():
        raise invalid("event.note is empty; an adjustment says why (kept in the audit log)")
    checked = credit_pb2.CreditEvent()
    checked.CopyFrom(event)
    checked.points, checked.org_id = points, org_id
    return checked


def _page(items: list, keys: list, token: str, size: int) -> tuple[list, str]:
    start = bisect.bisect_right(keys, token) if token else 0
    page = items[start:start + size]
    more = start + size < len(items)
    return page, keys[start + len(page) - 1] if more and page else ""


class CreditService(credit_pb2_grpc.CreditServiceServicer):
    def __init__(self, client: aioredis.Redis, request_id_ttl_s: int, policy: CreditPolicy = DEFAULT_POLICY) -> None:
        self.redis = client
        self.request_id_ttl_s = request_id_ttl_s
        self.policy = policy
        self.store = CreditStore(client, policy)
        self.sweep_task: asyncio.Task | None = None

    @classmethod
    def with_sweeper(cls, client: aioredis.Redis, request_id_ttl_s: int, sweep_every_s: float = 60.0) -> CreditService:
        """The servicer, with its unpaid-balance sweep started on the running loop."""
        service = cls(client, request_id_ttl_s)
        service.sweep_task = asyncio.get_running_loop().create_task(service._sweep(sweep_every_s), name="credit-sweep")
        return service

    async def _sweep(self, every_s: float) -> None:
        while True:
            stop_if_cancelled()
            try:
                new = await credit.sweep_unpaid(self.redis, credit.store.now_ms(), self.policy)
                if new:
                    log.info("recorded %d unpaid-balance credit event(s)", new)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as err:
                log.warning("unpaid-balance sweep failed, will retry: %s", err)
            await asyncio.sleep(every_s)

    async def aclose(self) -> None:
        if self.sweep_task is not None:
            self.sweep_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.sweep_task

    @refusals
    async def RecordCreditEvent(self, request: credit_pb2.RecordCreditEventRequest, context):
        validate.request_id(request.request_id)
        checked = _checked_event(request.event, self.policy)
        at_ms = credit.store.now_ms()
        event = credit.new_event(checked.org_id, checked.kind, checked.points, checked.subject_id, checked.note,
                                 _recorder(context), at_ms)
        org = event.org_id

        async def plan(pipe):
            prior = await self.store.cause_event_id(pipe, org, event.kind, event.subject_id)
            if prior:
                raise failed_precondition(f"organisation {org!r} already has event {prior} for "
                                          f"{credit.KIND_NAMES[event.kind]} of {event.subject_id!r}; one event per "
                                          "cause (see `shuniu credit events`)")
            after = credit.standing(org, [*await self.store.events(org, pipe), event], at_ms, self.policy)
            response = credit_pb2.RecordCreditEventResponse(event=event, record=after.record())
            return (lambda p: credit.queue_event(p, event)), response.SerializeToString()

        fp = fingerprint("RecordCreditEvent", request.SerializeToString(deterministic=True))
        raw, _ = await run_idempotent(self.redis, request.request_id, fp,
                                      [credit.causes_key(org), credit.events_key(org)], plan, self.request_id_ttl_s)
        return credit_pb2.RecordCreditEventResponse.FromString(raw)

    @refusals
    async def GetCreditRecord(self, request: credit_pb2.GetCreditRecordRequest, context):
        found = await self.store.standing(_org_id(request.org_id), credit.store.now_ms())
        return credit_pb2.GetCreditRecordResponse(record=found.record())

    @refusals
    async def ListCreditRecords(self, request: credit_pb2.ListCreditRecordsRequest, context):
        size = validate.page_size(request.page_size)
        found = await self.store.all_standings(credit.store.now_ms())
        if request.blocked_only:
            found = [s for s in found if s.blocked]
        keys = [f"{s.score:04d}|{s.org_id}" for s in found]  # lowest score first, then by id
        page, token = _page(found, keys, request.page_token, size)
        return credit_pb2.ListCreditRecordsResponse(records=[s.record() for s in page], next_page_token=token,
                                                    total=len(found))

    @refusals
    async def ListCreditEvents(self, request: credit_pb2.ListCreditEventsRequest, context):
        size = validate.page_size(request.page_size)
        events = list(reversed(await self.store.events(_org_id(request.org_id))))  # newest first
        keys = [f"{i:09d}" for i in range(len(events))]
        page, token = _page(events, keys, request.page_token, size)
        return credit_pb2.ListCreditEventsResponse(events=page, next_page_token=token, total=len(events))
