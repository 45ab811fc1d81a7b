"""A change of a product's rights (transfer, new holder, share change), checked against its kind. Pure.

The request states the whole rights after the change; each right must still share exactly
10,000 bp (rights.py), the change must change something, and it must be of the kind it claims:
a new holder adds someone, a share change keeps the same holders, a transfer moves share away
from one holder per right it touches.
"""

from __future__ import annotations

from shuniu.market.catalog.errors import CatalogError
from shuniu.market.catalog.lifecycle import editable_copy
from shuniu.market.catalog.rights import RIGHT_NAMES, check_rights
from shuniu.protos.v1 import catalog_pb2

TRANSFER = catalog_pb2.RIGHTS_CHANGE_KIND_TRANSFER
NEW_HOLDER = catalog_pb2.RIGHTS_CHANGE_KIND_NEW_HOLDER
SHARE_CHANGE = catalog_pb2.RIGHTS_CHANGE_KIND_SHARE_CHANGE
KIND_NAMES = {TRANSFER: "transfer", NEW_HOLDER: "new_holder", SHARE_CHANGE: "share_change"}
_MAX_REASON = 1000


def _shares(right: catalog_pb2.Right) -> dict[str, int]:
    return {s.holder_id: s.share_bp for s in right.holders}


def _changed(before: catalog_pb2.Rights, after: catalog_pb2.Rights) -> list[str]:
    return [n for n in RIGHT_NAMES if _shares(getattr(before, n)) != _shares(getattr(after, n))]


def check_kind(kind: int, before: catalog_pb2.Rights, after: catalog_pb2.Rights) -> None:
    """Raises CatalogError unless `after` differs from `before` in the way `kind` says."""
    if kind not in KIND_NAMES:
        raise CatalogError(f"kind {kind} unknown; expected " + ", ".join(f"{n} ({v})" for v, n in KIND_NAMES.items()))
    changed = _changed(before, after)
    if not changed:
        raise CatalogError("rights are unchanged; expected the whole rights after the change")
    for name in changed:
        old, new = _shares(getattr(before, name)), _shares(getattr(after, name))
        if kind == SHARE_CHANGE and old.keys() != new.keys():
            raise CatalogError(f"rights.{name}: holders change ({_holder_diff(old, new)}); a share_change keeps the "
                               "same holders, use new_holder or transfer")
        if kind == TRANSFER:
            losers = [h for h, bp in old.items() if new.get(h, 0) < bp]
            if len(losers) != 1:
                raise CatalogError(f"rights.{name}: {len(losers)} holders give up share ({', '.join(losers)}); "
                                   "a transfer moves share from exactly one holder, use share_change")
    if kind == NEW_HOLDER and not any(_shares(getattr(after, n)).keys() - _shares(getattr(before, n)).keys()
                                      for n in changed):
        raise CatalogError("no holder is new; a new_holder change adds a holder to at least one right")


def _holder_diff(old: dict[str, int], new: dict[str, int]) -> str:
    added, removed = sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys())
    return "; ".join(part for part in (f"added {', '.join(added)}" if added else "",
                                       f"removed {', '.join(removed)}" if removed else "") if part)


def apply_rights_change(product: catalog_pb2.Product, kind: int, rights: catalog_pb2.Rights, reason: str,
                        now_ms: int) -> catalog_pb2.Product:
    """The product with `rights` in force; a listed product then gets a new certificate version (the caller's job)."""
    if len(reason) > _MAX_REASON:
        raise CatalogError(f"reason has {len(reason)} characters; expected at most {_MAX_REASON}")
    check_rights(rights, "rights")
    check_kind(kind, product.spec.rights, rights)
    out = editable_copy(product, "rights can change", now_ms)
    out.spec.rights.CopyFrom(rights)
    return out
