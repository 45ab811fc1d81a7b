"""Per-key claim counts of verification (核验): how many claims a grant made about one key in one period.

Keys (prefix `shuniu:`):
  claim-count:{grant}:{product}:{period}:{key digest}  claims counted, expiring one period after the period ends
  claim-use:{job id}                                   marks a job's claims as counted (a retried submit counts once)
  grant-usage:{grant}                                  its field claims_refused counts the claims refused by policy

The key is a digest (see market/catalog/verification.key_digest): no raw identifier becomes a Redis key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import redis.asyncio as aioredis

from shuniu.market.grants.store import usage_key

# KEYS: the use marker, then one counter per key. ARGV: limit, expiry in seconds, then one count per key.
# Returns {1} once counted, {3} when the use was counted before, {2, i, used} when key i would pass the limit.
_COUNT_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {3} end
local limit = tonumber(ARGV[1])
for i = 2, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used + tonumber(ARGV[1 + i]) > limit then return {2, i - 1, used} end
end
for i = 2, #KEYS do
  redis.call('INCRBY', KEYS[i], ARGV[1 + i])
  redis.call('EXPIRE', KEYS[i], ARGV[2])
end
redis.call('SET', KEYS[1], '1', 'EX', ARGV[2])
return {1}
"""


def count_key(grant_id: str, product_id: str, period: int, digest: str) -> str:
    return f"shuniu:claim-count:{grant_id}:{product_id}:{period}:{digest}"


def use_key(job_id: str) -> str:
    return f"shuniu:claim-use:{job_id}"


@dataclass(frozen=True)
class ClaimCount:
    """Counted (or counted before), or over the limit for one key: how many it had and how many were asked."""

    allowed: bool
    used: int = 0
    asked: int = 0


class ClaimCounter:
    """Counts a job's claims per key atomically against the product's limit per key and period."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._count = redis.register_script(_COUNT_LUA)

    async def count(self, *, job_id: str, grant_id: str, product_id: str, period: int, period_s: int,
                    per_key: Mapping[str, int], limit: int) -> ClaimCount:
        """Adds `per_key` (claims by key digest) unless one key would pass `limit` in the period; all or nothing."""
        digests = sorted(per_key)
        keys = [use_key(job_id), *(count_key(grant_id, product_id, period, d) for d in digests)]
        reply = await self._count(keys=keys, args=[limit, 2 * period_s, *(per_key[d] for d in digests)])
        if reply[0] == 2:
            return ClaimCount(False, int(reply[2]), per_key[digests[int(reply[1]) - 1]])
        return ClaimCount(True)

    async def used(self, grant_id: str, product_id: str, period: int, digest: str) -> int:
        return int(await self.redis.get(count_key(grant_id, product_id, period, digest)) or 0)

    async def record_refusal(self, grant_id: str, claims: int) -> None:
        """Counts refused claims on the grant's record (GrantUsage.claims_refused)."""
        await self.redis.hincrby(usage_key(grant_id), "claims_refused", claims)
