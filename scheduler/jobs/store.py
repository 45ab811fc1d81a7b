"""Jobs in Redis: one record per job, indexes for listing, the open set for rebuilding, and events.

Keys (all under `shuniu:`):
  job:{id}                serialized Job
  jobs                    ZSET job id -> submitted ms (every job)
  jobs:buyer:{buyer}      ZSET, same scores
  jobs:grant:{grant}      ZSET, same scores
  jobs:open               SET of jobs not yet in a terminal state (the queue and the running)
  events:jobs             STREAM of transitions: job_id, from, to, reason, seq, unix_ms, actor
  result:{id}             the released output (Arrow IPC), at most MAX_RESULT_BYTES

The control plane is the only writer of jobs; each transition writes the record, the open
set and the event in one MULTI, so a restart finds every job where its last event says.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

import redis.asyncio as aioredis
from shuniu.protos.v1 import jobs_pb2
from shuniu.scheduler.jobs import lifecycle
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
    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    async def get(self, job_id: str) -> jobs_pb2.Job | None:
        raw = await self.redis.get(job_key(job_id))
        return None if raw is None else jobs_pb2.Job.FromString(raw)

    async def get_many(self, job_ids: Sequence[str]) -> list[jobs_pb2.Job]:
        if not job_ids:
            return []
        raws = await self.redis.mget([job_key(j) for j in job_ids])
        return [jobs_pb2.Job.FromString(r) for r in raws if r is not None]

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

    async def page(self, index: str, offset: int, count: int) -> tuple[list[jobs_pb2.Job], int]:
        """Jobs of an index (`jobs`, `jobs:buyer:B`, `jobs:grant:G`), newest first, and the index size."""
        key = f"{_P}{index}"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrevrange(key, offset, offset + count - 1)
            pipe.zcard(key)
            ids, total = await pipe.execute()
        return await self.get_many([i.decode() for i in ids]), total
