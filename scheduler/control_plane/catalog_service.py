"""CatalogService: registration, verification, review, delisting, prices and rights of data products.

Registration certificates (数据产权登记凭证) follow every product change in the same transaction
(certificate_desk.py): listing issues version 1, a rights change the next version, delisting
revokes. Certificate reads, verification and the DCAT export delegate to the desk.
"""

from __future__ import annotations

import bisect
import contextlib
import time
import uuid
from collections.abc import Callable, Iterator

import grpc
import redis.asyncio as aioredis

from shuniu.market import catalog, negative_list
from shuniu.market.catalog import CatalogError, ProductStore, certificate_keys, product_key, queue_product_write
from shuniu.market.catalog.rights_change import apply_rights_change
from shuniu.market.negative_list import NEGATIVE_LIST_KEY
from shuniu.nodes import topology
from shuniu.protos.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2, negative_list_pb2
from shuniu.scheduler.control_plane import validate
from shuniu.scheduler.control_plane.certificate_desk import CertificateDesk
from shuniu.scheduler.control_plane.errors import RequestError, failed_precondition, invalid, not_found
from shuniu.scheduler.control_plane.idempotency import fingerprint, run_idempotent
from shuniu.scheduler.control_plane.node_service import refusals
from shuniu.scheduler.control_plane.node_store import node_key
from shuniu.security.caller import current_actor

PRODUCT_EVENTS_KEY = "shuniu:events:products"
_EVENTS_MAXLEN = 100_000
_CODES = {
    catalog.errors.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    catalog.errors.PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    catalog.errors.DENIED: grpc.StatusCode.PERMISSION_DENIED,
}


def _now_ms() -> int:
    return int(time.time() * 1000)


@contextlib.contextmanager
def catalog_refusals() -> Iterator[None]:
    """Turns a CatalogError of the pure rules into the RequestError of its kind."""
    try:
        yield
    except CatalogError as err:
        raise RequestError(_CODES[err.kind], err.message) from None


def _product_id(value: str) -> None:
    if not value or len(value) > 64:
        raise invalid("product_id is empty or too long; expected an id such as prd-3f9a2c41d07e (see `shuniu products ls`)")


def queue_product_event(pipe, product: catalog_pb2.Product, old_state: int, now_ms: int) -> None:
    # A new product comes from no state: "from" is empty.
    pipe.xadd(PRODUCT_EVENTS_KEY, {"product_id": product.product_id,
                                   "from": catalog.state_name(old_state) if old_state else "",
                                   "to": catalog.state_name(product.state), "reason": product.state_reason,
                                   "unix_ms": now_ms, "actor": current_actor()},
              maxlen=_EVENTS_MAXLEN, approximate=True)


def refuse_by_negative_list(entries: list[negative_list_pb2.NegativeListEntry], spec: catalog_pb2.ProductSpec) -> None:
    entry = negative_list.refusal_for_product(entries, spec)
    if entry is not None:
        raise failed_precondition(negative_list.refusal_message(entry))


async def _entries(pipe) -> list[negative_list_pb2.NegativeListEntry]:
    raw = await pipe.hgetall(NEGATIVE_LIST_KEY)
    return [negative_list_pb2.NegativeListEntry.FromString(v) for v in raw.values()]


