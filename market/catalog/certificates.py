"""Registration certificates (数据产权登记凭证): issue, sign, verify and the compact text form. Pure.

Canonical bytes. A certificate is signed over `TAG + body`, where `body` is the Certificate
message holding only fields 1 to 13 (`signature`, `state` and `compact` cleared), serialized
with deterministic serialization. Proto3 writes known fields in field-number order, omits
defaults, and keeps repeated fields (the rights' holders) in their order; the message has no
maps and no unknown fields survive `signed_part`, so the same fields give the same bytes in
every implementation. The tag names the format and its version, so that these bytes can never
be read as any other signed message of the exchange.

Compact form: `SNC1.` + base64url(body) + `.` + base64url(signature), no padding. It carries
everything that was signed, so a verifier needs the string alone and the exchange's public key.

Standing: VALID for the latest version of a listed product whose content is unchanged;
SUPERSEDED after a rights change issued a later version; REVOKED when the product was delisted
or its content changed; EXPIRED past `valid_until_unix_ms`.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from shuniu.market.catalog.errors import CatalogError
from shuniu.market.catalog.rights import check_rights
from shuniu.protos.v1 import catalog_pb2
from shuniu.security import signing

TAG = b"shuniu.certificate.v1\n"
COMPACT_PREFIX = "SNC1."
MAX_COMPACT_CHARS = 16_384
SIGNED_FIELDS = tuple(f.name for f in catalog_pb2.Certificate.DESCRIPTOR.fields if f.number <= 13)
# Registration certificates of the provincial exchanges run for a few years; three unless the review says otherwise.
DEFAULT_VALIDITY_MS = 3 * 365 * 24 * 3600 * 1000
MAX_VALIDITY_MS = 10 * 365 * 24 * 3600 * 1000

VALID = catalog_pb2.CERTIFICATE_STATE_VALID
SUPERSEDED = catalog_pb2.CERTIFICATE_STATE_SUPERSEDED
REVOKED = catalog_pb2.CERTIFICATE_STATE_REVOKED
EXPIRED = catalog_pb2.CERTIFICATE_STATE_EXPIRED
UNCHECKED = catalog_pb2.CERTIFICATE_STATE_UNSPECIFIED
STATE_NAMES = {VALID: "valid", SUPERSEDED: "superseded", REVOKED: "revoked", EXPIRED: "expired",
               UNCHECKED: "not verified"}
_ID = re.compile(r"^cert-[0-9a-f]{16}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class CertificateFormatError(ValueError):
    """A certificate text that cannot be read; the message says what is wrong."""


def certificate_id(seed: bytes) -> str:
    """A certificate id from random bytes: `cert-` and 16 hex digits."""
    return "cert-" + hashlib.sha256(seed).hexdigest()[:16]


def signed_part(cert: catalog_pb2.Certificate) -> catalog_pb2.Certificate:
    """A copy holding only the signed fields 1 to 13."""
    part = catalog_pb2.Certificate()
    part.CopyFrom(cert)
    for name in ("signature", "state", "compact"):
        part.ClearField(name)
    part.DiscardUnknownFields()
    return part


def _body(cert: catalog_pb2.Certificate) -> bytes:
    return signed_part(cert).SerializeToString(deterministic=True)


def canonical_bytes(cert: catalog_pb2.Certificate) -> bytes:
    """What the exchange signs: the tag, then fields 1 to 13 serialized deterministically."""
    return TAG + _body(cert)


def certificate_sha256(cert: catalog_pb2.Certificate) -> str:
    """Hex SHA-256 of the canonical bytes: what the next version's `previous_sha256` holds."""
    return hashlib.sha256(canonical_bytes(cert)).hexdigest()


def sign(cert: catalog_pb2.Certificate, key: signing.SigningKey) -> catalog_pb2.Certificate:
    """The certificate signed by `key` (its id set first, as it is signed too), with its compact form."""
    out = signed_part(cert)
    out.signing_key_id = key.key_id
    out.signature = key.sign(canonical_bytes(out))
    out.compact = encode_compact(out)
    return out


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str, what: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise CertificateFormatError(f"{what} holds characters outside base64url (A-Z a-z 0-9 - _)")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as err:
        raise CertificateFormatError(f"{what} is not base64url: {err}") from None


