"""GrantStore: grants in Redis, atomic use counting, and the jobs running under each grant.

Keys (prefix `shuniu:`):
  grant:{id}          the Grant record (protobuf bytes); its `usage` is always empty there
  grants              set of grant ids
  grants:buyer:{id}   set of the buyer's grant ids
  grant-usage:{id}    hash of the use counters: rows, calls, spent_fen, dp_epsilon_spent_milli,
                      first_unix_ms and updated_unix_ms (first and latest counted use); written only
                      by `consume`, read into Grant.usage by `get` and `list`
  grant-jobs:{id}     set of job ids running under the grant (`job_started` / `job_finished`)
  events:grants       stream of transitions, one entry per change:
                        grant_id, from, to (GrantState names), reason (state_reason), unix_ms, actor,
                        cancel_job_ids (JSON list; on revocation the jobs that were running)

Contract of `events:grants` for the job layer: an entry whose `to` is GRANT_STATE_REVOKED asks
for every job in its `cancel_job_ids` to be cancelled. A job that starts after the revocation
cannot exist: `job_started` refuses once the grant is revoked, and `consume` refuses every use.
"""

from __future__ import annotations

import bisect
import json
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from shuniu.market.grants.decisions import APPROVED, as_read, effective_state
from shuniu.market.grants.use import LIMIT_COUNTERS, Ask, GrantUse, UseDecision, check_scope, limit_refusal
from shuniu.protos.v1 import grants_pb2
from shuniu.security.caller import current_actor

GRANTS_KEY = "shuniu:grants"
GRANT_EVENTS_KEY = "shuniu:events:grants"
_EVENTS_MAXLEN = 100_000
_READ_CHUNK = 1000
# A grant record changes at most a few times in its life (decision, revocation), so an
# admission sees a stale record only a few times in a row.
_MAX_STALE_RETRIES = 16

_COUNTERS = [counter for _, counter in LIMIT_COUNTERS]

# KEYS: grant record, usage hash, uses hash, running-jobs set. ARGV: grant bytes as read, 4 limits, 4 asks,
# now_ms, use id, job id to record as running ('' for none).
# Returns {0} when the record changed since it was read (the caller checks it again),
# {2, i, used} when limit i would be exceeded, {1, counters…} once counted, {3, counters…} when this
# use id was counted before (a retried admission counts once).
_CONSUME_LUA = """
local names = {'rows', 'calls', 'spent_fen', 'dp_epsilon_spent_milli'}
if ARGV[11] ~= '' and redis.call('HEXISTS', KEYS[3], ARGV[11]) == 1 then
  local now = redis.call('HMGET', KEYS[2], unpack(names))
  return {3, now[1] or '0', now[2] or '0', now[3] or '0', now[4] or '0'}
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0} end
local used = redis.call('HMGET', KEYS[2], unpack(names))
for i = 1, 4 do
  local limit = tonumber(ARGV[1 + i])
  if limit > 0 and tonumber(used[i] or '0') + tonumber(ARGV[5 + i]) > limit then
    return {2, i, used[i] or '0'}
  end
end
for i = 1, 4 do
  if ARGV[5 + i] ~= '0' then redis.call('HINCRBY', KEYS[2], names[i], ARGV[5 + i]) end
end
redis.call('HSETNX', KEYS[2], 'first_unix_ms', ARGV[10])
redis.call('HSET', KEYS[2], 'updated_unix_ms', ARGV[10])
if ARGV[11] ~= '' then redis.call('HSET', KEYS[3], ARGV[11], ARGV[10]) end
if ARGV[12] ~= '' then redis.call('SADD', KEYS[4], ARGV[12]) end
local after = redis.call('HMGET', KEYS[2], unpack(names))
return {1, after[1] or '0', after[2] or '0', after[3] or '0', after[4] or '0'}
"""


def grant_key(grant_id: str) -> str:
    return f"shuniu:grant:{grant_id}"


def buyer_key(buyer_id: str) -> str:
    return f"shuniu:grants:buyer:{buyer_id}"


def usage_key(grant_id: str) -> str:
    return f"shuniu:grant-usage:{grant_id}"


def uses_key(grant_id: str) -> str:
    return f"shuniu:grant-uses:{grant_id}"


def jobs_key(grant_id: str) -> str:
    return f"shuniu:grant-jobs:{grant_id}"


def new_grant_id(now_ms: int) -> str:
    """Sorts by application time, then at random: listings page in the order grants were applied for."""
    return f"g-{now_ms:012x}-{secrets.token_hex(4)}"


def _decision(reply: list, limits: list[int], asks: list[int], now_ms: int) -> UseDecision:
    """The consume script's reply as a decision: counted (now or before) or refused at a limit."""
    if reply[0] == 2:
        index = int(reply[1]) - 1
        return limit_refusal(LIMIT_COUNTERS[index][0], limits[index], int(reply[2]), asks[index])
    usage = grants_pb2.GrantUsage(updated_unix_ms=now_ms)
    for name, value in zip(_COUNTERS, reply[1:]):
        setattr(usage, name, int(value))
    return UseDecision(True, usage=usage, repeated=reply[0] == 3)


