"""GrantService: applications, operator decisions, revocation and reads of grants (一场景一申请、一场景一授权).

Every mutation runs once per request_id (`run_idempotent`) and watches what it decided on: the
grant record, the products it names and the negative list, so a change landing in between makes
it decide again. The operator's name is the one its certificate binds (mTLS), or on a plaintext
stack the `shuniu-operator` call metadata.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator

import grpc
import redis.asyncio as aioredis

from shuniu.market import credit, grants
from shuniu.market.analyses import AnalysisStore, analysis_key
from shuniu.market.catalog import ProductStore, product_key
from shuniu.market.grants import GrantPolicy, GrantRefusal, GrantStore, grant_key, jobs_key, usage_key
from shuniu.market.grants import rules
from shuniu.market.negative_list import NEGATIVE_LIST_KEY, NegativeListStore
from shuniu.protos.v1 import catalog_pb2, grants_pb2, grants_pb2_grpc
from shuniu.scheduler.control_plane import validate
from shuniu.scheduler.control_plane.errors import RequestError, invalid, not_found
from shuniu.scheduler.control_plane.idempotency import fingerprint, run_idempotent
from shuniu.protos.metadata import OPERATOR_METADATA
from shuniu.security.caller import current_caller
from shuniu.scheduler.control_plane.node_service import refusals

_DEFAULT_OPERATOR = "operator"
_OPERATOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$")
_MAX_ID = 64
_MAX_ANALYSES_WATCHED = 32  # a longer list is refused by the rules anyway
_CODES = {
    rules.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    rules.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    rules.PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
}
_STATE_NAMES = ", ".join(n.removeprefix("GRANT_STATE_") for n in grants_pb2.GrantState.keys()[1:])


def _now_ms() -> int:
    return int(time.time() * 1000)


@contextlib.contextmanager
def grant_refusals() -> Iterator[None]:
    """Turns a GrantRefusal of the pure rules into the RequestError of its kind."""
    try:
        yield
    except GrantRefusal as err:
        raise RequestError(_CODES[err.kind], err.message) from None


def _grant_id(value: str) -> None:
    if not value or len(value) > _MAX_ID:
        raise invalid(f"grant_id {value!r} is empty or too long; expected an id such as g-018f3a2b4c5d-1a2b3c4d "
                      "(see `shuniu grants ls`)")


def _operator(context) -> str:
    """The deciding operator: the certificate's name under mTLS, else the call's metadata (plaintext stacks)."""
    caller = current_caller()
    if caller is not None:
        return caller.name
    metadata = dict(context.invocation_metadata() or ())
    name = metadata.get(OPERATOR_METADATA, _DEFAULT_OPERATOR)
    if not _OPERATOR.match(name):
        raise invalid(f"{OPERATOR_METADATA} metadata {name!r} is malformed; expected 1-64 characters of letters, "
                      "digits, '.', '_', '@', ':' or '-'")
    return name


def _states(values) -> list[int]:
    for value in values:
        if value not in grants_pb2.GrantState.values() or value == grants_pb2.GRANT_STATE_UNSPECIFIED:
            raise invalid(f"states has {value}, unknown; expected some of {_STATE_NAMES}")
    return list(values)


class GrantService(grants_pb2_grpc.GrantServiceServicer):
    def __init__(self, client: aioredis.Redis, request_id_ttl_s: int, policy: GrantPolicy = GrantPolicy()) -> None:
        self.redis = client
        self.request_id_ttl_s = request_id_ttl_s
        self.policy = policy
        self.grants = GrantStore(client)
        self.products = ProductStore(client)
        self.negative_list = NegativeListStore(client)
        self.credit = credit.CreditStore(client)
        self.analyses = AnalysisStore(client)

    async def _idempotent(self, rpc: str, request, watch: list[str], plan) -> bytes:
        fp = fingerprint(rpc, request.SerializeToString(deterministic=True))
        raw, _ = await run_idempotent(self.redis, request.request_id, fp, watch, plan, self.request_id_ttl_s)
        return raw

    async def _products(self, spec: grants_pb2.GrantSpec) -> dict[str, catalog_pb2.Product]:
        return {p.product_id: p for p in await self.products.get_many(p.product_id for p in spec.products)}

    async def _checked_products(self, spec: grants_pb2.GrantSpec) -> dict[str, catalog_pb2.Product]:
        """The products the spec names, once the spec fits each of them, the negative list and the analyses it
        names (rule approved-analysis)."""
        products = await self._products(spec)
        with grant_refusals():
            grants.check_products(spec, products, await self.negative_list.entries(), self.policy)
            grants.check_analyses(spec, products, await self.analyses.get_many(spec.analysis_ids))
        return products

    async def _stored(self, pipe, grant_id: str) -> grants_pb2.Grant:
        raw = await pipe.get(grant_key(grant_id))
        if raw is None:
            raise not_found(f"grant {grant_id!r} not found; see `shuniu grants ls`")
        return grants_pb2.Grant.FromString(raw)

    async def _with_usage(self, pipe, grant: grants_pb2.Grant) -> grants_pb2.Grant:
        shown = grants_pb2.Grant()
        shown.CopyFrom(grant)
        shown.usage.CopyFrom(grants.usage_from_hash(await pipe.hgetall(usage_key(grant.grant_id))))
        return shown

    # -- mutations ---------------------------------------------------------------------------

    @refusals
    async def ApplyGrant(self, request: grants_pb2.ApplyGrantRequest, context) -> grants_pb2.ApplyGrantResponse:
        validate.request_id(request.request_id)
        spec, now_ms = request.spec, _now_ms()
        watch = [product_key(p.product_id) for p in spec.products[: self.policy.max_products]] + [NEGATIVE_LIST_KEY]
        watch += [analysis_key(a) for a in spec.analysis_ids[:_MAX_ANALYSES_WATCHED]]

        async def plan(pipe):
            with grant_refusals():
                grants.check_fields(spec, now_ms, self.policy)
            products = await self._checked_products(spec)
            decision = grants.decide(spec, products, self.policy, now_ms, await self._credit_hold(pipe, spec.buyer_id,
                                                                                                now_ms))
            grant = grants.new_grant(grants.new_grant_id(now_ms), request.request_id, spec, decision, products, now_ms)

            def writes(p):
                grants.queue_grant_write(p, grant)
                grants.queue_transition(p, grant, grants_pb2.GRANT_STATE_UNSPECIFIED, now_ms)

            return writes, grants_pb2.ApplyGrantResponse(grant=grant).SerializeToString()

        return grants_pb2.ApplyGrantResponse.FromString(await self._idempotent("ApplyGrant", request, watch, plan))

    async def _credit_hold(self, pipe, buyer_id: str, now_ms: int) -> str:
        """Why the buyer's credit (信用) keeps its grants from auto-approval, or ''; its events are watched."""
        await pipe.watch(credit.events_key(buyer_id))
        standing = await self.credit.standing(buyer_id, now_ms, pipe)
        return credit.needs_operator_note(standing, self.credit.policy) if standing.needs_operator else ""

    async def _transition(self, rpc: str, request, extra_watch: list[str], change, respond) -> bytes:
        """One operator decision on a stored grant, stored with its event; once per request_id.

        `change(pipe, grant, now_ms)` returns the changed grant, the jobs to cancel and any writes to queue with them;
        `respond(grant with usage, jobs)` builds the response message.
        """
        validate.request_id(request.request_id)
        _grant_id(request.grant_id)
        now_ms = _now_ms()

        async def plan(pipe):
            grant = await self._stored(pipe, request.grant_id)
            changed, cancel, *more = await change(pipe, grant, now_ms)

            def writes(p):
                grants.queue_grant_write(p, changed)
                grants.queue_transition(p, changed, grant.state, now_ms, cancel_job_ids=cancel)
                for queue in more:
                    queue(p)

            return writes, respond(await self._with_usage(pipe, changed), cancel).SerializeToString()

        return await self._idempotent(rpc, request, [grant_key(request.grant_id), *extra_watch], plan)

    @refusals
    async def ApproveGrant(self, request: grants_pb2.ApproveGrantRequest, context) -> grants_pb2.ApproveGrantResponse:
        operator = _operator(context)
        # The spec never changes, so the products to watch are known before the transaction.
        current = await self.grants.get(request.grant_id) if request.grant_id else None
        named = [product_key(p.product_id) for p in current.spec.products] if current else []
        named += [analysis_key(a) for a in current.spec.analysis_ids] if current else []

        async def change(pipe, grant, now_ms):
            with grant_refusals():
                grants.require_state(grant, grants_pb2.GRANT_STATE_PENDING, "approved", now_ms)
            # The catalog or the negative list may have changed since the application.
            products = await self._checked_products(grant.spec)
            with grant_refusals():
                return grants.approve(grant, operator=operator, note=request.note, products=products,
                                      now_ms=now_ms), []

        raw = await self._transition("ApproveGrant", request, [*named, NEGATIVE_LIST_KEY], change,
                                     lambda grant, _: grants_pb2.ApproveGrantResponse(grant=grant))
        return grants_pb2.ApproveGrantResponse.FromString(raw)

    @refusals
    async def RejectGrant(self, request: grants_pb2.RejectGrantRequest, context) -> grants_pb2.RejectGrantResponse:
        operator = _operator(context)

        async def change(pipe, grant, now_ms):
            with grant_refusals():
                return grants.reject(grant, operator=operator, reason=request.reason, now_ms=now_ms), []

        raw = await self._transition("RejectGrant", request, [], change,
                                     lambda grant, _: grants_pb2.RejectGrantResponse(grant=grant))
        return grants_pb2.RejectGrantResponse.FromString(raw)

    @refusals
    async def RevokeGrant(self, request: grants_pb2.RevokeGrantRequest, context) -> grants_pb2.RevokeGrantResponse:
        operator = _operator(context)

        async def change(pipe, grant, now_ms):
            with grant_refusals():
                revoked = grants.revoke(grant, operator=operator, reason=request.reason, now_ms=now_ms)
            # Not watched: jobs starting all the time would make the revocation retry forever.
            # The event lists the jobs known now; the answer lists them again after the commit.
            # The buyer's credit event (信用) commits with the revocation: one per grant, never two.
            event = credit.system_event(grant.spec.buyer_id, credit.GRANT_REVOKED, grant.grant_id,
                                        revoked.state_reason, now_ms)
            return (revoked, sorted(j.decode() for j in await pipe.smembers(jobs_key(request.grant_id))),
                    lambda p: credit.queue_event(p, event))

        raw = await self._transition(
            "RevokeGrant", request, [], change,
            lambda grant, jobs: grants_pb2.RevokeGrantResponse(grant=grant, cancelled_job_ids=jobs))
        response = grants_pb2.RevokeGrantResponse.FromString(raw)
        # Once the revocation is stored no job can start under the grant (a start watches the
        # grant record), so the set read now holds every job that started before it.
        running = await self.grants.running_jobs(request.grant_id)
        del response.cancelled_job_ids[:]
        response.cancelled_job_ids.extend(sorted(running))
        return response

    # -- reads -------------------------------------------------------------------------------

    @refusals
    async def GetGrant(self, request: grants_pb2.GetGrantRequest, context) -> grants_pb2.GetGrantResponse:
        _grant_id(request.grant_id)
        grant = await self.grants.get(request.grant_id, _now_ms())
        if grant is None:
            raise not_found(f"grant {request.grant_id!r} not found; see `shuniu grants ls`")
        return grants_pb2.GetGrantResponse(grant=grant)

    @refusals
    async def ListGrants(self, request: grants_pb2.ListGrantsRequest, context) -> grants_pb2.ListGrantsResponse:
        if len(request.buyer_id) > 128 or len(request.product_id) > _MAX_ID:
            raise invalid("buyer_id or product_id too long; expected at most 128 and 64 characters")
        page, token, total = await self.grants.list(
            now_ms=_now_ms(), buyer_id=request.buyer_id, states=_states(request.states),
            product_id=request.product_id, page_size=validate.page_size(request.page_size),
            page_token=request.page_token,
        )
        return grants_pb2.ListGrantsResponse(grants=page, next_page_token=token, total=total)