def encode_compact(cert: catalog_pb2.Certificate) -> str:
    """`SNC1.<body>.<signature>`: the signed fields and the signature, QR-ready text."""
    return f"{COMPACT_PREFIX}{_b64(_body(cert))}.{_b64(cert.signature)}"


def decode_compact(text: str) -> catalog_pb2.Certificate:
    """The certificate a compact text carries (not yet verified); CertificateFormatError when unreadable."""
    text = text.strip()
    if len(text) > MAX_COMPACT_CHARS:
        raise CertificateFormatError(f"compact text has {len(text):,} characters; expected at most {MAX_COMPACT_CHARS:,}")
    if not text.startswith(COMPACT_PREFIX):
        raise CertificateFormatError(f"compact text does not start with {COMPACT_PREFIX!r}; expected SNC1.<body>.<signature>")
    parts = text[len(COMPACT_PREFIX):].split(".")
    if len(parts) != 2:
        raise CertificateFormatError(f"compact text has {len(parts)} parts after {COMPACT_PREFIX!r}; "
                                     "expected 2: <body>.<signature>")
    body, signature = _unb64(parts[0], "compact body"), _unb64(parts[1], "compact signature")
    cert = catalog_pb2.Certificate()
    try:
        cert.ParseFromString(body)
    except DecodeError as err:
        raise CertificateFormatError(f"compact body is not a certificate: {err}") from None
    if cert.signature or cert.state or cert.compact:
        raise CertificateFormatError("compact body holds fields outside 1-13; expected only the signed fields")
    cert.signature = signature
    cert.compact = text
    return cert


