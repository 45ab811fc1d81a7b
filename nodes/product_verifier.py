"""ProductVerifier: a node agent's loop that verifies newly registered products whose files it holds.

It polls the catalog for REGISTERED products, verifies those whose domain includes one of its
nodes and whose files that node holds, and reports each verification once. The report's
request id is fixed per product and node, and a lost answer is retried with the very same
request, so a retry can never count as a second verification.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection

import grpc

from shuniu.nodes.product_verify import holds_all_files, verify_product
from shuniu.protos.v1 import catalog_pb2, catalog_pb2_grpc

log = logging.getLogger("shuniu.product_verifier")
_PAGE_SIZE = 200
# Outcomes after which a report must not be sent again: the catalog has decided.
_FINAL_CODES = (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED,
                grpc.StatusCode.INVALID_ARGUMENT)


def report_request_id(product_id: str, node_id: str) -> str:
    return f"verify-{product_id}-{node_id}"


class ProductVerifier:
    """Verifies for the nodes in `node_ids` (one for a real agent, many for a simulated fleet)."""

    def __init__(self, node_ids: Collection[str], channel: grpc.aio.Channel, *, interval_s: float = 5.0,
                 verify: Callable[[catalog_pb2.ProductSpec, str], catalog_pb2.ProductVerification] = verify_product,
                 timeout_s: float = 10.0) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s is {interval_s}; expected > 0")
        self._node_ids = frozenset(node_ids)
        self.stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        self.interval_s = interval_s
        self.verify = verify
        self.timeout_s = timeout_s
        # product id -> the report built for it, re-sent unchanged until the catalog answers
        self._pending: dict[str, catalog_pb2.ReportVerificationRequest] = {}
        self._done: set[str] = set()
        self.reported: list[catalog_pb2.Product] = []

    async def run(self, stop: asyncio.Event) -> None:
        """Polls every `interval_s` until `stop` is set; an unreachable catalog is retried next round."""
        while not stop.is_set():
            try:
                await self.poll_once()
            except grpc.aio.AioRpcError as err:
                log.info("product verification round failed: %s: %s", err.code().name, err.details())
            try:
                await asyncio.wait_for(stop.wait(), self.interval_s)
            except asyncio.TimeoutError:
                pass

    async def _registered(self) -> list[catalog_pb2.Product]:
        products, token = [], ""
        while True:
            page = await self.stub.ListProducts(
                catalog_pb2.ListProductsRequest(states=[catalog_pb2.PRODUCT_STATE_REGISTERED], page_size=_PAGE_SIZE,
                                                page_token=token), timeout=self.timeout_s)
            products += page.products
            token = page.next_page_token
            if not token:
                return products

    def _verifying_node(self, spec: catalog_pb2.ProductSpec) -> str | None:
        mine = (n for n in sorted(spec.domain_node_ids) if n in self._node_ids)
        return next((n for n in mine if holds_all_files(spec, n)), None)

    async def poll_once(self) -> int:
        """One round: verifies and reports every registered product this verifier can check; returns how many."""
        reported = 0
        for product in await self._registered():
            if product.product_id in self._done:
                continue
            request = self._pending.get(product.product_id)
            if request is None:
                node_id = self._verifying_node(product.spec)
                if node_id is None:
                    continue
                # Hashing reads every byte of the files: off the event loop, so heartbeats keep flowing.
                verification = await asyncio.to_thread(self.verify, product.spec, node_id)
                request = catalog_pb2.ReportVerificationRequest(
                    request_id=report_request_id(product.product_id, node_id), product_id=product.product_id,
                    verification=verification)
                self._pending[product.product_id] = request
            if await self._report(request):
                reported += 1
        return reported

    async def _report(self, request: catalog_pb2.ReportVerificationRequest) -> bool:
        try:
            response = await self.stub.ReportVerification(request, timeout=self.timeout_s)
        except grpc.aio.AioRpcError as err:
            if err.code() not in _FINAL_CODES:
                raise
            log.info("verification of %s not taken: %s: %s", request.product_id, err.code().name, err.details())
            self._pending.pop(request.product_id, None)
            self._done.add(request.product_id)
            return False
        self._pending.pop(request.product_id, None)
        self._done.add(request.product_id)
        self.reported.append(response.product)
        log.info("product %s verified on %s: %s", request.product_id, request.verification.node_id,
                 catalog_pb2.ProductState.Name(response.product.state))
        return True
