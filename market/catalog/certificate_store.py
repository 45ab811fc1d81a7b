"""CertificateStore: certificate versions and revocations in Redis; writes are queued on the caller's transaction.

Keys (prefix `shuniu:`):
  certificate:{id}          hash str(version) -> signed Certificate bytes (fields 1-14); never deleted
  certificate-revocations   hash certificate id -> JSON {"reason", "unix_ms"}
  events:certificates       stream of issues and revocations, read by the audit chainer
A product's record names its certificate id and latest version (Product.certificate_id/_version);
both are written in the same MULTI as the certificate version, under WATCH on the product.
"""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from shuniu.market.catalog.certificates import certificate_sha256, signed_part
from shuniu.protos.v1 import catalog_pb2

CERTIFICATE_EVENTS_KEY = "shuniu:events:certificates"
REVOCATIONS_KEY = "shuniu:certificate-revocations"
_EVENTS_MAXLEN = 100_000


def certificate_key(cert_id: str) -> str:
    return f"shuniu:certificate:{cert_id}"


class CertificateStore:
    """Reads certificate versions and revocations."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def versions(self, cert_id: str) -> list[catalog_pb2.Certificate]:
        """Every version, newest first (empty when the id is unknown)."""
        raw = await self.redis.hgetall(certificate_key(cert_id))
        return sorted((catalog_pb2.Certificate.FromString(v) for v in raw.values()), key=lambda c: -c.version)

    async def get(self, cert_id: str, version: int = 0) -> catalog_pb2.Certificate | None:
        """One version (0: the latest), or None."""
        if version:
            raw = await self.redis.hget(certificate_key(cert_id), str(version))
            return None if raw is None else catalog_pb2.Certificate.FromString(raw)
        versions = await self.versions(cert_id)
        return versions[0] if versions else None

    async def revoked_reason(self, cert_id: str) -> str | None:
        raw = await self.redis.hget(REVOCATIONS_KEY, cert_id)
        return None if raw is None else json.loads(raw)["reason"]


def _event(pipe, cert_id: str, action: str, fields: dict, actor: str, now_ms: int) -> None:
    pipe.xadd(CERTIFICATE_EVENTS_KEY, {"certificate_id": cert_id, "action": action, "actor": actor,
                                       "unix_ms": now_ms, **fields}, maxlen=_EVENTS_MAXLEN, approximate=True)


def queue_certificate_write(pipe, cert: catalog_pb2.Certificate, actor: str, now_ms: int, reason: str = "") -> None:
    """Queues a signed version and its issue event."""
    assert cert.signature and cert.version >= 1, cert.certificate_id
    stored = signed_part(cert)
    stored.signature = cert.signature
    pipe.hset(certificate_key(cert.certificate_id), str(cert.version), stored.SerializeToString(deterministic=True))
    _event(pipe, cert.certificate_id, "issue", {"version": cert.version, "product_id": cert.product_id,
                                                "sha256": certificate_sha256(cert), "reason": reason}, actor, now_ms)


def queue_revocation(pipe, cert_id: str, product_id: str, reason: str, actor: str, now_ms: int) -> None:
    """Queues the revocation of every version of a certificate, and its event."""
    pipe.hset(REVOCATIONS_KEY, cert_id, json.dumps({"reason": reason, "unix_ms": now_ms}))
    _event(pipe, cert_id, "revoke", {"product_id": product_id, "reason": reason}, actor, now_ms)
