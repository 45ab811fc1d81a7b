"""Fee schedules of authorized operators (公共数据授权运营): checks, and the price each item puts in force. Pure.

A schedule lists, per public-data product of one operator, the fee for commercial use and
the ceiling the authorizing department set (政府指导价). Publishing it makes each fee the
product's commercial price: a new price version whose guided cap is the ceiling, free for
public governance and public-interest use (公益使用免费) when the product is public data.

The rating kernels charge per row, per call or per query, with volume tiers counted per
(product, buyer, month). The four fee bases map onto them:

| basis | charged | pricing |
| --- | --- | --- |
| per volume (按量) | rows delivered into the sandbox | per row, `unit_size` rows per fee |
| per call (按次) | calls (jobs, or claims checked by a verification job) | per call, `unit_size` calls per fee |
| per product (按产品) | each delivery of the product: one per job that reads it, whatever its size | per query, unit size 1 |
| per time (按时段) | each month of access: a buyer's first billable job of the month pays, the rest of the month is free | per query with a tier from the 2nd query at 0, unit size 1 |

Per time is exact across batches because volume tiers continue per (product, buyer,
month) in the ledger. Every fee must fit the rating limits: a whole number of milli-fen per
unit, at most `MAX_DATA_PRICE_MILLIFEN` (1,000,000 yuan per unit).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from shuniu.market.catalog import CatalogError, check_pricing
from shuniu.market.catalog.pricing import MAX_UNIT_SIZE, operated_public_data
from shuniu.market.public_data.allowance import MAX_ALLOWANCE_FEN
from shuniu.market.rating.tables import MAX_DATA_PRICE_MILLIFEN
from shuniu.protos.v1 import catalog_pb2, settlement_pb2

__all__ = ["BASIS_NAMES", "MAX_ITEMS", "FeeError", "check_schedule", "pricing_for_item"]

BASIS_NAMES = {
    settlement_pb2.FEE_BASIS_PER_PRODUCT: "per_product",
    settlement_pb2.FEE_BASIS_PER_CALL: "per_call",
    settlement_pb2.FEE_BASIS_PER_TIME: "per_time",
    settlement_pb2.FEE_BASIS_PER_VOLUME: "per_volume",
}
MAX_ITEMS = 1000
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_FLAT = (settlement_pb2.FEE_BASIS_PER_PRODUCT, settlement_pb2.FEE_BASIS_PER_TIME)  # one fee per delivery or month
_UNIT = {
    settlement_pb2.FEE_BASIS_PER_VOLUME: catalog_pb2.PRICING_UNIT_PER_ROW,
    settlement_pb2.FEE_BASIS_PER_CALL: catalog_pb2.PRICING_UNIT_PER_CALL,
    settlement_pb2.FEE_BASIS_PER_PRODUCT: catalog_pb2.PRICING_UNIT_PER_QUERY,
    settlement_pb2.FEE_BASIS_PER_TIME: catalog_pb2.PRICING_UNIT_PER_QUERY,
}
INVALID, NOT_FOUND, PRECONDITION = "invalid", "not_found", "precondition"


class FeeError(ValueError):
    """A schedule that cannot be published; `kind` is invalid, not_found or precondition."""

    def __init__(self, message: str, kind: str = INVALID) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


def check_schedule(schedule: settlement_pb2.FeeSchedule, products: Mapping[str, catalog_pb2.Product | None]) -> None:
    """Raises FeeError on the first rule broken; `products` holds the catalog record of each item (None: unknown)."""
    for field in ("operator_id", "authorizing_department_id"):
        value = getattr(schedule, field)
        if not _ID.match(value):
            raise FeeError(f"schedule.{field} {value!r} is malformed or empty; expected an id of 1-128 characters "
                           "(A-Z, a-z, 0-9, '.', '_', ':', '-')")
    for field in ("allowed_cost_fen", "allowed_profit_fen", "allowed_tax_fen"):
        value = getattr(schedule, field)
        if not 0 <= value <= MAX_ALLOWANCE_FEN:
            raise FeeError(f"schedule.{field} is {value}; expected 0 to {MAX_ALLOWANCE_FEN:,} fen a year")
    if schedule.effective_unix_ms:
        raise FeeError("schedule.effective_unix_ms is set; a schedule takes effect when it is published "
                       "(prices already quoted never change), leave it 0")
    if not 0 < len(schedule.items) <= MAX_ITEMS:
        raise FeeError(f"schedule.items has {len(schedule.items)} items; expected 1 to {MAX_ITEMS}")
    seen: set[str] = set()
    for i, item in enumerate(schedule.items):
        where = f"schedule.items[{i}] (product {item.product_id!r})"
        if item.product_id in seen:
            raise FeeError(f"{where}: the product appears twice; expected one fee per product")
        seen.add(item.product_id)
        _check_item(item, where)
        _check_product(schedule, products.get(item.product_id), where)


def _check_item(item: settlement_pb2.FeeItem, where: str) -> None:
    if item.basis not in BASIS_NAMES:
        accepted = ", ".join(f"{n} ({v})" for v, n in BASIS_NAMES.items())
        raise FeeError(f"{where}: basis {item.basis} unknown or unset; expected one of {accepted}")
    if item.ceiling_fen <= 0:
        raise FeeError(f"{where}: ceiling_fen is {item.ceiling_fen}; expected the guided price (政府指导价) "
                       "the authorizing department set, > 0")
    if not 0 <= item.fee_fen <= item.ceiling_fen:
        raise FeeError(f"{where}: fee_fen {item.fee_fen} is above the ceiling (政府指导价) of {item.ceiling_fen} fen"
                       if item.fee_fen > item.ceiling_fen else f"{where}: fee_fen is {item.fee_fen}; expected 0 or more")
    if item.basis in _FLAT and item.unit_size not in (0, 1):
        raise FeeError(f"{where}: unit_size {item.unit_size} with basis {BASIS_NAMES[item.basis]}; expected 0 or 1 "
                       "(one fee per delivery or per month of access)")
    if not 0 <= item.unit_size <= MAX_UNIT_SIZE:
        raise FeeError(f"{where}: unit_size is {item.unit_size}; expected 0 (meaning 1) to {MAX_UNIT_SIZE:,}")
    size = item.unit_size or 1
    for name, fen in (("fee_fen", item.fee_fen), ("ceiling_fen", item.ceiling_fen)):
        millifen, rest = divmod(fen * 1000, size)
        if rest or millifen > MAX_DATA_PRICE_MILLIFEN:
            raise FeeError(f"{where}: {name} {fen} per {size} units is {fen * 1000 / size:g} milli-fen per unit; "
                           f"the rating takes a whole number up to {MAX_DATA_PRICE_MILLIFEN:,} milli-fen per unit "
                           "(choose a unit_size that divides fen × 1000)")


def _check_product(schedule: settlement_pb2.FeeSchedule, product: catalog_pb2.Product | None, where: str) -> None:
    if product is None:
        raise FeeError(f"{where}: no such product; expected a product of the catalog (`shuniu products ls`)", NOT_FOUND)
    if not product.spec.HasField("public_data"):
        raise FeeError(f"{where}: the product is not public data under authorized operation; expected a product "
                       "whose spec.public_data names the operator")
    public = product.spec.public_data
    if public.operator_id != schedule.operator_id:
        raise FeeError(f"{where}: the product is operated by {public.operator_id!r}, not {schedule.operator_id!r}; "
                       "expected only the operator's own products")
    if public.source_department_id != schedule.authorizing_department_id:
        raise FeeError(f"{where}: the product's authorizing department is {public.source_department_id!r}, not "
                       f"{schedule.authorizing_department_id!r}; expected the department that set the ceiling")


def pricing_for_item(item: settlement_pb2.FeeItem, product: catalog_pb2.Product) -> catalog_pb2.Pricing:
    """The commercial pricing the item puts in force (the catalog assigns its version); raises FeeError."""
    current = product.spec.pricing
    pricing = catalog_pb2.Pricing(
        unit=_UNIT[item.basis], unit_price_fen=item.fee_fen, unit_size=item.unit_size or 1,
        guided_cap_fen=item.ceiling_fen, public_interest_free=True)  # free for public governance and public-interest use
    if item.basis == settlement_pb2.FEE_BASIS_PER_TIME:  # the month's first billable query pays, the rest are free
        pricing.volume_tiers.append(catalog_pb2.VolumeTier(from_units=1, unit_price_fen=0))
    pricing.basis.CopyFrom(current.basis)  # how the price was set stays as the listing states it
    try:
        check_pricing(pricing, product.spec.grade, f"pricing of {product.product_id}", operated_public_data(product.spec))
    except CatalogError as err:
        raise FeeError(err.message, PRECONDITION) from None
    return pricing
