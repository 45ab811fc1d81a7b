"""The control plane's gate under mTLS: who is calling, may they call this, and is it theirs.

For every RPC of every shape it reads the client certificate gRPC verified, binds the caller
(security.caller, which the audit log reads), checks the method's rule in security/roles.py
(the role, then the request's own fields, then stored ownership, then, for Get-style calls, the
response) and refuses with PERMISSION_DENIED naming the rule. Checks that refuse run before the
handler, so a refused call changes nothing stored. Installed only when TLS is configured.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import redis.asyncio as aioredis
from shuniu.market.analyses.store import analysis_key
from shuniu.market.catalog import product_key
from shuniu.market.grants.store import grant_key
from shuniu.protos.v1 import analyses_pb2, catalog_pb2, grants_pb2, jobs_pb2, nodes_pb2
from shuniu.scheduler.control_plane.node_store import node_key
from shuniu.scheduler.jobs.store import JobStore, job_key
from shuniu.scheduler.retention.cold import ColdStores
from shuniu.security import roles
from shuniu.security.caller import Caller, reset_caller, set_caller
from shuniu.security.pki import Identity, identity_from_pem

_DENIED = grpc.StatusCode.PERMISSION_DENIED
_MAX_CACHED_IDENTITIES = 10_000

# resource -> (key of its record, message type, the owners read from it)
_OWNERSHIP: dict[str, tuple[Callable[[str], str], type, Callable[[object], tuple[str, ...]]]] = {
    "job": (job_key, jobs_pb2.Job, lambda m: (m.buyer_id,)),
    "grant": (grant_key, grants_pb2.Grant, lambda m: (m.spec.buyer_id,)),
    "product": (product_key, catalog_pb2.Product, lambda m: (m.spec.holder_id,)),
    "product_domain": (product_key, catalog_pb2.Product, lambda m: tuple(m.spec.domain_node_ids)),
    "node": (node_key, nodes_pb2.Node, lambda m: (m.compute_center,)),
    # An analysis belongs to the holder of its product (who approves it unless the product's policy says operator).
    "analysis": (analysis_key, analyses_pb2.Analysis, lambda m: (m.holder_id,)),
}


class OwnerLookup:
    """Reads who owns a stored job, grant, product or node from Redis, the system of record."""

    def __init__(self, redis: aioredis.Redis, cold: ColdStores | None = None) -> None:
        self.redis = redis
        self.jobs = JobStore(redis, cold)

    async def owners(self, resource: str, resource_id: str) -> tuple[str, ...] | None:
        key, message_type, read = _OWNERSHIP[resource]
        if resource == "job":  # a finished job may have moved to the cold store (scheduler/retention)
            job = await self.jobs.get(resource_id) if resource_id else None
            return None if job is None else read(job)
        raw = await self.redis.get(key(resource_id)) if resource_id else None
        if raw is None:
            return None
        message = message_type()
        message.ParseFromString(raw)
        return read(message)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates by client certificate and enforces roles.RULES on every non-open method."""

    def __init__(self, lookup: OwnerLookup) -> None:
        self.lookup = lookup
        self._identities: dict[bytes, Identity] = {}

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None or roles.is_open(details.method):
            return handler
        method = details.method
        kwargs = {"request_deserializer": handler.request_deserializer,
                  "response_serializer": handler.response_serializer}
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(self._unary_unary(method, handler.unary_unary), **kwargs)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(self._unary_stream(method, handler.unary_stream), **kwargs)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(self._stream_unary(method, handler.stream_unary), **kwargs)
        return grpc.stream_stream_rpc_method_handler(self._stream_stream(method, handler.stream_stream), **kwargs)

    # -- the checks ------------------------------------------------------------------------

    def _identity(self, context) -> Identity:
        pems = context.auth_context().get("x509_pem_cert")
        if not pems:
            raise roles.Denied("rule certificate: the call carries no client certificate; "
                               "expected one issued by the exchange's CA (`shuniu ca issue`)")
        pem = pems[0]
        identity = self._identities.get(pem)
        if identity is None:
            try:
                identity = identity_from_pem(pem)
            except ValueError as err:
                raise roles.Denied(f"rule certificate: {err}") from None
            if len(self._identities) >= _MAX_CACHED_IDENTITIES:
                self._identities.clear()
            self._identities[pem] = identity
        return identity

    def _enter(self, method: str, context) -> tuple[Identity, tuple[roles.Check, ...]]:
        identity = self._identity(context)
        claim = None
        for key, value in context.invocation_metadata() or ():
            if key == roles.ROLE_CLAIM_HEADER:
                claim = value
        return identity, roles.checks_for(method, identity, claim)

    async def _check_request(self, checks, identity: Identity, request) -> None:
        for lookup in roles.apply_request_checks(checks, identity, request):
            resource_id = roles.get_path(request, lookup.path)
            roles.check_owner(lookup, identity, resource_id, await self.lookup.owners(lookup.resource, resource_id))

    # -- one wrapper per RPC shape -----------------------------------------------------------

    def _unary_unary(self, method: str, inner: Callable) -> Callable[..., Awaitable]:
        async def behavior(request, context):
            with _refusals() as refused:
                identity, checks = self._enter(method, context)
                token = set_caller(Caller(identity.name, identity.role))
                try:
                    await self._check_request(checks, identity, request)
                    response = await _awaited(inner(request, context))
                    roles.check_response(roles.response_checks(checks), identity, response)
                    return response
                finally:
                    reset_caller(token)
            await context.abort(_DENIED, refused.message)
        return behavior

    def _unary_stream(self, method: str, inner: Callable) -> Callable[..., AsyncIterator]:
        async def behavior(request, context):
            with _refusals() as refused:
                identity, checks = self._enter(method, context)
                set_caller(Caller(identity.name, identity.role))  # this RPC's task ends with the call
                await self._check_request(checks, identity, request)
                async for response in _checked_answers(inner(request, context), checks, identity):
                    yield response
                return
            await context.abort(_DENIED, refused.message)
        return behavior

    def _checked_stream(self, requests: AsyncIterator, checks, identity: Identity, context) -> AsyncIterator:
        async def checked():
            async for request in requests:
                with _refusals() as refused:
                    await self._check_request(checks, identity, request)
                    yield request
                    continue
                await context.abort(_DENIED, refused.message)
        return checked()

    def _stream_unary(self, method: str, inner: Callable) -> Callable[..., Awaitable]:
        async def behavior(requests, context):
            with _refusals() as refused:
                identity, checks = self._enter(method, context)
                set_caller(Caller(identity.name, identity.role))
                response = await _awaited(inner(self._checked_stream(requests, checks, identity, context), context))
                roles.check_response(roles.response_checks(checks), identity, response)
                return response
            await context.abort(_DENIED, refused.message)
        return behavior

    def _stream_stream(self, method: str, inner: Callable) -> Callable[..., AsyncIterator]:
        async def behavior(requests, context):
            with _refusals() as refused:
                identity, checks = self._enter(method, context)
                set_caller(Caller(identity.name, identity.role))
                result = inner(self._checked_stream(requests, checks, identity, context), context)
                async for response in _checked_answers(result, checks, identity):
                    yield response
                return
            await context.abort(_DENIED, refused.message)
        return behavior


class _Refusal:
    message = ""


@contextlib.contextmanager
def _refusals():
    """Catches a roles.Denied raised by a check and keeps its message, for the caller to abort with."""
    refusal = _Refusal()
    try:
        yield refusal
    except roles.Denied as err:
        refusal.message = str(err)


async def _checked_answers(result, checks, identity: Identity) -> AsyncIterator:
    """The responses of a streaming handler, each checked; nothing when it writes with context.write."""
    if not hasattr(result, "__aiter__"):
        await result
        return
    answer = roles.response_checks(checks)
    async for response in result:
        roles.check_response(answer, identity, response)
        yield response


async def _awaited(value):
    return await value if inspect.isawaitable(value) else value
