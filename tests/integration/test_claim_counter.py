"""Per-key claim counts in Redis: all or nothing per job, once per job id, expiring after their period."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from shuniu.market.grants.claims import ClaimCounter, count_key
from shuniu.market.grants.store import usage_key


def _run(redis_url: str, body):
    async def main():
        client = aioredis.Redis.from_url(redis_url)
        try:
            return await body(ClaimCounter(client), client)
        finally:
            await client.aclose()
    return asyncio.run(main())


def test_a_job_over_the_limit_for_one_key_counts_nothing_and_a_retry_counts_once(redis_url):
    async def body(counter, client):
        common = dict(grant_id="g-1", product_id="p-1", period=7, period_s=3_600, limit=3)
        first = await counter.count(job_id="j-1", per_key={"a": 2, "b": 1}, **common)
        retried = await counter.count(job_id="j-1", per_key={"a": 2, "b": 1}, **common)
        over = await counter.count(job_id="j-2", per_key={"a": 2, "b": 1}, **common)
        used = [await counter.used("g-1", "p-1", 7, k) for k in ("a", "b")]
        other_period = await counter.count(job_id="j-3", per_key={"a": 3}, **{**common, "period": 8})
        ttl = await client.ttl(count_key("g-1", "p-1", 7, "a"))
        await counter.record_refusal("g-1", 3)
        refused = int(await client.hget(usage_key("g-1"), "claims_refused"))
        return first, retried, over, used, other_period, ttl, refused

    first, retried, over, used, other_period, ttl, refused = _run(redis_url, body)
    assert first.allowed and retried.allowed
    assert not over.allowed and (over.used, over.asked) == (2, 2)
    assert used == [2, 1]  # the refused job added nothing, to either key
    assert other_period.allowed
    assert 3_600 < ttl <= 7_200
    assert refused == 3