def _ms_text(unix_ms: int) -> str:
    return datetime.datetime.fromtimestamp(unix_ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Verdict:
    """A certificate's standing and each broken check; valid only when VALID with nothing broken."""

    state: int
    reasons: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return self.state == VALID and not self.reasons


def check_signature(cert: catalog_pb2.Certificate, public_keys: Mapping[str, bytes]) -> list[str]:
    """What is wrong with the signature: an unknown key, or bytes the signature does not cover."""
    public = public_keys.get(cert.signing_key_id)
    if public is None:
        known = ", ".join(sorted(public_keys)) or "none"
        return [f"signing_key_id {cert.signing_key_id!r} is not a key of the exchange (known: {known}); "
                "expected the id of the key that signed it"]
    if not signing.verify(public, cert.signature, canonical_bytes(cert)):
        return ["signature: does not match the signed fields 1-13; a field was changed after signing, "
                f"or the signature is not by key {cert.signing_key_id}"]
    return []


def check_fields(cert: catalog_pb2.Certificate) -> list[str]:
    """Rules every certificate keeps, whoever signed it: each broken one, naming its field."""
    found = []
    if not _ID.match(cert.certificate_id):
        found.append(f"certificate_id {cert.certificate_id!r} malformed; expected cert- and 16 hex digits")
    if cert.version < 1:
        found.append(f"version is {cert.version}; expected 1 or more")
    elif (cert.version == 1) != (cert.previous_sha256 == ""):
        found.append("previous_sha256: version 1 links to nothing, every later version to its previous one")
    elif cert.previous_sha256 and not _SHA256.match(cert.previous_sha256):
        found.append("previous_sha256 is not 64 lowercase hex digits")
    if not _SHA256.match(cert.content_sha256):
        found.append("content_sha256 is not 64 lowercase hex digits")
    if not cert.product_id:
        found.append("product_id is empty")
    if not 0 < cert.valid_from_unix_ms < cert.valid_until_unix_ms:
        found.append(f"valid_until_unix_ms {cert.valid_until_unix_ms} is not after valid_from_unix_ms "
                     f"{cert.valid_from_unix_ms}")
    try:
        check_rights(cert.rights, "rights")
    except CatalogError as err:
        found.append(err.message)
    return found


def verify_offline(cert: catalog_pb2.Certificate, public_keys: Mapping[str, bytes], now_ms: int) -> Verdict:
    """What the certificate alone proves with the exchange's keys: signature, field rules, validity period.

    Revocation and supersession need the exchange's records: see `standing`.
    """
    broken = check_signature(cert, public_keys) + check_fields(cert)
    if broken:
        return Verdict(UNCHECKED, tuple(broken))
    if now_ms < cert.valid_from_unix_ms:
        return Verdict(UNCHECKED, (f"valid_from_unix_ms: not valid before {_ms_text(cert.valid_from_unix_ms)}",))
    if now_ms >= cert.valid_until_unix_ms:
        return Verdict(EXPIRED, (f"expired at {_ms_text(cert.valid_until_unix_ms)}",))
    return Verdict(VALID)


@dataclass(frozen=True)
class Record:
    """What the exchange knows of a certificate: the stored version, the latest version, a revocation."""

    stored: catalog_pb2.Certificate | None
    latest_version: int
    revoked_reason: str | None
    product: catalog_pb2.Product | None


def standing(cert: catalog_pb2.Certificate, public_keys: Mapping[str, bytes], record: Record, now_ms: int) -> Verdict:
    """The full verdict: `verify_offline`, then the exchange's records (revoked, content changed, superseded)."""
    offline = verify_offline(cert, public_keys, now_ms)
    if offline.state == UNCHECKED:
        return offline
    if record.stored is None:
        return Verdict(UNCHECKED, (f"certificate {cert.certificate_id} version {cert.version} is not in the "
                                   "exchange's register",))
    if canonical_bytes(record.stored) != canonical_bytes(cert):
        return Verdict(UNCHECKED, (f"fields differ from the exchange's record of {cert.certificate_id} "
                                   f"version {cert.version}",))
    product = record.product
    if product is None:
        return Verdict(REVOKED, (f"product {cert.product_id} no longer exists",))
    if record.revoked_reason is not None or product.state == catalog_pb2.PRODUCT_STATE_DELISTED:
        return Verdict(REVOKED, (f"product delisted: {record.revoked_reason or product.state_reason}",))
    changed = [h for h in (product.spec.content_sha256, product.verification.content_sha256)
               if h and h != cert.content_sha256]
    if changed:
        return Verdict(REVOKED, (f"content_sha256 changed: certified {cert.content_sha256[:12]}…, "
                                 f"the product now holds {changed[0][:12]}…",))
    if cert.version < record.latest_version:
        return Verdict(SUPERSEDED, (f"superseded by version {record.latest_version}",))
    return offline


# -- issuing ---------------------------------------------------------------------------------

def valid_until(now_ms: int, requested_ms: int) -> int:
    """The end of validity of a new certificate: the requested one, else the default; CatalogError when unusable."""
    if requested_ms == 0:
        return now_ms + DEFAULT_VALIDITY_MS
    if not now_ms < requested_ms <= now_ms + MAX_VALIDITY_MS:
        raise CatalogError(f"certificate_valid_until_unix_ms {requested_ms} out of range; expected after now "
                           f"({now_ms}) and at most 10 years ahead, or 0 for the default of 3 years")
    return requested_ms


def first_version(product: catalog_pb2.Product, cert_id: str, now_ms: int, until_ms: int) -> catalog_pb2.Certificate:
    """Version 1 of a newly listed product's certificate (unsigned)."""
    spec = product.spec
    return catalog_pb2.Certificate(
        certificate_id=cert_id, version=1, product_id=product.product_id, product_name=spec.name,
        holder_id=spec.holder_id, content_sha256=spec.content_sha256, rights=spec.rights, grade=spec.grade,
        issued_unix_ms=now_ms, valid_from_unix_ms=now_ms, valid_until_unix_ms=until_ms)


def next_version(previous: catalog_pb2.Certificate, product: catalog_pb2.Product, now_ms: int) -> catalog_pb2.Certificate:
    """The version after `previous` carrying the product's rights now; same id and end of validity, linked by hash."""
    cert = first_version(product, previous.certificate_id, now_ms, previous.valid_until_unix_ms)
    cert.version = previous.version + 1
    cert.previous_sha256 = certificate_sha256(previous)
    return cert


def chain_breaks(versions_newest_first: list[catalog_pb2.Certificate]) -> list[str]:
    """Where a list of versions (newest first) fails to link each to the one before it."""
    found = []
    for newer, older in zip(versions_newest_first, versions_newest_first[1:]):
        if newer.version != older.version + 1 or newer.previous_sha256 != certificate_sha256(older):
            found.append(f"version {newer.version} does not link to version {older.version}")
    return found
