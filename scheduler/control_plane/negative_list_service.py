"""NegativeListService: the operator's negative list (负面清单) of items and uses that may not be traded."""

from __future__ import annotations

import bisect
import time
import uuid

import redis.asyncio as aioredis

from shuniu.market import negative_list
from shuniu.market.negative_list import NEGATIVE_LIST_KEY, NegativeListStore, queue_entry_delete, queue_entry_write
from shuniu.protos.v1 import negative_list_pb2 as nl_pb2
from shuniu.protos.v1 import negative_list_pb2_grpc
from shuniu.scheduler.control_plane import validate
from shuniu.scheduler.control_plane.errors import invalid, not_found
from shuniu.scheduler.control_plane.idempotency import fingerprint, run_idempotent
from shuniu.scheduler.control_plane.node_service import refusals


class NegativeListService(negative_list_pb2_grpc.NegativeListServiceServicer):
    def __init__(self, client: aioredis.Redis, request_id_ttl_s: int) -> None:
        self.redis = client
        self.store = NegativeListStore(client)
        self.request_id_ttl_s = request_id_ttl_s

    async def _idempotent(self, rpc: str, request, plan) -> bytes:
        validate.request_id(request.request_id)
        raw, _ = await run_idempotent(self.redis, request.request_id,
                                      fingerprint(rpc, request.SerializeToString(deterministic=True)),
                                      [NEGATIVE_LIST_KEY], plan, self.request_id_ttl_s)
        return raw

    @refusals
    async def AddEntry(self, request: nl_pb2.NegativeListServiceAddEntryRequest, context):
        validate.request_id(request.request_id)
        try:
            negative_list.check_entry(request.entry)
        except ValueError as err:
            raise invalid(str(err)) from None
        entry = nl_pb2.NegativeListEntry()
        entry.CopyFrom(request.entry)
        entry.entry_id = f"nl-{uuid.uuid4().hex[:10]}"
        entry.added_unix_ms = int(time.time() * 1000)

        async def plan(pipe):
            return (lambda p: queue_entry_write(p, entry)), nl_pb2.NegativeListServiceAddEntryResponse(
                entry=entry).SerializeToString()

        return nl_pb2.NegativeListServiceAddEntryResponse.FromString(await self._idempotent("AddEntry", request, plan))

    @refusals
    async def RemoveEntry(self, request: nl_pb2.NegativeListServiceRemoveEntryRequest, context):
        if not request.entry_id:
            raise invalid("entry_id is empty; expected an id such as nl-4c1e9a07b2 (see `shuniu negative-list ls`)")

        async def plan(pipe):
            raw = await pipe.hget(NEGATIVE_LIST_KEY, request.entry_id)
            if raw is None:
                raise not_found(f"negative-list entry {request.entry_id!r} not found; see `shuniu negative-list ls`")
            return (lambda p: queue_entry_delete(p, request.entry_id)), nl_pb2.NegativeListServiceRemoveEntryResponse(
                entry=nl_pb2.NegativeListEntry.FromString(raw)).SerializeToString()

        return nl_pb2.NegativeListServiceRemoveEntryResponse.FromString(
            await self._idempotent("RemoveEntry", request, plan))

    @refusals
    async def ListEntries(self, request: nl_pb2.NegativeListServiceListEntriesRequest, context):
        size = validate.page_size(request.page_size)
        entries = await self.store.entries()
        ids = [e.entry_id for e in entries]
        start = bisect.bisect_right(ids, request.page_token) if request.page_token else 0
        page = entries[start:start + size]
        more = start + size < len(entries)
        return nl_pb2.NegativeListServiceListEntriesResponse(
            entries=page, next_page_token=page[-1].entry_id if more else "", total=len(entries))
