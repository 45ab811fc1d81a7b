"""From the catalog's and the fleet's records to the specs the rate tables and split plans are built from.

Pure functions over protobuf messages; they raise UnratableError saying why a product or
node cannot be rated per record, and the biller turns that into a dead letter.
"""

from __future__ import annotations

from shuniu.market.rating.tables import GRADES
from shuniu.protos.v1 import catalog_pb2, common_pb2, nodes_pb2

__all__ = ["UnratableError", "data_plan_spec", "data_rate_spec", "node_price_card"]

_UNITS = {
    catalog_pb2.PRICING_UNIT_PER_ROW: "row",
    catalog_pb2.PRICING_UNIT_PER_CALL: "call",
    catalog_pb2.PRICING_UNIT_PER_QUERY: "query",
}
_MILLIFEN_PER_FEN = 1000


class UnratableError(ValueError):
    """A product or node whose prices the per-record kernels cannot rate."""


def node_price_card(node: nodes_pb2.Node) -> dict:
    """The rate-table price card of a node: its compute class, prices per unit-hour and bands."""
    card = node.price_card
    return {
        "node_id": node.node_id, "compute_class": int(node.compute_class),
        "cpu_core_hour_fen": card.cpu_core_hour_fen, "memory_gb_hour_fen": card.memory_gb_hour_fen,
        "gpu_hour_fen": card.gpu_hour_fen,
        "bands": [{"start_hour": b.start_hour, "end_hour": b.end_hour, "multiplier_bp": b.multiplier_bp} for b in card.bands],
    }  # fmt: skip


def data_rate_spec(product: catalog_pb2.Product, pricing: catalog_pb2.Pricing) -> dict:
    """The rate-table spec of one price version of a product (prices in milli-fen per unit)."""
    where = f"product {product.product_id!r} price version {pricing.price_version}"
    unit = _UNITS.get(pricing.unit)
    if unit is None:
        name = catalog_pb2.PricingUnit.Name(pricing.unit) if pricing.unit in catalog_pb2.PricingUnit.values() else pricing.unit
        raise UnratableError(f"{where}: unit {name} is not rated per record; expected per row, call or query")
    grade = product.spec.grade
    if not common_pb2.CLASSIFICATION_GRADE_PUBLIC <= grade <= common_pb2.CLASSIFICATION_GRADE_CORE:
        raise UnratableError(f"{where}: classification grade {grade} unknown")
    size = pricing.unit_size or 1
    tiers = [(0, pricing.unit_price_fen)] + [(t.from_units, t.unit_price_fen) for t in pricing.volume_tiers]
    if len(tiers) > 1 and tiers[1][0] == 0:
        tiers = tiers[1:]  # a tier from 0 replaces the base price
    spec = {
        "unit": unit,
        "grade": GRADES[grade - 1],
        "tiers": [{"from_units": start, "price_millifen": _millifen(price, size, f"{where}: price")} for start, price in tiers],
        "public_interest_free": bool(pricing.public_interest_free),
        "public_data": is_public_data(product),
    }
    if pricing.guided_cap_fen:
        spec["guided_cap_millifen"] = _millifen(pricing.guided_cap_fen, size, f"{where}: guided cap")
    return spec


def is_public_data(product: catalog_pb2.Product) -> bool:
    """Public data: graded public, or operated under a public-data authorization (公共数据授权运营) whatever its grade."""
    spec = product.spec
    return spec.grade == common_pb2.CLASSIFICATION_GRADE_PUBLIC or bool(spec.HasField("public_data") and spec.public_data.operator_id)


def data_plan_spec(product: catalog_pb2.Product, exchange_fee_bp: int) -> dict:
    """The split plan of a product's revenue: the product-operation right's holders (数据产品经营权),
    the 反哺 share of public data to its source department, and the exchange's fee."""
    spec = product.spec
    right = spec.rights.product_operation if spec.rights.product_operation.holders else spec.rights.holding
    holders = {h.holder_id: h.share_bp for h in right.holders} or {spec.holder_id: 10_000}
    public = spec.grade == common_pb2.CLASSIFICATION_GRADE_PUBLIC
    plan = {"holders": holders, "exchange_fee_bp": exchange_fee_bp, "public": public}
    if public and spec.HasField("public_data") and spec.public_data.feedback_share_bp:
        plan["feedback"] = {"department": spec.public_data.source_department_id,
                            "share_bp": spec.public_data.feedback_share_bp}
    return plan


def _millifen(price_fen: int, unit_size: int, what: str) -> int:
    total = price_fen * _MILLIFEN_PER_FEN
    if total % unit_size:
        raise UnratableError(f"{what} {price_fen} fen per {unit_size} units is not a whole number of milli-fen per unit; "
                             "expected unit_size to divide price × 1000")
    return total // unit_size
