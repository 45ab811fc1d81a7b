"""Rights shares (数据产权结构性分置): each right's holders share exactly 10,000 basis points."""

from __future__ import annotations

from shuniu.market.catalog.errors import CatalogError
from shuniu.protos.v1 import catalog_pb2

BP_TOTAL = 10_000
RIGHT_NAMES = ("holding", "processing_use", "product_operation")
MAX_HOLDERS = 64
_MAX_ID = 128


def check_right(right: catalog_pb2.Right, field: str) -> None:
    """Raises CatalogError unless the holders are distinct, each share positive, and the shares sum to 10,000 bp."""
    if not right.holders:
        raise CatalogError(f"{field}: no holders; expected at least one holder whose share_bp sum to {BP_TOTAL:,}")
    if len(right.holders) > MAX_HOLDERS:
        raise CatalogError(f"{field}: {len(right.holders)} holders; expected at most {MAX_HOLDERS}")
    seen: set[str] = set()
    for i, share in enumerate(right.holders):
        where = f"{field}.holders[{i}]"
        if not share.holder_id or len(share.holder_id) > _MAX_ID:
            raise CatalogError(f"{where}.holder_id is empty or too long; expected 1-{_MAX_ID} characters")
        if share.holder_id in seen:
            raise CatalogError(f"{where}: holder {share.holder_id!r} appears twice; expected each holder once "
                               "with its whole share")
        seen.add(share.holder_id)
        if share.share_bp <= 0:
            raise CatalogError(f"{where}.share_bp is {share.share_bp}; expected a positive number of basis points "
                               "(leave out a holder with no share)")
    total = sum(s.share_bp for s in right.holders)
    if total != BP_TOTAL:
        raise CatalogError(f"{field}: shares sum to {total:,} bp; expected exactly {BP_TOTAL:,} (100%)")


def check_rights(rights: catalog_pb2.Rights, field: str = "spec.rights") -> None:
    """Checks each of the three rights: holding (持有权), processing-use (加工使用权), product-operation (经营权)."""
    for name in RIGHT_NAMES:
        check_right(getattr(rights, name), f"{field}.{name}")
