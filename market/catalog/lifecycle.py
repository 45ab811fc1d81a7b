"""A product's lifecycle: registered → verified → (compliance review) → listed; rejected; delisted. Pure.

Public and internal products are listed as soon as a node in their domain verifies the
files; sensitive and core products wait UNDER_REVIEW for an operator's approval.
Each function returns a new Product and leaves its argument alone.
"""

from __future__ import annotations

from shuniu.market._names import GRADE_NAMES, name_of
from shuniu.market.catalog.errors import CatalogError, denied, precondition
from shuniu.market.catalog.pricing import check_pricing, operated_public_data
from shuniu.protos.v1 import catalog_pb2, common_pb2

REGISTERED = catalog_pb2.PRODUCT_STATE_REGISTERED
UNDER_REVIEW = catalog_pb2.PRODUCT_STATE_UNDER_REVIEW
LISTED = catalog_pb2.PRODUCT_STATE_LISTED
REJECTED = catalog_pb2.PRODUCT_STATE_REJECTED
DELISTED = catalog_pb2.PRODUCT_STATE_DELISTED
STATE_NAMES = {REGISTERED: "registered", UNDER_REVIEW: "under_review", LISTED: "listed", REJECTED: "rejected",
               DELISTED: "delisted"}
REVIEWED_GRADES = frozenset({common_pb2.CLASSIFICATION_GRADE_SENSITIVE, common_pb2.CLASSIFICATION_GRADE_CORE})
_MAX_REASON = 1000


def state_name(state: int) -> str:
    return name_of(STATE_NAMES, state)


def register(product_id: str, spec: catalog_pb2.ProductSpec, now_ms: int) -> catalog_pb2.Product:
    """A new product, REGISTERED, with its pricing as price version 1; `spec` must have passed `check_spec`."""
    product = catalog_pb2.Product(product_id=product_id, spec=spec, state=REGISTERED, registered_unix_ms=now_ms,
                                  updated_unix_ms=now_ms)
    product.spec.pricing.price_version = 1
    product.spec.pricing.effective_unix_ms = now_ms
    return product


def mismatches(spec: catalog_pb2.ProductSpec, verification: catalog_pb2.ProductVerification) -> list[str]:
    """What a node found that differs from the declaration; the node's own findings come first."""
    found = [m for m in verification.mismatch.split("; ") if m]
    if not verification.schema_matches and not any(m.startswith("schema") for m in found):
        found.append("schema: does not match the declared columns")
    if verification.row_count != spec.row_count and not any(m.startswith("row_count") for m in found):
        found.append(f"row_count: declared {spec.row_count}, found {verification.row_count}")
    if verification.content_sha256 != spec.content_sha256 and not any(m.startswith("content_sha256") for m in found):
        found.append(f"content_sha256: declared {spec.content_sha256[:12]}…, found {verification.content_sha256[:12]}…")
    return found


def apply_verification(product: catalog_pb2.Product, verification: catalog_pb2.ProductVerification,
                       now_ms: int) -> catalog_pb2.Product:
    """Records a node's verification: a full match lists (or sends to review), any mismatch rejects with the reason.

    The catalog compares the figures itself and does not take the node's `ok` on trust.
    """
    spec = product.spec
    if verification.node_id not in spec.domain_node_ids:
        raise denied(f"node {verification.node_id!r} is not in the data domain of product {product.product_id}; "
                     f"expected one of {', '.join(spec.domain_node_ids)}")
    if not any(f.node_id == verification.node_id for f in spec.files):
        raise denied(f"node {verification.node_id!r} holds no file of product {product.product_id}; "
                     "expected a node that holds its files")
    if product.state != REGISTERED:
        raise precondition(f"product {product.product_id} is {state_name(product.state)}; "
                           "verification is accepted only while registered")
    found = mismatches(spec, verification)
    out = catalog_pb2.Product()
    out.CopyFrom(product)
    out.verification.CopyFrom(verification)
    out.verification.ok = not found
    out.verification.mismatch = "; ".join(found)
    out.updated_unix_ms = now_ms
    if found:
        out.state, out.state_reason = REJECTED, "; ".join(found)
    elif spec.grade in REVIEWED_GRADES:
        out.state = UNDER_REVIEW
        out.state_reason = f"files verified; grade {name_of(GRADE_NAMES, spec.grade)} needs an operator's review"
    else:
        out.state, out.state_reason, out.listed_unix_ms = LISTED, "", now_ms
    return out


def _reason(reason: str, field: str = "reason") -> str:
    if len(reason) > _MAX_REASON:
        raise CatalogError(f"{field} has {len(reason)} characters; expected at most {_MAX_REASON}")
    return reason.strip()


def apply_review(product: catalog_pb2.Product, approve: bool, reason: str, now_ms: int) -> catalog_pb2.Product:
    """An operator's compliance review of a verified product: approval lists it, rejection needs a reason."""
    reason = _reason(reason)
    if not approve and not reason:
        raise CatalogError("reason is empty; a rejection must say why (it is shown to the holder)")
    if product.state != UNDER_REVIEW:
        raise precondition(f"product {product.product_id} is {state_name(product.state)}; "
                           "only a product under review can be reviewed")
    out = catalog_pb2.Product()
    out.CopyFrom(product)
    out.updated_unix_ms = now_ms
    if approve:
        out.state, out.state_reason, out.listed_unix_ms = LISTED, reason, now_ms
    else:
        out.state, out.state_reason = REJECTED, f"review: {reason}"
    return out


def apply_delist(product: catalog_pb2.Product, reason: str, now_ms: int) -> catalog_pb2.Product:
    """Takes a product off the market; no new grant or job may use it."""
    reason = _reason(reason)
    if product.state == DELISTED:
        raise precondition(f"product {product.product_id} is already delisted ({product.state_reason})")
    out = catalog_pb2.Product()
    out.CopyFrom(product)
    out.state, out.state_reason, out.updated_unix_ms = DELISTED, f"delisted: {reason}" if reason else "delisted", now_ms
    return out


def editable_copy(product: catalog_pb2.Product, change: str, now_ms: int) -> catalog_pb2.Product:
    """A copy of `product` stamped `now_ms`, to change; refused for a rejected or delisted product."""
    if product.state in (REJECTED, DELISTED):
        raise precondition(f"product {product.product_id} is {state_name(product.state)}; "
                           f"{change} only on a product that is registered, under review or listed")
    out = catalog_pb2.Product()
    out.CopyFrom(product)
    out.updated_unix_ms = now_ms
    return out


def apply_price(product: catalog_pb2.Product, pricing: catalog_pb2.Pricing, now_ms: int) -> catalog_pb2.Product:
    """Puts `pricing` in force as the next price version; earlier versions stay as they were billed."""
    check_pricing(pricing, product.spec.grade, "pricing", operated_public_data(product.spec))
    out = editable_copy(product, "a price can be set", now_ms)
    out.spec.pricing.CopyFrom(pricing)
    out.spec.pricing.price_version = product.spec.pricing.price_version + 1
    out.spec.pricing.effective_unix_ms = now_ms
    return out
