"""CreditStore: credit events per organisation in Redis, one per cause, each with its audit event.

Keys (prefix `shuniu:`):
  credit:events:{org}   list of CreditEvent (protobuf bytes), in the order recorded
  credit:causes:{org}   hash "<kind>:<subject_id>" -> event id: one event per cause, never two
  credit:orgs           set of organisations with at least one event
  events:credit         stream, one entry per recorded event (event_id, org_id, kind, points,
                        subject_id, note, unix_ms, actor): what the audit chainer logs

An event is written by one Lua script (the cause check, the event, the index and the stream entry
together), so it can be queued in the transaction of the change that caused it (a revocation, a
job's end); a retry or replay finds the cause taken and writes nothing. The score is not stored:
it is computed from the events when read (see score.py), so it can fade with time.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable

import redis.asyncio as aioredis
from shuniu.market.credit.score import (
    DEFAULT_POLICY,
    KIND_NAMES,
    CreditPolicy,
    Standing,
    standing,
)
from shuniu.protos.v1 import credit_pb2

CREDIT_ORGS_KEY = "shuniu:credit:orgs"
CREDIT_EVENTS_KEY = "shuniu:events:credit"
_STREAM_MAXLEN = 100_000
_MAX_NOTE = 500

# KEYS: causes, events, orgs, stream. ARGV: cause, event id, event bytes, org, kind, points, subject, note,
# unix_ms, actor. Returns {1, event id} once written, {0, prior event id} when the cause had its event.
_RECORD_LUA = """
local prior = redis.call('HGET', KEYS[1], ARGV[1])
if prior then return {0, prior} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', '""" + str(_STREAM_MAXLEN) + """', '*', 'event_id', ARGV[2],
  'org_id', ARGV[4], 'kind', ARGV[5], 'points', ARGV[6], 'subject_id', ARGV[7], 'note', ARGV[8],
  'unix_ms', ARGV[9], 'actor', ARGV[10])
return {1, ARGV[2]}
"""


def events_key(org_id: str) -> str:
    return f"shuniu:credit:events:{org_id}"


def causes_key(org_id: str) -> str:
    return f"shuniu:credit:causes:{org_id}"


def cause_of(kind: int, subject_id: str) -> str:
    return f"{KIND_NAMES[kind]}:{subject_id}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_event(org_id: str, kind: int, points: int, subject_id: str, note: str, recorded_by: str,
              recorded_unix_ms: int) -> credit_pb2.CreditEvent:
    """An event with a fresh id (sorting by time); the subject is its cause, the event id when it has none."""
    event_id = f"ce-{recorded_unix_ms:012x}-{secrets.token_hex(4)}"
    return credit_pb2.CreditEvent(event_id=event_id, org_id=org_id, kind=kind, points=points,
                                  subject_id=subject_id or event_id, note=note[:_MAX_NOTE],
                                  recorded_by=recorded_by or "system", recorded_unix_ms=recorded_unix_ms)


def system_event(org_id: str, kind: int, subject_id: str, note: str, at_ms: int,
                 policy: CreditPolicy = DEFAULT_POLICY) -> credit_pb2.CreditEvent:
    """A penalty the system records where it happens, with the policy's points for its kind."""
    assert kind in policy.penalties and subject_id, (kind, subject_id)
    return new_event(org_id, kind, policy.penalties[kind], subject_id, note, "system", at_ms)


def queue_event(pipe: aioredis.client.Pipeline, event: credit_pb2.CreditEvent) -> None:
    """Queues the write of `event` (once per cause) on a pipeline or a transaction."""
    org = event.org_id
    assert org and event.subject_id and event.event_id, event
    pipe.eval(_RECORD_LUA, 4, causes_key(org), events_key(org), CREDIT_ORGS_KEY, CREDIT_EVENTS_KEY,
              cause_of(event.kind, event.subject_id), event.event_id, event.SerializeToString(), org,
              KIND_NAMES[event.kind], event.points, event.subject_id, event.note, event.recorded_unix_ms,
              event.recorded_by)


def parse_events(raws: Iterable[bytes]) -> list[credit_pb2.CreditEvent]:
    return [credit_pb2.CreditEvent.FromString(raw) for raw in raws]


class CreditStore:
    """Reads events and standings; writes events one per cause (see the module doc)."""

    def __init__(self, client: aioredis.Redis, policy: CreditPolicy = DEFAULT_POLICY) -> None:
        self.redis = client
        self.policy = policy

    async def record(self, event: credit_pb2.CreditEvent) -> tuple[credit_pb2.CreditEvent, bool]:
        """Writes the event unless its cause has one; returns the cause's event and whether it is new."""
        async with self.redis.pipeline(transaction=False) as pipe:
            queue_event(pipe, event)
            (written, event_id), = await pipe.execute()
        if written:
            return event, True
        return await self.event(event.org_id, event_id.decode()), False

    async def event(self, org_id: str, event_id: str) -> credit_pb2.CreditEvent:
        for event in parse_events(await self.redis.lrange(events_key(org_id), 0, -1)):
            if event.event_id == event_id:
                return event
        raise LookupError(f"credit event {event_id} of {org_id} not found")

    async def cause_event_id(self, client, org_id: str, kind: int, subject_id: str) -> str:
        """The id of the event already recorded for this cause, or ''; `client` may be a watching pipeline."""
        raw = await client.hget(causes_key(org_id), cause_of(kind, subject_id))
        return raw.decode() if raw else ""

    async def events(self, org_id: str, client=None) -> list[credit_pb2.CreditEvent]:
        """Every event of the organisation, oldest first; `client` may be a watching pipeline."""
        return parse_events(await (client or self.redis).lrange(events_key(org_id), 0, -1))

    async def standing(self, org_id: str, at_ms: int, client=None) -> Standing:
        return standing(org_id, await self.events(org_id, client), at_ms, self.policy)

    async def standings(self, org_ids: Iterable[str], at_ms: int) -> dict[str, Standing]:
        """Each organisation's standing (admission asks once per round): one command tells which have events
        at all, the events of those are read in a second round trip."""
        orgs = sorted(set(org_ids))
        if not orgs:
            return {}
        with_events = [org for org, member in zip(orgs, await self.redis.smismember(CREDIT_ORGS_KEY, orgs)) if member]
        found = {org: standing(org, [], at_ms, self.policy) for org in orgs}
        if with_events:
            async with self.redis.pipeline(transaction=False) as pipe:
                for org in with_events:
                    pipe.lrange(events_key(org), 0, -1)
                replies = await pipe.execute()
            found.update((org, standing(org, parse_events(raws), at_ms, self.policy))
                         for org, raws in zip(with_events, replies))
        return found

    async def all_standings(self, at_ms: int) -> list[Standing]:
        """Every organisation with events, lowest score first (then by id)."""
        orgs = [o.decode() for o in await self.redis.smembers(CREDIT_ORGS_KEY)]
        found: list[Standing] = []
        for start in range(0, len(orgs), 1000):
            found += (await self.standings(orgs[start:start + 1000], at_ms)).values()
        return sorted(found, key=lambda s: (s.score, s.org_id))
