"""Pricing rules of a product: unit, prices, volume tiers, the guided cap and the stated price basis."""

from __future__ import annotations

from collections.abc import Sequence

from shuniu.market.catalog.errors import CatalogError
from shuniu.market.rating.tables import MAX_DATA_PRICE_MILLIFEN, MAX_TIER_FROM_UNITS, MAX_TIERS_PER_PRODUCT
from shuniu.protos.v1 import catalog_pb2, common_pb2

UNIT_NAMES = {
    catalog_pb2.PRICING_UNIT_PER_ROW: "per_row",
    catalog_pb2.PRICING_UNIT_PER_CALL: "per_call",
    catalog_pb2.PRICING_UNIT_PER_QUERY: "per_query",
    catalog_pb2.PRICING_UNIT_PER_GIB: "per_gib",
    catalog_pb2.PRICING_UNIT_PER_GRANT: "per_grant",
    catalog_pb2.PRICING_UNIT_PER_PERIOD: "per_period",
}
# The units usage is rated in (per record, market/rating): a product priced otherwise could not be billed.
RATED_UNITS = (catalog_pb2.PRICING_UNIT_PER_ROW, catalog_pb2.PRICING_UNIT_PER_CALL, catalog_pb2.PRICING_UNIT_PER_QUERY)
BASIS_NAMES = ("cost", "revenue", "negotiated")
MAX_PRICE_FEN = 10**12  # a price per unit_size units, and a stated cost or revenue
MAX_UNIT_SIZE = 10**9
MAX_TIERS = MAX_TIERS_PER_PRODUCT - 1  # volume tiers after the base price
_MILLIFEN_PER_FEN = 1000


def _amount(value: int, field: str) -> None:
    if not 0 <= value <= MAX_PRICE_FEN:
        raise CatalogError(f"{field} is {value}; expected 0 to {MAX_PRICE_FEN:,} fen")


def _rated_price(price_fen: int, unit_size: int, field: str) -> None:
    """A price the rater takes: a whole number of milli-fen per unit, at most MAX_DATA_PRICE_MILLIFEN."""
    _amount(price_fen, field)
    _whole_millifen(price_fen, unit_size, field)
    size = unit_size or 1
    if price_fen * _MILLIFEN_PER_FEN // size > MAX_DATA_PRICE_MILLIFEN:
        raise CatalogError(f"{field} is {price_fen:,} fen per {size:,} units, {price_fen * _MILLIFEN_PER_FEN // size:,} milli-fen "
                           f"per unit; expected at most {MAX_DATA_PRICE_MILLIFEN:,} milli-fen ({MAX_DATA_PRICE_MILLIFEN // 100_000:,} yuan) per unit")


def _whole_millifen(price_fen: int, unit_size: int, field: str) -> None:
    size = unit_size or 1
    if price_fen * _MILLIFEN_PER_FEN % size:
        raise CatalogError(f"{field} {price_fen:,} fen per {size:,} units is not a whole number of milli-fen per unit; "
                           "expected a unit_size that divides the price × 1000")


def check_pricing(pricing: catalog_pb2.Pricing, grade: int, field: str = "spec.pricing", public_data: bool = False) -> None:
    """Raises CatalogError naming the field when the pricing cannot be listed for a product of `grade`
    (`public_data`: operated under a public-data authorization, public data whatever its grade)."""
    if pricing.unit not in UNIT_NAMES:
        accepted = ", ".join(f"{n} ({v})" for v, n in UNIT_NAMES.items())
        raise CatalogError(f"{field}.unit {pricing.unit} unknown or unset; expected one of {accepted}")
    if pricing.unit not in RATED_UNITS:
        rated = ", ".join(UNIT_NAMES[u] for u in RATED_UNITS)
        raise CatalogError(f"{field}.unit {UNIT_NAMES[pricing.unit]} is not billed: usage is rated per record; expected one of {rated}")
    if not 0 <= pricing.unit_size <= MAX_UNIT_SIZE:
        raise CatalogError(f"{field}.unit_size is {pricing.unit_size}; expected 0 (meaning 1) to {MAX_UNIT_SIZE:,}")
    _rated_price(pricing.unit_price_fen, pricing.unit_size, f"{field}.unit_price_fen")
    _check_tiers(pricing, f"{field}.volume_tiers")
    _amount(pricing.guided_cap_fen, f"{field}.guided_cap_fen")
    _whole_millifen(pricing.guided_cap_fen, pricing.unit_size, f"{field}.guided_cap_fen")
    if pricing.guided_cap_fen:
        prices = [(f"{field}.unit_price_fen", pricing.unit_price_fen)] + [
            (f"{field}.volume_tiers[{i}].unit_price_fen", t.unit_price_fen) for i, t in enumerate(pricing.volume_tiers)]
        for where, price in prices:
            if price > pricing.guided_cap_fen:
                raise CatalogError(f"{where} is {price} fen, above the guided cap (政府指导价) of "
                                   f"{pricing.guided_cap_fen} fen; expected at most the cap")
    if pricing.public_interest_free and grade != common_pb2.CLASSIFICATION_GRADE_PUBLIC and not public_data:
        raise CatalogError(f"{field}.public_interest_free is set on a product that is not public data; expected it only "
                           "for grade public or public-data authorized operation (free for public-interest use)")
    check_basis(pricing.basis, f"{field}.basis")


