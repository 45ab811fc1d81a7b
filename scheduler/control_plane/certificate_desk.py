"""The certificate side of CatalogService: issue on listing, new versions on rights changes, revocation, reads.

CatalogService calls `follow` inside the WATCH of every product change, so a certificate version
and the product record that names it commit in one MULTI; the read RPCs delegate here.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import redis.asyncio as aioredis

from shuniu.market.catalog import DELISTED, LISTED, ProductStore, certificates, dcat
from shuniu.market.catalog.certificate_store import (
    CertificateStore, certificate_key, queue_certificate_write, queue_revocation,
)
from shuniu.protos.v1 import catalog_pb2
from shuniu.scheduler.control_plane.errors import exhausted, invalid, not_found
from shuniu.security import signing
from shuniu.security.caller import current_actor

C = catalog_pb2
Writes = Callable[[aioredis.client.Pipeline], None]
_MAX_ID = 64
# Clients receive at most 4 MiB in one message by default; ~1.7 kB a product fits about 2,400 products.
MAX_EXPORT_BYTES = 4 * 1024 * 1024 - 1024


def _no_writes(pipe) -> None:
    return None


def _now_ms() -> int:
    return int(time.time() * 1000)


def _check_id(value: str, field: str, example: str) -> None:
    if not value or len(value) > _MAX_ID:
        raise invalid(f"{field} is empty or too long; expected an id such as {example}")


class CertificateDesk:
    """Issues, revokes and reads certificates with the exchange's certificate-signing key."""

    def __init__(self, client: aioredis.Redis, key: signing.SigningKey) -> None:
        self.store = CertificateStore(client)
        self.products = ProductStore(client)
        self.key = key
        self.public_keys = {key.key_id: key.public_raw}

    async def follow(self, pipe, before: C.Product, after: C.Product, now_ms: int, *, valid_until_ms: int = 0,
                     reason: str = "") -> tuple[C.Product, Writes, C.Certificate | None]:
        """What a product change means for its certificate: listing issues version 1, a rights change of a
        listed product the next version, delisting revokes. Raises CatalogError on an unusable validity."""
        actor = current_actor()
        if after.state == LISTED and before.state != LISTED:
            until_ms = certificates.valid_until(now_ms, valid_until_ms)
            cert_id = certificates.certificate_id(uuid.uuid4().bytes)
            cert = certificates.sign(certificates.first_version(after, cert_id, now_ms, until_ms), self.key)
        elif after.state == LISTED and after.spec.rights != before.spec.rights:
            raw = await pipe.hget(certificate_key(before.certificate_id), str(before.certificate_version))
            assert raw is not None, f"listed product {before.product_id} lacks its certificate"
            previous = C.Certificate.FromString(raw)
            cert = certificates.sign(certificates.next_version(previous, after, now_ms), self.key)
        elif after.state == DELISTED and before.state != DELISTED and before.certificate_id:
            return after, lambda p: queue_revocation(p, before.certificate_id, after.product_id, after.state_reason,
                                                     actor, now_ms), None
        else:
            return after, _no_writes, None
        out = C.Product()
        out.CopyFrom(after)
        out.certificate_id, out.certificate_version = cert.certificate_id, cert.version
        cert.state = certificates.VALID
        return out, lambda p: queue_certificate_write(p, cert, actor, now_ms, reason), cert

    async def _record(self, cert: C.Certificate) -> certificates.Record:
        known = len(cert.certificate_id) <= _MAX_ID and cert.version > 0
        versions = await self.store.versions(cert.certificate_id) if known else []
        stored = next((v for v in versions if v.version == cert.version), None)
        product = await self.products.get(cert.product_id) if 0 < len(cert.product_id) <= _MAX_ID else None
        revoked = await self.store.revoked_reason(cert.certificate_id) if versions else None
        return certificates.Record(stored, versions[0].version if versions else 0, revoked, product)

    async def _with_standing(self, cert: C.Certificate) -> tuple[C.Certificate, certificates.Verdict]:
        verdict = certificates.standing(cert, self.public_keys, await self._record(cert), _now_ms())
        out = C.Certificate()
        out.CopyFrom(cert)
        out.state = verdict.state
        out.compact = certificates.encode_compact(cert)
        return out, verdict

    async def get(self, request: C.GetCertificateRequest) -> C.GetCertificateResponse:
        if request.version < 0:
            raise invalid(f"version is {request.version}; expected 0 (the latest) or a version number from 1")
        cert_id = request.certificate_id
        if not cert_id:
            _check_id(request.product_id, "product_id (or certificate_id)", "prd-3f9a2c41d07e")
            product = await self.products.get(request.product_id)
            if product is None:
                raise not_found(f"product {request.product_id!r} not found; see `shuniu products ls`")
            if not product.certificate_id:
                raise not_found(f"product {request.product_id} has no certificate; one is issued when it is listed")
            cert_id = product.certificate_id
        _check_id(cert_id, "certificate_id", "cert-0123456789abcdef")
        versions = await self.store.versions(cert_id)
        if not versions:
            raise not_found(f"certificate {cert_id!r} not found; see `shuniu cert show --product ID`")
        cert = next((v for v in versions if v.version == (request.version or versions[0].version)), None)
        if cert is None:
            raise not_found(f"version {request.version} of certificate {cert_id} unknown; expected 1 to "
                            f"{versions[0].version}")
        return C.GetCertificateResponse(certificate=(await self._with_standing(cert))[0])

    async def list_versions(self, request: C.ListCertificateVersionsRequest) -> C.ListCertificateVersionsResponse:
        _check_id(request.certificate_id, "certificate_id", "cert-0123456789abcdef")
        versions = await self.store.versions(request.certificate_id)
        if not versions:
            raise not_found(f"certificate {request.certificate_id!r} not found; see `shuniu cert show --product ID`")
        return C.ListCertificateVersionsResponse(versions=[(await self._with_standing(v))[0] for v in versions])

    async def verify(self, request: C.VerifyCertificateRequest) -> C.VerifyCertificateResponse:
        form = request.WhichOneof("certificate_form")
        if form is None:
            raise invalid("neither certificate nor compact is set; expected a certificate or its compact text (SNC1.…)")
        if form == "compact":
            try:
                cert = certificates.decode_compact(request.compact)
            except certificates.CertificateFormatError as err:
                raise invalid(str(err)) from None
        else:
            cert = request.certificate
        checked, verdict = await self._with_standing(cert)
        return C.VerifyCertificateResponse(valid=verdict.valid, reasons=list(verdict.reasons), certificate=checked)

    async def export(self) -> C.ExportCatalogResponse:
        # Off the event loop: ~0.2 ms a product, and heartbeat streams share this loop.
        text, count = await asyncio.to_thread(dcat.catalog_json_ld, await self.products.all())
        if len(text) > MAX_EXPORT_BYTES:
            raise exhausted(f"the catalog export of {count:,} products is {len(text):,} bytes, above the "
                            f"{MAX_EXPORT_BYTES:,}-byte bound of one gRPC answer; a paged export is not served yet")
        return C.ExportCatalogResponse(json_ld=text, products=count)
