"""Jobs in Redis: one record per job, indexes for listing, the open set for rebuilding, and events.

Keys (all under `shuniu:`):
  job:{id}                serialized Job
  jobs                    ZSET job id -> submitted ms (every job)
  jobs:buyer:{buyer}      ZSET, same scores
  jobs:grant:{grant}      ZSET, same scores
  jobs:open               SET of jobs not yet in a terminal state (the queue and the running)
  events:jobs             STREAM of transitions: job_id, from, to, reason, seq, unix_ms, actor
  result:{id}             the released output (Arrow IPC), at most MAX_RESULT_BYTES

A finished job older than the retention window moves, with its result and its submit's
idempotency record, to the cold store (scheduler/retention); reads here look on both sides.

The control plane is the only writer of jobs; each transition writes the record, the open
set and the event in one MULTI, so a restart finds every job where its last event says.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

import redis.asyncio as aioredis
from shuniu.protos.v1 import jobs_pb2
from shuniu.scheduler.jobs import lifecycle
from shuniu.scheduler.retention.cold import ColdStores, IndexKey
from shuniu.security.caller import current_actor

_P = "shuniu:"
EVENTS_KEY = f"{_P}events:jobs"
OPEN_KEY = f"{_P}jobs:open"
_EVENTS_MAXLEN = 1_000_000
MAX_RESULT_BYTES = 64 << 20


def job_key(job_id: str) -> str:
    return f"{_P}job:{job_id}"


def queue_job_write(pipe: aioredis.client.Pipeline, job: jobs_pb2.Job, old_state: int, now_ms: int) -> None:
    """Queues the record, its indexes and the event of its last transition (old_state -> job.state)."""
    pipe.set(job_key(job.job_id), job.SerializeToString())
    if old_state == jobs_pb2.JOB_STATE_UNSPECIFIED:
        score = job.submitted_unix_ms
        pipe.zadd(f"{_P}jobs", {job.job_id: score})
        pipe.zadd(f"{_P}jobs:buyer:{job.buyer_id}", {job.job_id: score})
        pipe.zadd(f"{_P}jobs:grant:{job.spec.grant_id}", {job.job_id: score})
    if job.state in lifecycle.TERMINAL:
        pipe.srem(OPEN_KEY, job.job_id)
    else:
        pipe.sadd(OPEN_KEY, job.job_id)
    pipe.xadd(EVENTS_KEY, {"job_id": job.job_id, "from": old_state, "to": job.state, "reason": job.state_reason,
                           "seq": job.seq, "unix_ms": now_ms, "actor": current_actor()}, maxlen=_EVENTS_MAXLEN, approximate=True)


def queue_result(job_id: str, output_ipc: bytes, rows: int,
                 now_ms: int) -> tuple[jobs_pb2.JobResult, Callable[[aioredis.client.Pipeline], None]]:
    """Where a released output will be and what it holds, and the write that stores it (queued with the job's)."""
    assert len(output_ipc) <= MAX_RESULT_BYTES, f"output of {job_id} is {len(output_ipc)} bytes"
    ref = f"{_P}result:{job_id}"
    result = jobs_pb2.JobResult(result_ref=ref, rows=rows, bytes=len(output_ipc), released_unix_ms=now_ms,
                                content_sha256=hashlib.sha256(output_ipc).hexdigest())
    return result, lambda pipe: pipe.set(ref, output_ipc)


class JobStore:
    """Jobs in Redis and, once finished and past retention, in the cold store (scheduler/retention)."""

    def __init__(self, client: aioredis.Redis, cold: ColdStores | None = None) -> None:
        self.redis = client
        self.cold = cold if cold is not None else ColdStores(client)

    async def get(self, job_id: str) -> jobs_pb2.Job | None:
        """A job from Redis, else from the cold store."""
        return (await self.get_anywhere([job_id])).get(job_id)

    async def get_many(self, job_ids: Sequence[str]) -> list[jobs_pb2.Job]:
        """The jobs Redis holds (the open ones always are)."""
        if not job_ids:
            return []
        raws = await self.redis.mget([job_key(j) for j in job_ids])
        return [jobs_pb2.Job.FromString(r) for r in raws if r is not None]

    async def get_anywhere(self, job_ids: Sequence[str]) -> dict[str, jobs_pb2.Job]:
        """Job id -> job, from Redis or else the cold store. Redis is read first: a move writes the cold
        store before it deletes from Redis, so a job moving meanwhile is found in one or the other."""
        if not job_ids:
            return {}
        raws = dict(zip(job_ids, await self.redis.mget([job_key(j) for j in job_ids])))
        missing = [j for j, raw in raws.items() if raw is None]
        cold = await self.cold.jobs() if missing else None
        if cold is not None:
            raws.update(await self.cold.run(cold.jobs, missing))
        return {j: jobs_pb2.Job.FromString(raw) for j, raw in raws.items() if raw is not None}

    async def result(self, job: jobs_pb2.Job) -> bytes | None:
        """A SUCCEEDED job's released output, wherever it is kept."""
        data = await self.redis.get(job.result.result_ref)
        cold = await self.cold.jobs() if data is None else None
        return data if cold is None else await self.cold.run(cold.result, job.job_id)

    async def moved_requests(self, job_ids: Sequence[str]) -> dict[str, tuple[bytes | None, bytes | None, bytes]]:
        """Job id -> (fingerprint, response, job) of submits whose job moved to the cold store."""
        cold = await self.cold.jobs() if job_ids else None
        return {} if cold is None else await self.cold.run(cold.requests, list(job_ids))

    async def save(self, jobs: Iterable[tuple[jobs_pb2.Job, int]], now_ms: int,
                   extra: Sequence[Callable[[aioredis.client.Pipeline], None]] = ()) -> None:
        """Writes (job, old_state) pairs, their events and the `extra` queued writes in one transaction."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for write in extra:  # results first: a job record never names an output not stored with it
                write(pipe)
            for job, old_state in jobs:
                queue_job_write(pipe, job, old_state, now_ms)
            await pipe.execute()

    async def open_jobs(self) -> list[jobs_pb2.Job]:
        """Every job not in a terminal state: what a restarted control plane rebuilds its queue from."""
        ids = sorted(m.decode() for m in await self.redis.smembers(OPEN_KEY))
        found: list[jobs_pb2.Job] = []
        for start in range(0, len(ids), 5000):
            found += await self.get_many(ids[start:start + 5000])
        return found

    async def page(self, index: Index, after: IndexKey | None, count: int) -> tuple[list[IndexKey], bool]:
        """Up to `count` (submitted ms, job id) of an index over Redis and the cold store, newest first,
        strictly after `after`; and whether more follow. A job on both sides (mid-move) is listed once."""
        cold = await self.cold.jobs()
        hot = await _hot_page(self.redis, index_key(index), after, count + 1)
        keys = set(hot)
        if cold is not None:
            keys.update(await self.cold.run(cold.page, index, after, count + 1))
        ordered = sorted(keys, reverse=True)
        return ordered[:count], len(ordered) > count

    async def total(self, index: Index) -> int:
        """Jobs of an index on both sides (a job caught mid-move counts twice until its move ends)."""
        cold = await self.cold.jobs()
        hot = await self.redis.zcard(index_key(index))
        return hot + (await self.cold.run(cold.count, index) if cold is not None else 0)


# An index of jobs: None (every job), ("buyer", buyer id) or ("grant", grant id).
Index = tuple[str, str] | None


def index_key(index: Index) -> str:
    return f"{_P}jobs" if index is None else f"{_P}jobs:{index[0]}:{index[1]}"


async def _hot_page(client: aioredis.Redis, key: str, after: IndexKey | None, count: int) -> list[IndexKey]:
    """Up to `count` (score, member) of a sorted set, newest first, strictly after `after`."""
    if after is None:
        found = await client.zrevrange(key, 0, count - 1, withscores=True)
        return [(int(score), member.decode()) for member, score in found]
    score, last = after
    async with client.pipeline(transaction=False) as pipe:
        pipe.zrangebyscore(key, score, score)  # ties at the last score: few (same millisecond)
        pipe.zrevrangebyscore(key, f"({score}", "-inf", start=0, num=count, withscores=True)
        ties, older = await pipe.execute()
    same = sorted((m.decode() for m in ties if m.decode() < last), reverse=True)
    return ([(score, m) for m in same] + [(int(s), m.decode()) for m, s in older])[:count]