class CatalogService(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, client: aioredis.Redis, request_id_ttl_s: int) -> None:
        self.redis = client
        self.store = ProductStore(client)
        self.request_id_ttl_s = request_id_ttl_s
        self._site_ids = frozenset(topology.site_ids())
        self.certs = CertificateDesk(client, certificate_keys.load_or_create())

    async def _idempotent(self, rpc: str, request, watch: list[str], plan) -> tuple[bytes, bool]:
        validate.request_id(request.request_id)
        return await run_idempotent(self.redis, request.request_id,
                                    fingerprint(rpc, request.SerializeToString(deterministic=True)),
                                    watch, plan, self.request_id_ttl_s)

    @refusals
    async def RegisterProduct(self, request: catalog_pb2.RegisterProductRequest, context):
        validate.request_id(request.request_id)
        with catalog_refusals():
            catalog.check_spec(request.spec, self._site_ids)
        domain = list(request.spec.domain_node_ids)
        now_ms = _now_ms()

        async def plan(pipe):
            refuse_by_negative_list(await _entries(pipe), request.spec)
            for i, node_id in enumerate(domain):
                if not await pipe.exists(node_key(node_id)):
                    raise failed_precondition(f"spec.domain_node_ids[{i}] {node_id!r} is not a registered node; "
                                              "expected nodes of the fleet (`shuniu nodes ls`)")
            product = catalog.register(f"prd-{uuid.uuid4().hex[:12]}", request.spec, now_ms)

            def writes(p):
                queue_product_write(p, product, new_price=True)
                queue_product_event(p, product, catalog_pb2.PRODUCT_STATE_UNSPECIFIED, now_ms)

            return writes, catalog_pb2.RegisterProductResponse(product=product).SerializeToString()

        raw, _ = await self._idempotent("RegisterProduct", request, [NEGATIVE_LIST_KEY, *map(node_key, domain)], plan)
        return catalog_pb2.RegisterProductResponse.FromString(raw)

    async def _change(self, rpc: str, request, change: Callable[[catalog_pb2.Product, int], catalog_pb2.Product],
                      respond: Callable[[catalog_pb2.Product, catalog_pb2.Certificate | None], bytes],
                      new_price: bool = False, valid_until_ms: int = 0) -> bytes:
        """Applies `change` to one product under WATCH, with its event and certificate, once per request id."""
        validate.request_id(request.request_id)
        _product_id(request.product_id)
        now_ms = _now_ms()

        async def plan(pipe):
            raw = await pipe.get(product_key(request.product_id))
            if raw is None:
                raise not_found(f"product {request.product_id!r} not found; see `shuniu products ls`")
            before = catalog_pb2.Product.FromString(raw)
            with catalog_refusals():
                after = change(before, now_ms)
                after, certificate_writes, certificate = await self.certs.follow(
                    pipe, before, after, now_ms, valid_until_ms=valid_until_ms, reason=getattr(request, "reason", ""))

            def writes(p):
                queue_product_write(p, after, new_price=new_price)
                if after.state != before.state:
                    queue_product_event(p, after, before.state, now_ms)
                certificate_writes(p)

            return writes, respond(after, certificate)

        raw, _ = await self._idempotent(rpc, request, [product_key(request.product_id)], plan)
        return raw

    @refusals
    async def ReportVerification(self, request: catalog_pb2.ReportVerificationRequest, context):
        validate.node_id(request.verification.node_id)
        raw = await self._change(
            "ReportVerification", request,
            lambda p, now_ms: catalog.apply_verification(p, request.verification, now_ms),
            lambda p, _: catalog_pb2.ReportVerificationResponse(product=p).SerializeToString())
        return catalog_pb2.ReportVerificationResponse.FromString(raw)

    @refusals
    async def ReviewProduct(self, request: catalog_pb2.ReviewProductRequest, context):
        raw = await self._change(
            "ReviewProduct", request, lambda p, now_ms: catalog.apply_review(p, request.approve, request.reason, now_ms),
            lambda p, c: catalog_pb2.ReviewProductResponse(product=p, certificate=c).SerializeToString(),
            valid_until_ms=request.certificate_valid_until_unix_ms)
        return catalog_pb2.ReviewProductResponse.FromString(raw)

    @refusals
    async def DelistProduct(self, request: catalog_pb2.DelistProductRequest, context):
        raw = await self._change(
            "DelistProduct", request, lambda p, now_ms: catalog.apply_delist(p, request.reason, now_ms),
            lambda p, _: catalog_pb2.DelistProductResponse(product=p).SerializeToString())
        return catalog_pb2.DelistProductResponse.FromString(raw)

    @refusals
    async def UpdateProductPrice(self, request: catalog_pb2.UpdateProductPriceRequest, context):
        raw = await self._change(
            "UpdateProductPrice", request, lambda p, now_ms: catalog.apply_price(p, request.pricing, now_ms),
            lambda p, _: catalog_pb2.UpdateProductPriceResponse(product=p).SerializeToString(), new_price=True)
        return catalog_pb2.UpdateProductPriceResponse.FromString(raw)

    @refusals
    async def UpdateProductRights(self, request: catalog_pb2.UpdateProductRightsRequest, context):
        raw = await self._change(
            "UpdateProductRights", request,
            lambda p, now_ms: apply_rights_change(p, request.kind, request.rights, request.reason, now_ms),
            lambda p, c: catalog_pb2.UpdateProductRightsResponse(product=p, certificate=c).SerializeToString())
        return catalog_pb2.UpdateProductRightsResponse.FromString(raw)

    # -- reads -------------------------------------------------------------------------------

    @refusals
    async def GetProduct(self, request: catalog_pb2.GetProductRequest, context):
        _product_id(request.product_id)
        product = await self.store.get(request.product_id)
        if product is None:
            raise not_found(f"product {request.product_id!r} not found; see `shuniu products ls`")
        if request.price_version:
            pricing = await self.store.get_pricing(request.product_id, request.price_version)
            if pricing is None:
                raise not_found(f"price_version {request.price_version} of product {request.product_id} unknown; "
                                f"expected 1 to {product.spec.pricing.price_version}")
            product.spec.pricing.CopyFrom(pricing)
        return catalog_pb2.GetProductResponse(product=product)

    @refusals
    async def ListProducts(self, request: catalog_pb2.ListProductsRequest, context):
        for state in request.states:
            if state not in catalog.STATE_NAMES:
                raise invalid(f"states has {state}; expected some of "
                              + ", ".join(f"{n} ({v})" for v, n in catalog.STATE_NAMES.items()))
        if request.grade and request.grade not in common_pb2.ClassificationGrade.values():
            raise invalid(f"grade {request.grade} unknown; expected public (1), internal (2), sensitive (3) or core (4)")
        size = validate.page_size(request.page_size)
        states = set(request.states)
        matching = [
            p for p in await self.store.all()
            if (not request.holder_id or p.spec.holder_id == request.holder_id)
            and (not states or p.state in states)
            and (not request.grade or p.spec.grade == request.grade)
            and (not request.category or p.spec.category == request.category)
        ]
        ids = [p.product_id for p in matching]
        start = bisect.bisect_right(ids, request.page_token) if request.page_token else 0
        page = matching[start:start + size]
        more = start + size < len(matching)
        return catalog_pb2.ListProductsResponse(products=page, next_page_token=page[-1].product_id if more else "",
                                                total=len(matching))

    # -- certificates and the export (certificate_desk.py) --------------------------------------

    @refusals
    async def GetCertificate(self, request: catalog_pb2.GetCertificateRequest, context):
        return await self.certs.get(request)

    @refusals
    async def ListCertificateVersions(self, request: catalog_pb2.ListCertificateVersionsRequest, context):
        return await self.certs.list_versions(request)

    @refusals
    async def VerifyCertificate(self, request: catalog_pb2.VerifyCertificateRequest, context):
        return await self.certs.verify(request)

    @refusals
    async def ExportCatalog(self, request: catalog_pb2.ExportCatalogRequest, context):
        return await self.certs.export()
