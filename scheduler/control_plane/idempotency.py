"""Request-id idempotency for every mutating RPC: a change and its idempotency record commit together."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable

import grpc
import redis.asyncio as aioredis
from redis.exceptions import WatchError

from shuniu.scheduler.control_plane.errors import RequestError

# A mutation plan reads inside WATCH and returns the writes to queue plus the response bytes.
Plan = Callable[[aioredis.client.Pipeline], Awaitable[tuple[Callable[[aioredis.client.Pipeline], None], bytes]]]


def request_key(request_id: str) -> str:
    return f"shuniu:req:{request_id}"


def fingerprint(rpc: str, request_bytes: bytes) -> bytes:
    return hashlib.sha256(rpc.encode() + b"\0" + request_bytes).digest()


def _replayed(request_id: str, fp: bytes, prior: list) -> bytes | None:
    """The first answer to this request id, or None when it is new; a different body is refused."""
    if prior[0] is None:
        return None
    if prior[0] != fp:
        raise RequestError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"request_id {request_id!r} was already used for a different request; "
            "use a new request_id for a new change",
        )
    return prior[1]


async def prior_response(client: aioredis.Redis, request_id: str, fp: bytes) -> bytes | None:
    """The stored answer of an earlier request with this id (checked against `fp`), or None.

    Lets a handler answer a retry before doing work the first request already did.
    """
    return _replayed(request_id, fp, await client.hmget(request_key(request_id), "fp", "resp"))


async def run_idempotent(
    client: aioredis.Redis, request_id: str, fp: bytes, watch: Iterable[str], plan: Plan, ttl_s: int
) -> tuple[bytes, bool]:
    """Runs `plan` once per request id, atomically with its idempotency record.

    Returns (response bytes, replayed). A replay with a different request body is refused,
    so one id can never stand for two different changes. `plan` may raise `RequestError`
    to refuse the request; nothing is then written.
    """
    req_key = request_key(request_id)
    async with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(req_key, *watch)
                replayed = _replayed(request_id, fp, await pipe.hmget(req_key, "fp", "resp"))
                if replayed is not None:
                    await pipe.unwatch()
                    return replayed, True
                queue_writes, response = await plan(pipe)
                pipe.multi()
                queue_writes(pipe)
                pipe.hset(req_key, mapping={"fp": fp, "resp": response})
                pipe.expire(req_key, ttl_s)
                await pipe.execute()
                return response, False
            except WatchError:
                continue
