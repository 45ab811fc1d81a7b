"""Fee schedules: which schedules are refused (naming the item), and the price each fee basis puts in force."""

from __future__ import annotations

import numpy as np
import pytest

from shuniu.market.billing.prices import data_rate_spec
from shuniu.market.catalog import CatalogError, check_pricing
from shuniu.market.catalog.pricing import operated_public_data
from shuniu.market.public_data import FeeError, check_schedule, pricing_for_item
from shuniu.market.rating.data import data_charge_twin
from shuniu.market.rating.tables import build_data_rates
from shuniu.protos.v1 import catalog_pb2, common_pb2, settlement_pb2 as s_pb2

PUBLIC = common_pb2.CLASSIFICATION_GRADE_PUBLIC


def _product(product_id="traffic", operator="op-city", department="dept-transport", public_data=True):
    spec = catalog_pb2.ProductSpec(grade=PUBLIC, pricing=catalog_pb2.Pricing(
        unit=catalog_pb2.PRICING_UNIT_PER_ROW, unit_price_fen=5, unit_size=1000, price_version=1,
        basis=catalog_pb2.PriceBasis(negotiated=catalog_pb2.NegotiatedBasis(agreement_ref="a-1", party_ids=["x", "y"]))))
    if public_data:
        spec.public_data.CopyFrom(catalog_pb2.PublicDataOperation(source_department_id=department, operator_id=operator))
    return catalog_pb2.Product(product_id=product_id, spec=spec, state=catalog_pb2.PRODUCT_STATE_LISTED)


def _item(**kw):
    return s_pb2.FeeItem(**{"product_id": "traffic", "basis": s_pb2.FEE_BASIS_PER_CALL, "fee_fen": 40, "ceiling_fen": 50, **kw})


def _schedule(*items, **kw):
    return s_pb2.FeeSchedule(**{"operator_id": "op-city", "authorizing_department_id": "dept-transport",
                                "items": list(items) or [_item()], "allowed_cost_fen": 100, **kw})


CATALOG = {"traffic": _product(), "other": _product("other", operator="op-else"), "private": _product("private", public_data=False)}


@pytest.mark.parametrize("schedule, kind, words", [
    (_schedule(_item(fee_fen=51)), "invalid", "schedule.items[0] (product 'traffic'): fee_fen 51 is above the ceiling"),
    (_schedule(_item(product_id="nope")), "not_found", "items[0] (product 'nope'): no such product"),
    (_schedule(_item(product_id="other")), "invalid", "operated by 'op-else', not 'op-city'"),
    (_schedule(_item(product_id="private")), "invalid", "not public data"),
    (_schedule(_item(), _item()), "invalid", "appears twice"),
    (_schedule(_item(ceiling_fen=0, fee_fen=0)), "invalid", "ceiling_fen is 0"),
    (_schedule(_item(basis=0)), "invalid", "basis 0 unknown"),
    (_schedule(_item(basis=s_pb2.FEE_BASIS_PER_TIME, unit_size=30)), "invalid", "expected 0 or 1"),
    (_schedule(_item(fee_fen=100_000_001, ceiling_fen=100_000_001)), "invalid", "up to 100,000,000,000 milli-fen per unit"),
    (_schedule(_item(basis=s_pb2.FEE_BASIS_PER_VOLUME, unit_size=3, fee_fen=1, ceiling_fen=3)), "invalid", "divides"),
    (_schedule(authorizing_department_id="dept-health"), "invalid", "authorizing department is 'dept-transport'"),
    (_schedule(allowed_tax_fen=-1), "invalid", "allowed_tax_fen is -1"),
    (_schedule(operator_id=""), "invalid", "schedule.operator_id"),
    (_schedule(effective_unix_ms=5), "invalid", "takes effect when it is published"),
    (s_pb2.FeeSchedule(operator_id="op-city", authorizing_department_id="dept-transport"), "invalid", "1 to 1000"),
], ids=["fee-above-ceiling", "unknown-product", "another-operators-product", "not-public-data", "duplicate-product",
        "no-ceiling", "no-basis", "per-time-unit-size", "above-rating-limit", "not-whole-millifen", "wrong-department",
        "negative-tax", "no-operator", "effective-time-set", "no-items"])
def test_bad_schedules_are_refused_naming_the_rule(schedule, kind, words):
    with pytest.raises(FeeError) as err:
        check_schedule(schedule, CATALOG)
    assert err.value.kind == kind and words in err.value.message


