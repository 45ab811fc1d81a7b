"""Request-id idempotency for every mutating RPC: a change and its idempotency record commit together."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Sequence

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


def replayed(request_id: str, fp: bytes, prior: list) -> bytes | None:
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
                prior = replayed(request_id, fp, await pipe.hmget(req_key, "fp", "resp"))
                if prior is not None:
                    await pipe.unwatch()
                    return prior, True
                queue_writes, response = await plan(pipe)
                pipe.multi()
                queue_writes(pipe)
                queue_idempotency_record(pipe, request_id, fp, response, ttl_s)
                await pipe.execute()
                return response, False
            except WatchError:
                continue


async def prior_responses(client: aioredis.Redis, requests: Sequence[tuple[str, bytes]]
                          ) -> list[bytes | None | RequestError]:
    """The stored answers of earlier requests with these ids (each checked against its fingerprint;
    None when new), in one round trip, so a retry is answered before any work is redone; a reused
    id with a different body yields its RequestError in place."""
    async with client.pipeline(transaction=False) as pipe:
        for request_id, _ in requests:
            pipe.hmget(request_key(request_id), "fp", "resp")
        replies = await pipe.execute()
    found: list[bytes | None | RequestError] = []
    for (request_id, fp), reply in zip(requests, replies):
        try:
            found.append(replayed(request_id, fp, reply))
        except RequestError as err:
            found.append(err)
    return found


def queue_idempotency_record(pipe: aioredis.client.Pipeline, request_id: str, fp: bytes, response: bytes,
                             ttl_s: int) -> None:
    """Queues the answer to a request id, for a change that no other request of that id can race
    (see `jobs.submit_rounds`); `run_idempotent` does the same under WATCH."""
    req_key = request_key(request_id)
    pipe.hset(req_key, mapping={"fp": fp, "resp": response})
    pipe.expire(req_key, ttl_s)
