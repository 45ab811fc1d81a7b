"""AnalysisService: proposals, the approver's decisions and reads of analyses (approved custom code).

Every mutation runs once per request_id (`run_idempotent`) and watches the records it decided
on (the analysis, its product), so a change landing in between makes it decide again; the
record and its event (the audit log's raw entry) commit together. The decider is the caller its
certificate binds (mTLS); on a plaintext stack, the `shuniu-operator` call metadata names it.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator

import grpc
import redis.asyncio as aioredis

from shuniu.market import analyses
from shuniu.market.analyses import AnalysisRefusal, AnalysisStore, analysis_key
from shuniu.market.catalog import ProductStore, product_key
from shuniu.protos.metadata import OPERATOR_METADATA
from shuniu.protos.v1 import analyses_pb2, analyses_pb2_grpc, catalog_pb2
from shuniu.scheduler.control_plane import validate
from shuniu.scheduler.control_plane.errors import RequestError, invalid, not_found
from shuniu.scheduler.control_plane.idempotency import fingerprint, run_idempotent
from shuniu.scheduler.control_plane.node_service import refusals
from shuniu.security.caller import current_actor, current_caller

_MAX_ID = 64
_OPERATOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$")
_STATE_NAMES = ", ".join(n.removeprefix("ANALYSIS_STATE_") for n in analyses_pb2.AnalysisState.keys()[1:])


def _now_ms() -> int:
    return int(time.time() * 1000)


@contextlib.contextmanager
def analysis_refusals() -> Iterator[None]:
    """Turns an AnalysisRefusal of the pure rules into the RequestError of its status."""
    try:
        yield
    except AnalysisRefusal as err:
        raise RequestError(getattr(grpc.StatusCode, err.kind), err.message) from None


def _analysis_id(value: str) -> None:
    if not value or len(value) > _MAX_ID:
        raise invalid(f"analysis_id {value!r} is empty or too long; expected an id such as an-018f3a2b4c5d-1a2b3c4d "
                      "(see `shuniu analyses ls`)")


def _decider(context) -> tuple[str | None, str]:
    """(role, name) of the caller under mTLS; (None, the metadata's operator name) on a plaintext stack."""
    caller = current_caller()
    if caller is not None:
        return caller.role, caller.name
    name = dict(context.invocation_metadata() or ()).get(OPERATOR_METADATA, "operator")
    if not _OPERATOR.match(name):
        raise invalid(f"{OPERATOR_METADATA} metadata {name!r} is malformed; expected 1-64 characters of letters, "
                      "digits, '.', '_', '@', ':' or '-'")
    return None, name


class AnalysisService(analyses_pb2_grpc.AnalysisServiceServicer):
    def __init__(self, client: aioredis.Redis, request_id_ttl_s: int) -> None:
        self.redis = client
        self.request_id_ttl_s = request_id_ttl_s
        self.store = AnalysisStore(client)
        self.products = ProductStore(client)

    async def _idempotent(self, rpc: str, request, watch: list[str], plan) -> bytes:
        validate.request_id(request.request_id)
        fp = fingerprint(rpc, request.SerializeToString(deterministic=True))
        raw, _ = await run_idempotent(self.redis, request.request_id, fp, watch, plan, self.request_id_ttl_s)
        return raw

    @staticmethod
    async def _product(pipe, product_id: str) -> catalog_pb2.Product | None:
        raw = await pipe.get(product_key(product_id)) if product_id else None
        return None if raw is None else catalog_pb2.Product.FromString(raw)

    @refusals
    async def ProposeAnalysis(self, request: analyses_pb2.ProposeAnalysisRequest, context):
        spec, now_ms = request.spec, _now_ms()
        if not spec.product_id or len(spec.product_id) > _MAX_ID:
            raise invalid("spec.product_id is empty or too long; expected a listed product's id (`shuniu products ls`)")
        proposer = current_actor()

        async def plan(pipe):
            product = await self._product(pipe, spec.product_id)
            with analysis_refusals():
                stored = analyses.check_proposal(spec, product)
            analysis = analyses.new_analysis(analyses.new_analysis_id(now_ms), request.request_id, stored, product,
                                             proposer, now_ms)

            def writes(p):
                analyses.queue_analysis_write(p, analysis, analyses_pb2.ANALYSIS_STATE_UNSPECIFIED, now_ms)

            return writes, analyses_pb2.ProposeAnalysisResponse(analysis=analysis).SerializeToString()

        raw = await self._idempotent("ProposeAnalysis", request, [product_key(spec.product_id)], plan)
        return analyses_pb2.ProposeAnalysisResponse.FromString(raw)

    async def _decide(self, rpc: str, request, context, change) -> analyses_pb2.Analysis:
        """One decision on a stored analysis by the product's approver, stored with its event; once per request_id."""
        validate.request_id(request.request_id)
        _analysis_id(request.analysis_id)
        role, name = _decider(context)
        current = await self.store.get(request.analysis_id)
        if current is None:
            raise not_found(f"analysis {request.analysis_id!r} not found; see `shuniu analyses ls`")
        now_ms = _now_ms()

        async def plan(pipe):
            raw = await pipe.get(analysis_key(request.analysis_id))
            before = analyses_pb2.Analysis.FromString(raw)
            product = await self._product(pipe, before.spec.product_id)
            if product is None:
                raise not_found(f"product {before.spec.product_id!r} of analysis {before.analysis_id} not found")
            with analysis_refusals():
                analyses.check_decider(product, role, name)
                after = change(before, name, now_ms)

            def writes(p):
                analyses.queue_analysis_write(p, after, before.state, now_ms)

            return writes, after.SerializeToString()

        watch = [analysis_key(request.analysis_id), product_key(current.spec.product_id)]
        return analyses_pb2.Analysis.FromString(await self._idempotent(rpc, request, watch, plan))

    @refusals
    async def ApproveAnalysis(self, request: analyses_pb2.ApproveAnalysisRequest, context):
        analysis = await self._decide("ApproveAnalysis", request, context, lambda a, name, now_ms: analyses.approve(
            a, decider=name, reviewed_sha256=request.code_sha256, note=request.note, now_ms=now_ms))
        return analyses_pb2.ApproveAnalysisResponse(analysis=analysis)

    @refusals
    async def RejectAnalysis(self, request: analyses_pb2.RejectAnalysisRequest, context):
        analysis = await self._decide("RejectAnalysis", request, context, lambda a, name, now_ms: analyses.reject(
            a, decider=name, reason=request.reason, now_ms=now_ms))
        return analyses_pb2.RejectAnalysisResponse(analysis=analysis)

    @refusals
    async def GetAnalysis(self, request: analyses_pb2.GetAnalysisRequest, context):
        _analysis_id(request.analysis_id)
        analysis = await self.store.get(request.analysis_id)
        if analysis is None:
            raise not_found(f"analysis {request.analysis_id!r} not found; see `shuniu analyses ls`")
        return analyses_pb2.GetAnalysisResponse(analysis=analysis)

    @refusals
    async def ListAnalyses(self, request: analyses_pb2.ListAnalysesRequest, context):
        if len(request.product_id) > _MAX_ID:
            raise invalid(f"product_id is {len(request.product_id)} characters; expected at most {_MAX_ID}")
        for state in request.states:
            if state not in analyses_pb2.AnalysisState.values() or state == analyses_pb2.ANALYSIS_STATE_UNSPECIFIED:
                raise invalid(f"states has {state}, unknown; expected some of {_STATE_NAMES}")
        page, token, total = await self.store.list(product_id=request.product_id, states=request.states,
                                                   page_size=validate.page_size(request.page_size),
                                                   page_token=request.page_token)
        return analyses_pb2.ListAnalysesResponse(analyses=page, next_page_token=token, total=total)