def test_a_good_schedule_passes():
    check_schedule(_schedule(_item(fee_fen=50)), CATALOG)  # fee equal to the ceiling is allowed


@pytest.mark.parametrize("basis, unit_size, unit, tiers", [
    (s_pb2.FEE_BASIS_PER_VOLUME, 1000, catalog_pb2.PRICING_UNIT_PER_ROW, []),
    (s_pb2.FEE_BASIS_PER_CALL, 0, catalog_pb2.PRICING_UNIT_PER_CALL, []),
    (s_pb2.FEE_BASIS_PER_PRODUCT, 1, catalog_pb2.PRICING_UNIT_PER_QUERY, []),
    (s_pb2.FEE_BASIS_PER_TIME, 0, catalog_pb2.PRICING_UNIT_PER_QUERY, [(1, 0)]),
], ids=["per-volume", "per-call", "per-product", "per-time"])
def test_each_basis_becomes_a_price_the_rating_charges(basis, unit_size, unit, tiers):
    pricing = pricing_for_item(_item(basis=basis, unit_size=unit_size), _product())
    assert (pricing.unit, pricing.unit_price_fen, pricing.unit_size, pricing.guided_cap_fen) == (unit, 40, unit_size or 1, 50)
    assert [(t.from_units, t.unit_price_fen) for t in pricing.volume_tiers] == tiers
    assert pricing.public_interest_free and pricing.basis.WhichOneof("basis") == "negotiated"
    data_rate_spec(_product(), pricing)  # raises UnratableError for a unit the kernels cannot rate


def _charges(pricing, buyers_and_months, free=None):
    """Per record: the fee a query of (buyer slot) pays, with volume counted per slot as the biller does."""
    product = _product()
    pricing.price_version = 2
    rates = build_data_rates({("traffic", 2): data_rate_spec(product, pricing)}, ["public_health"])
    n = len(buyers_and_months)
    ones = np.ones(n, np.int64)
    slots = np.array(buyers_and_months, np.int64)
    charge, _, after = data_charge_twin(np.zeros(n, np.int32), np.array(free or [False] * n), ones, ones, ones,
                                        rates.unit_kind, rates.tier_offsets, rates.tier_from_units,
                                        rates.tier_price_millifen, rates.guided_cap_millifen,
                                        np.zeros(int(slots.max()) + 1, np.int64), slots)
    return charge, after


def test_per_time_charges_each_buyer_once_a_month_and_free_use_does_not_count():
    pricing = pricing_for_item(_item(basis=s_pb2.FEE_BASIS_PER_TIME, fee_fen=900, ceiling_fen=1000), _product())
    # Slots as the biller makes them: (product, buyer, month). Slot 0 = buyer a in May, 1 = buyer b in May, 2 = a in June.
    charge, after = _charges(pricing, [0, 0, 1, 0, 2, 2], free=[True, False, False, False, False, False])
    assert charge == [0, 900, 900, 0, 900, 0]
    assert after == [2, 1, 2]


def test_per_product_charges_every_job():
    charge, _ = _charges(pricing_for_item(_item(basis=s_pb2.FEE_BASIS_PER_PRODUCT), _product()), [0, 0, 1])
    assert charge == [40, 40, 40]


@pytest.mark.parametrize("grade, operated, free", [
    (PUBLIC, True, True), (common_pb2.CLASSIFICATION_GRADE_INTERNAL, True, True),
    (PUBLIC, False, True), (common_pb2.CLASSIFICATION_GRADE_INTERNAL, False, False),
], ids=["public-operated", "internal-operated", "public-not-operated", "internal-not-operated"])
def test_public_data_under_authorized_operation_is_free_for_public_interest_whatever_its_grade(grade, operated, free):
    product = _product(public_data=operated)
    product.spec.grade = grade
    pricing = catalog_pb2.Pricing(unit=catalog_pb2.PRICING_UNIT_PER_CALL, unit_price_fen=40, unit_size=1,
                                  price_version=2, public_interest_free=True, basis=product.spec.pricing.basis)
    rates = build_data_rates({("traffic", 2): data_rate_spec(product, pricing)}, ["public_health"])
    assert bool(rates.is_public[0]) is free
    if operated:  # a fee schedule's pricing is free for public-interest use
        assert pricing_for_item(_item(), product).public_interest_free
    if free:  # and the catalog lists a pricing that says so
        check_pricing(pricing, grade, public_data=operated_public_data(product.spec))
    else:
        with pytest.raises(CatalogError, match="not public data"):
            check_pricing(pricing, grade, public_data=operated_public_data(product.spec))