def _check_tiers(pricing: catalog_pb2.Pricing, field: str) -> None:
    tiers = pricing.volume_tiers
    if len(tiers) > MAX_TIERS:
        raise CatalogError(f"{field}: {len(tiers)} tiers; expected at most {MAX_TIERS}")
    previous = 0
    for i, tier in enumerate(tiers):
        if tier.from_units <= previous:
            raise CatalogError(f"{field}[{i}].from_units is {tier.from_units}; expected tiers sorted by from_units, "
                               f"each above the one before (> {previous})")
        if tier.from_units > MAX_TIER_FROM_UNITS:
            raise CatalogError(f"{field}[{i}].from_units is {tier.from_units}; expected at most {MAX_TIER_FROM_UNITS:,} units")
        previous = tier.from_units
        _rated_price(tier.unit_price_fen, pricing.unit_size, f"{field}[{i}].unit_price_fen")


def basis_parameters(basis: catalog_pb2.PriceBasis) -> tuple[str, dict[str, int | str | list[str]]]:
    """(how the price was set: cost, revenue or negotiated, its parameters by field name); ("", {}) when unset."""
    which = basis.WhichOneof("basis")
    if which is None:
        return "", {}
    return which, {f.name: list(v) if isinstance(v, Sequence) and not isinstance(v, str) else v
                   for f, v in getattr(basis, which).ListFields()}


def basis_text(basis: catalog_pb2.PriceBasis) -> str:
    """One line a buyer can read: 'cost-based: collection_cost_fen 100, markup_bp 1000, expected_units 10'."""
    which, parameters = basis_parameters(basis)
    if not which:
        return "no price basis stated"
    values = ", ".join(f"{name} {'+'.join(v) if isinstance(v, list) else v}" for name, v in parameters.items())
    return f"{which}{'' if which == 'negotiated' else '-based'}: {values or 'no parameters'}"


def operated_public_data(spec: catalog_pb2.ProductSpec) -> bool:
    """Whether the product is operated under a public-data authorization (公共数据授权运营)."""
    return bool(spec.HasField("public_data") and spec.public_data.operator_id)


def check_basis(basis: catalog_pb2.PriceBasis, field: str) -> None:
    """Every price states how it was set: by cost, by revenue, or by negotiation."""
    which = basis.WhichOneof("basis")
    if which is None:
        raise CatalogError(f"{field} is unset; expected one of {', '.join(BASIS_NAMES)} with its parameters")
    if which == "cost":
        cost = basis.cost
        for name in ("collection_cost_fen", "processing_cost_fen", "operating_cost_fen"):
            _amount(getattr(cost, name), f"{field}.cost.{name}")
        if not 0 <= cost.markup_bp <= 100_000:
            raise CatalogError(f"{field}.cost.markup_bp is {cost.markup_bp}; expected 0 to 100,000 bp")
        if cost.expected_units <= 0:
            raise CatalogError(f"{field}.cost.expected_units is {cost.expected_units}; expected the units "
                               "the costs are recovered over (> 0)")
    elif which == "revenue":
        revenue = basis.revenue
        _amount(revenue.expected_buyer_revenue_fen, f"{field}.revenue.expected_buyer_revenue_fen")
        if not 0 < revenue.revenue_share_bp <= 10_000:
            raise CatalogError(f"{field}.revenue.revenue_share_bp is {revenue.revenue_share_bp}; expected 1 to 10,000 bp")
        if revenue.expected_units <= 0:
            raise CatalogError(f"{field}.revenue.expected_units is {revenue.expected_units}; expected > 0")
    else:
        negotiated = basis.negotiated
        if not negotiated.agreement_ref.strip():
            raise CatalogError(f"{field}.negotiated.agreement_ref is empty; expected a reference to the agreement")
        if len(negotiated.party_ids) < 2:
            raise CatalogError(f"{field}.negotiated.party_ids has {len(negotiated.party_ids)}; "
                               "expected the ids of the parties that agreed (at least 2)")