def usage_from_hash(raw: Mapping[bytes, bytes]) -> grants_pb2.GrantUsage:
    usage = grants_pb2.GrantUsage()
    for name in (*_COUNTERS, "updated_unix_ms", "claims_refused"):
        setattr(usage, name, int(raw.get(name.encode(), 0)))
    return usage


class GrantStore:
    """Reads grants and counts their use; transitions are queued on a transaction by `queue_grant_write`."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._consume = redis.register_script(_CONSUME_LUA)

    async def get(self, grant_id: str, now_ms: int | None = None) -> grants_pb2.Grant | None:
        """The grant with its usage counters; past its expiry it reads EXPIRED when `now_ms` is given."""
        return (await self.get_many_with_records([grant_id], now_ms)).get(grant_id, (None, None))[0]

    async def get_many_with_records(self, grant_ids: Iterable[str], now_ms: int | None = None
                                    ) -> dict[str, tuple[grants_pb2.Grant, bytes]]:
        """Grants as `get` reads them, with each record's bytes as stored (for `consume_many`), in one round
        trip; ids not found are left out."""
        ids = list(grant_ids)
        async with self.redis.pipeline(transaction=False) as pipe:
            for grant_id in ids:
                pipe.get(grant_key(grant_id))
                pipe.hgetall(usage_key(grant_id))
            replies = await pipe.execute()
        found = {}
        for grant_id, raw, usage in zip(ids, replies[::2], replies[1::2]):
            if raw is not None:
                grant = grants_pb2.Grant.FromString(raw)
                grant.usage.CopyFrom(usage_from_hash(usage))
                found[grant_id] = (grant if now_ms is None else as_read(grant, now_ms), raw)
        return found

    async def list(
        self, *, now_ms: int, buyer_id: str = "", states: Iterable[int] = (), product_id: str = "",
        page_size: int = 100, page_token: str = "",
    ) -> tuple[list[grants_pb2.Grant], str, int]:
        """A page of matching grants by grant id after `page_token`, the next token and the total matching.

        Reads every grant record of the buyer (or of the exchange) to filter them: fine for the
        thousands of grants of a provincial exchange; an index per state comes when listings grow.
        """
        wanted = set(states)
        ids = sorted(i.decode() for i in await self.redis.smembers(buyer_key(buyer_id) if buyer_id else GRANTS_KEY))
        matching: list[grants_pb2.Grant] = []
        for start in range(0, len(ids), _READ_CHUNK):
            for raw in await self.redis.mget([grant_key(i) for i in ids[start:start + _READ_CHUNK]]):
                if raw is None:
                    continue
                grant = as_read(grants_pb2.Grant.FromString(raw), now_ms)
                if wanted and grant.state not in wanted:
                    continue
                if product_id and all(p.product_id != product_id for p in grant.spec.products):
                    continue
                matching.append(grant)
        start = bisect.bisect_right([g.grant_id for g in matching], page_token) if page_token else 0
        page = matching[start:start + page_size]
        async with self.redis.pipeline(transaction=False) as pipe:
            for grant in page:
                pipe.hgetall(usage_key(grant.grant_id))
            for grant, usage in zip(page, await pipe.execute()):
                grant.usage.CopyFrom(usage_from_hash(usage))
        more = start + page_size < len(matching)
        return page, page[-1].grant_id if more and page else "", len(matching)

    async def consume(
        self, grant_id: str, *, kind: int, product_columns: Mapping[str, Sequence[str]], rows: int, calls: int,
        spent_fen: int, dp_epsilon_milli: int, now_ms: int, use_id: str = "", running_job_id: str = "",
        record: bytes | None = None,
    ) -> UseDecision:
        """Admits and counts one use atomically, or refuses it naming the rule (and the numbers for a limit).

        With a `use_id` (e.g. the job id), a use already counted under it is not counted again.
        With a `running_job_id`, the job is recorded as running in the same script (as
        `job_started` would), so that a revocation either lists it or refuses the use. A `record`
        (the grant's bytes as the caller read them) saves reading it first; a stale one is read again.

        Scope (state, expiry, kind, products, columns) is checked on the record as read; the
        Lua script counts only if that record is still the one stored, so a revocation that
        lands in between is seen on the next pass.
        """
        use = GrantUse(grant_id, kind, product_columns, Ask(rows, calls, spent_fen, dp_epsilon_milli), now_ms,
                       use_id, running_job_id)
        return (await self.consume_many([use], {} if record is None else {grant_id: record}))[0]

    async def consume_many(self, uses: Sequence[GrantUse], records: Mapping[str, bytes | None] | None = None
                           ) -> list[UseDecision]:
        """`consume` for several uses in one round trip; each counts after the ones before it, as if sent alone.

        `records` maps grant ids to their bytes as the caller read them (None: no such grant).
        """
        decisions: list[UseDecision | None] = [None] * len(uses)
        known = dict(records or {})
        todo = list(range(len(uses)))
        for _ in range(_MAX_STALE_RETRIES):
            unread = sorted({uses[i].grant_id for i in todo} - known.keys())
            if unread:
                known.update(zip(unread, await self.redis.mget([grant_key(g) for g in unread])))
            parsed = {g: grants_pb2.Grant.FromString(raw) for g, raw in known.items() if raw is not None}
            sent: list[tuple[int, list[int], list[int]]] = []
            async with self.redis.pipeline(transaction=False) as pipe:
                for i in todo:
                    use = uses[i]
                    grant = parsed.get(use.grant_id)
                    if grant is None:
                        decisions[i] = UseDecision.refuse("not_found", f"grant {use.grant_id!r} not found")
                        continue
                    decisions[i] = check_scope(grant, kind=use.kind, product_columns=use.product_columns,
                                               now_ms=use.now_ms)
                    if decisions[i] is not None:
                        continue
                    limits = [getattr(grant.spec.limits, name) for name, _ in LIMIT_COUNTERS]
                    asks = [amount for _, amount in use.ask.amounts()]
                    g = use.grant_id
                    await self._consume(keys=[grant_key(g), usage_key(g), uses_key(g), jobs_key(g)],
                                        args=[known[g], *limits, *asks, use.now_ms, use.use_id, use.running_job_id],
                                        client=pipe)  # queued: the pipeline sends it
                    sent.append((i, limits, asks))
                replies = await pipe.execute() if sent else []
            todo = []
            assert len(replies) == len(sent), f"{len(sent)} uses sent, {len(replies)} replies"
            for (i, limits, asks), reply in zip(sent, replies):
                if reply[0] == 0:  # the record changed since it was read: read it and check again
                    known.pop(uses[i].grant_id, None)
                    todo.append(i)
                else:
                    decisions[i] = _decision(reply, limits, asks, uses[i].now_ms)
            if not todo:
                return decisions  # type: ignore[return-value]
        raise RuntimeError(f"grants changed {_MAX_STALE_RETRIES} times during one admission")

    async def job_started(self, grant_id: str, job_id: str, now_ms: int | None = None) -> bool:
        """Records a job as running under the grant; False (nothing recorded) once the grant is not in force.

        Atomic with revocation: either the job is recorded first and the revocation lists it
        for cancelling, or the revocation lands first and the job is refused here.
        """
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(grant_key(grant_id))
                    raw = await pipe.get(grant_key(grant_id))
                    if raw is None or effective_state(grants_pb2.Grant.FromString(raw), now_ms) != APPROVED:
                        await pipe.unwatch()
                        return False
                    pipe.multi()
                    pipe.sadd(jobs_key(grant_id), job_id)
                    await pipe.execute()
                    return True
                except WatchError:
                    continue

    async def job_finished(self, grant_id: str, job_id: str) -> None:
        """Forgets a job that ended (in any way); a job never started is ignored."""
        await self.redis.srem(jobs_key(grant_id), job_id)

    async def running_jobs(self, grant_id: str) -> list[str]:
        return sorted(j.decode() for j in await self.redis.smembers(jobs_key(grant_id)))


def queue_grant_write(pipe: aioredis.client.Pipeline, grant: grants_pb2.Grant) -> None:
    """Queues the grant record and its index entries; usage counters live apart (see the module doc)."""
    assert grant.grant_id and not grant.HasField("usage"), grant.grant_id
    pipe.set(grant_key(grant.grant_id), grant.SerializeToString(deterministic=True))
    pipe.sadd(GRANTS_KEY, grant.grant_id)
    pipe.sadd(buyer_key(grant.spec.buyer_id), grant.grant_id)


def queue_transition(
    pipe: aioredis.client.Pipeline, grant: grants_pb2.Grant, from_state: int, now_ms: int,
    cancel_job_ids: Sequence[str] = (),
) -> None:
    """Queues one entry of `events:grants` for the grant's new state."""
    fields = {"grant_id": grant.grant_id, "from": grants_pb2.GrantState.Name(from_state),
              "to": grants_pb2.GrantState.Name(grant.state), "reason": grant.state_reason, "unix_ms": now_ms,
              "actor": current_actor()}
    if grant.state == grants_pb2.GRANT_STATE_REVOKED:
        fields["cancel_job_ids"] = json.dumps(list(cancel_job_ids))
    pipe.xadd(GRANT_EVENTS_KEY, fields, maxlen=_EVENTS_MAXLEN, approximate=True)
