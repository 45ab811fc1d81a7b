"""AnalysisStore: analyses in Redis, the system of record, with their raw audit events.

Keys (prefix `shuniu:`):
  analysis:{id}                the Analysis record (protobuf bytes); never deleted: jobs name it
  analyses                     set of analysis ids
  analyses:product:{id}        set of the product's analysis ids
  events:analyses              stream of changes, one entry per change: analysis_id, product_id,
                               from, to (AnalysisState names), reason, code_sha256, unix_ms, actor
"""

from __future__ import annotations

import bisect
import secrets
from collections.abc import Iterable

import redis.asyncio as aioredis

from shuniu.protos.v1 import analyses_pb2
from shuniu.security.caller import current_actor

ANALYSES_KEY = "shuniu:analyses"
ANALYSIS_EVENTS_KEY = "shuniu:events:analyses"
_EVENTS_MAXLEN = 100_000
_READ_CHUNK = 1000


def analysis_key(analysis_id: str) -> str:
    return f"shuniu:analysis:{analysis_id}"


def product_analyses_key(product_id: str) -> str:
    return f"shuniu:analyses:product:{product_id}"


def new_analysis_id(now_ms: int) -> str:
    """Sorts by proposal time, then at random: listings page in the order analyses were proposed."""
    return f"an-{now_ms:012x}-{secrets.token_hex(4)}"


class AnalysisStore:
    """Reads analyses; writes are queued on a transaction by `queue_analysis_write`."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def get(self, analysis_id: str) -> analyses_pb2.Analysis | None:
        raw = await self.redis.get(analysis_key(analysis_id)) if analysis_id else None
        return None if raw is None else analyses_pb2.Analysis.FromString(raw)

    async def get_many(self, analysis_ids: Iterable[str]) -> dict[str, analyses_pb2.Analysis]:
        """The analyses of `analysis_ids` that exist, by id."""
        ids = [i for i in dict.fromkeys(analysis_ids) if i]
        found: dict[str, analyses_pb2.Analysis] = {}
        for start in range(0, len(ids), _READ_CHUNK):
            chunk = ids[start:start + _READ_CHUNK]
            for analysis_id, raw in zip(chunk, await self.redis.mget([analysis_key(i) for i in chunk])):
                if raw is not None:
                    found[analysis_id] = analyses_pb2.Analysis.FromString(raw)
        return found

    async def list(self, *, product_id: str = "", states: Iterable[int] = (), page_size: int = 100,
                   page_token: str = "") -> tuple[list[analyses_pb2.Analysis], str, int]:
        """A page of matching analyses by id after `page_token` (sources left out), the next token, the total."""
        wanted = set(states)
        key = product_analyses_key(product_id) if product_id else ANALYSES_KEY
        ids = sorted(i.decode() for i in await self.redis.smembers(key))
        matching = [a for a in (await self.get_many(ids)).values() if not wanted or a.state in wanted]
        matching.sort(key=lambda a: a.analysis_id)
        start = bisect.bisect_right([a.analysis_id for a in matching], page_token) if page_token else 0
        page = matching[start:start + page_size]
        for analysis in page:
            analysis.spec.ClearField("source")  # a page of sources could run to megabytes: GetAnalysis has it
        more = start + page_size < len(matching)
        return page, page[-1].analysis_id if more and page else "", len(matching)


def queue_analysis_write(pipe: aioredis.client.Pipeline, analysis: analyses_pb2.Analysis, from_state: int,
                         now_ms: int) -> None:
    """Queues the record, its index entries and its event (the audit log's raw entry)."""
    assert analysis.analysis_id and analysis.spec.code_sha256, analysis.analysis_id
    pipe.set(analysis_key(analysis.analysis_id), analysis.SerializeToString(deterministic=True))
    pipe.sadd(ANALYSES_KEY, analysis.analysis_id)
    pipe.sadd(product_analyses_key(analysis.spec.product_id), analysis.analysis_id)
    pipe.xadd(ANALYSIS_EVENTS_KEY, {
        "analysis_id": analysis.analysis_id, "product_id": analysis.spec.product_id,
        "from": analyses_pb2.AnalysisState.Name(from_state), "to": analyses_pb2.AnalysisState.Name(analysis.state),
        "reason": analysis.state_reason, "code_sha256": analysis.spec.code_sha256, "unix_ms": now_ms,
        "actor": current_actor()}, maxlen=_EVENTS_MAXLEN, approximate=True)
