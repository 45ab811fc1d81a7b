"""Every price a listing accepts is rated: kernels, twins, pyarrow.compute and an independent reference
agree across the whole accepted ranges of prices, quantities, volume tiers and multipliers.

The reference below is written from the rules in docs/billing.md with Python integers; it shares no
code with market/rating (its denominators are even written another way).
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shuniu.market.billing.prices import data_rate_spec
from shuniu.market.catalog import CatalogError, check_pricing
from shuniu.market.public_data.fees import FeeError, check_schedule
from shuniu.market.rating import RatingInputs, build_rate_tables, rate_batch, rate_inputs, rate_inputs_twin
from shuniu.market.rating.arrow_compute import rate_inputs_arrow
from shuniu.market.rating.batch import MAX_UNITS_BEFORE
from shuniu.market.rating.tables import (MAX_BAND_MULTIPLIER_BP, MAX_COMPUTE_PRICE_FEN, MAX_DATA_PRICE_MILLIFEN, MAX_GUIDED_CAP_MILLIFEN,
                                         MAX_MULTIPLIER_BP, MAX_TIER_FROM_UNITS, MAX_TIERS_PER_PRODUCT)
from shuniu.protos.usage_schema import MAX_COMPUTE_QUANTITY, MAX_DATA_UNITS, USAGE_SCHEMA, to_wire
from shuniu.protos.v1 import catalog_pb2, common_pb2, settlement_pb2
from shuniu.scheduler.control_plane import validate
from shuniu.scheduler.control_plane.errors import RequestError
from shuniu.stack.seed import waybill_spec, waybill_table

HOUR_MS = 3_600_000
_KINDS = ("row", "call", "query")


# The independent reference ------------------------------------------------------------------------

def _half_even(num: int, den: int) -> int:
    q, r = divmod(num, den)
    return q + (2 * r > den or (2 * r == den and q % 2 == 1))


def reference_compute_microfen(record: dict, card: dict, tier_bp: dict) -> int:
    """Fen per core-hour and GPU-hour (3,600,000 ms), per GB-hour (1024 MB for 3600 s), times the band of
    the start hour in UTC+8 and the tier factor, in micro-fen rounded half to even."""
    hour = (record["start_ms"] // HOUR_MS + 8) % 24
    band = 10_000
    for b in card["bands"]:
        if b["start_hour"] <= hour < b["end_hour"]:
            band = b["multiplier_bp"]
    # Over 3,686,400,000 = 3,600,000 · 1024: ms·fen/3,600,000 = ms·fen·1024/den; MB·s·fen/3,686,400 = MB·s·fen·1000/den.
    per_hour = (record["cpu_ms"] * card["cpu_core_hour_fen"] * 1024 + record["gpu_ms"] * card["gpu_hour_fen"] * 1024
                + record["memory_mb_s"] * card["memory_gb_hour_fen"] * 1000)
    return _half_even(per_hour * band * tier_bp[record["tier"]] * 1_000_000, 3_686_400_000 * 10_000 * 10_000)


def reference_data_millifen(records: list[dict], products: list[dict], before: list[int]) -> tuple[list[int], list[int], list[int]]:
    """(charge, cap reduction) in milli-fen per record and volume after per product: billable units laid over
    the product's tiers from its cumulative volume, each unit at min(tier price, cap)."""
    volume = list(before)
    charges, reductions = [], []
    for r in records:
        p = r["product"]
        if p < 0 or r["free"]:
            charges.append(0)
            reductions.append(0)
            continue
        spec = products[p]
        units = r[("rows", "calls", "queries")[_KINDS.index(spec["unit"])]]
        cap = spec.get("guided_cap_millifen")
        at, left, gross, capped = volume[p], units, 0, 0
        while left:
            tier = [t for t in spec["tiers"] if t["from_units"] <= at][-1]  # tiers are sorted: the last one started
            later = [t["from_units"] for t in spec["tiers"] if t["from_units"] > at]
            take = min(left, later[0] - at) if later else left
            gross += take * tier["price_millifen"]
            capped += take * (tier["price_millifen"] if cap is None else min(tier["price_millifen"], cap))
            at, left = at + take, left - take
        volume[p] += units
        charges.append(capped)
        reductions.append(gross - capped)
    return charges, reductions, volume


# Drawn across the whole accepted ranges -----------------------------------------------------------

def _edge(most: int, small: int):
    return st.one_of(st.just(0), st.just(most), st.integers(0, most), st.integers(0, small))


@st.composite
def _card(draw, n: int) -> dict:
    cuts = [0, *sorted(draw(st.lists(st.integers(1, 23), unique=True, max_size=3))), 24]
    bands = [{"start_hour": a, "end_hour": b, "multiplier_bp": draw(_edge(MAX_BAND_MULTIPLIER_BP, 20_000))}
             for a, b in zip(cuts, cuts[1:]) if draw(st.booleans())]
    price = _edge(MAX_COMPUTE_PRICE_FEN, 2**17 + 1)  # both sides of the kernel's one-word form
    return {"node_id": f"n{n}", "compute_class": 1, "cpu_core_hour_fen": draw(price), "memory_gb_hour_fen": draw(price),
            "gpu_hour_fen": draw(price), "bands": bands}


@st.composite
def _product(draw) -> dict:
    starts = sorted(draw(st.lists(st.one_of(st.integers(1, 5000), st.integers(1, MAX_TIER_FROM_UNITS), st.just(MAX_TIER_FROM_UNITS)),
                                  unique=True, max_size=MAX_TIERS_PER_PRODUCT - 1)))
    price = _edge(MAX_DATA_PRICE_MILLIFEN, 3000)
    spec = {"unit": draw(st.sampled_from(_KINDS)), "grade": draw(st.sampled_from(["public", "internal"])),
            "tiers": [{"from_units": f, "price_millifen": draw(price)} for f in [0, *starts]]}
    cap = draw(st.one_of(st.none(), _edge(MAX_DATA_PRICE_MILLIFEN, 3000), st.just(MAX_GUIDED_CAP_MILLIFEN)))
    if cap is not None:
        spec["guided_cap_millifen"] = cap
    return spec


@st.composite
def full_range_cases(draw):
    cards = [draw(_card(n)) for n in range(draw(st.integers(1, 3)))]
    products = [draw(_product()) for _ in range(draw(st.integers(1, 3)))]
    tier_bp = {t: draw(_edge(MAX_MULTIPLIER_BP, 12_000)) for t in (1, 2, 3, 4)}
    tables = build_rate_tables(1, cards, tier_bp, {f"p{k}": spec for k, spec in enumerate(products)}, ["public_health"])
    # As the wire sends a batch: int32 when every value fits, else int64 up to the wire's per-record limits.
    narrow = draw(st.booleans())
    compute_top = 2**31 - 1 if narrow else MAX_COMPUTE_QUANTITY
    quantity = _edge(compute_top, 10 * HOUR_MS)
    units = _edge(MAX_DATA_UNITS, 1500)
    records = [{"card": draw(st.integers(0, len(cards) - 1)), "tier": draw(st.integers(1, 4)), "start_ms": draw(st.integers(0, 2**42)),
                "cpu_ms": draw(quantity), "memory_mb_s": draw(quantity), "gpu_ms": draw(quantity),
                "product": draw(st.integers(-1, len(products) - 1)), "free": draw(st.booleans()),
                "rows": draw(units), "calls": draw(units), "queries": draw(units)} for _ in range(draw(st.integers(0, 25)))]
    before = [draw(st.one_of(st.integers(0, 5000), st.integers(0, MAX_UNITS_BEFORE), st.just(MAX_UNITS_BEFORE))) for _ in products]
    width = np.int32 if narrow else np.int64
    column = lambda key, dtype=width: np.array([r[key] for r in records], dtype=dtype)  # noqa: E731
    inputs = RatingInputs(
        card_index=column("card", np.int16), tier=column("tier", np.int8), start_ms=column("start_ms", np.int64),
        cpu_ms=column("cpu_ms"), memory_mb_s=column("memory_mb_s"), gpu_ms=column("gpu_ms"), product_index=column("product", np.int16),
        free=column("free", np.bool_), rows=column("rows"), calls=column("calls"), queries=column("queries"),
    )  # fmt: skip
    # build_rate_tables sorts cards by (node, class) and products by id: n0..n2 and p0..p2 keep their order.
    return tables, inputs, np.array(before, dtype=np.int64), (cards, products, tier_bp, records, before)


_PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@_PROPERTY
@given(full_range_cases())
def test_kernel_twin_arrow_and_an_independent_reference_agree_across_the_accepted_ranges(case):
    tables, inputs, before, (cards, products, tier_bp, records, before_list) = case
    compute = [reference_compute_microfen(r, cards[r["card"]], tier_bp) for r in records]
    charge, reduction, after = reference_data_millifen(records, products, before_list)
    expected = {"compute_millifen": [c // 1000 for c in compute], "compute_rest_microfen": [c % 1000 for c in compute],
                "data_millifen": charge, "cap_reduction_millifen": reduction, "units_after": after}
    for rate in (rate_inputs, rate_inputs_twin, rate_inputs_arrow):
        rated = rate(inputs, tables, before)
        for name, values in expected.items():
            assert getattr(rated, name).tolist() == values, (rate.__name__, name)
    assert all(0 <= v < 2**62 for values in (expected["compute_millifen"], charge, reduction) for v in values)  # inside int64


def test_the_largest_lines_the_limits_allow_are_rated_exactly():
    card = {"node_id": "n0", "compute_class": 1, "cpu_core_hour_fen": MAX_COMPUTE_PRICE_FEN, "memory_gb_hour_fen": MAX_COMPUTE_PRICE_FEN,
            "gpu_hour_fen": MAX_COMPUTE_PRICE_FEN, "bands": [{"start_hour": 0, "end_hour": 24, "multiplier_bp": MAX_BAND_MULTIPLIER_BP}]}
    product = {"unit": "query", "grade": "internal", "tiers": [{"from_units": 0, "price_millifen": MAX_DATA_PRICE_MILLIFEN}]}
    tier_bp = dict.fromkeys((1, 2, 3, 4), MAX_MULTIPLIER_BP)
    tables = build_rate_tables(1, [card], tier_bp, {"p0": product}, [])
    record = {"card": 0, "tier": 4, "start_ms": 0, "cpu_ms": MAX_COMPUTE_QUANTITY, "memory_mb_s": MAX_COMPUTE_QUANTITY,
              "gpu_ms": MAX_COMPUTE_QUANTITY, "product": 0, "free": False, "rows": 0, "calls": 0, "queries": MAX_DATA_UNITS}
    inputs = RatingInputs(**{name: np.array([record[key]], dtype=dtype) for name, key, dtype in (
        ("card_index", "card", np.int16), ("tier", "tier", np.int8), ("start_ms", "start_ms", np.int64), ("cpu_ms", "cpu_ms", np.int64),
        ("memory_mb_s", "memory_mb_s", np.int64), ("gpu_ms", "gpu_ms", np.int64), ("product_index", "product", np.int16),
        ("free", "free", np.bool_), ("rows", "rows", np.int64), ("calls", "calls", np.int64), ("queries", "queries", np.int64))})
    for rate in (rate_inputs, rate_inputs_twin, rate_inputs_arrow):
        rated = rate(inputs, tables)
        exact = reference_compute_microfen(record, card, tier_bp)
        assert (rated.compute_millifen.tolist(), rated.compute_rest_microfen.tolist()) == ([exact // 1000], [exact % 1000]), rate.__name__
        assert rated.data_millifen.tolist() == [MAX_DATA_UNITS * MAX_DATA_PRICE_MILLIFEN], rate.__name__


def test_volume_past_the_saturation_point_prices_as_the_last_tier():
    product = {"unit": "row", "grade": "internal", "tiers": [{"from_units": 0, "price_millifen": 9},
                                                              {"from_units": MAX_TIER_FROM_UNITS, "price_millifen": 4}]}
    tables = build_rate_tables(1, [{"node_id": "n0", "compute_class": 1}], dict.fromkeys((1, 2, 3, 4), 10_000), {"p0": product}, [])
    inputs = RatingInputs(card_index=np.zeros(1, np.int16), tier=np.ones(1, np.int8), start_ms=np.zeros(1, np.int64),
                          cpu_ms=np.zeros(1, np.int64), memory_mb_s=np.zeros(1, np.int64), gpu_ms=np.zeros(1, np.int64),
                          product_index=np.zeros(1, np.int16), free=np.zeros(1, np.bool_), rows=np.array([10], np.int64),
                          calls=np.zeros(1, np.int64), queries=np.zeros(1, np.int64))  # fmt: skip
    for rate in (rate_inputs, rate_inputs_twin, rate_inputs_arrow):
        rated = rate(inputs, tables, np.array([2**63 - 1 - 10**6], dtype=np.int64))  # a counter far past every tier start
        assert (rated.data_millifen.tolist(), rated.units_after.tolist()) == ([40], [MAX_UNITS_BEFORE + 10]), rate.__name__


# A valid batch is rated; what cannot be rated is refused where it is listed -------------------------

def _waybill() -> tuple[catalog_pb2.Product, catalog_pb2.Pricing]:
    spec = waybill_spec(waybill_table(np.random.default_rng(0), rows=10).schema)
    pricing = catalog_pb2.Pricing()
    pricing.CopyFrom(spec.pricing)
    pricing.price_version = 1
    return catalog_pb2.Product(product_id="logistics-waybills-2025", spec=spec), pricing


def _usage(**changes) -> pa.RecordBatch:
    record = {"record_id": "r0", "job_id": "j-1", "grant_id": "g-1", "buyer_id": "buyer-1", "node_id": "n0", "compute_center": "cc-1",
              "product_id": "logistics-waybills-2025", "site": "luoyang", "tier": 1, "compute_class": 1, "start_unix_ms": 1_793_462_400_000,
              "end_unix_ms": 1_793_462_401_000, "cpu_ms": 0, "memory_mb_s": 0, "gpu_ms": 0, "rows": 50_000, "bytes": 0, "calls": 1,
              "queries": 1, "kind": 1, "purpose": "route_planning", "price_version": 1, "purpose_category": 3, "attempt": 1,
              "peak_memory_mb": 0, "output_bytes": 0}  # fmt: skip
    return pa.RecordBatch.from_pylist([{**record, **changes}], schema=USAGE_SCHEMA)


def test_the_seeded_waybill_product_is_listed_and_rated_at_2000_fen_a_query():
    product, pricing = _waybill()
    check_pricing(pricing, product.spec.grade)  # the catalog lists it ...
    tables = build_rate_tables(1, [{"node_id": "n0", "compute_class": 1}], dict.fromkeys((1, 2, 3, 4), 10_000),
                               {product.product_id: data_rate_spec(product, pricing)}, [])
    for batch in (_usage(), to_wire(_usage(queries=3, record_id="r1"))):  # ... and the biller rates it, as sent
        rated = rate_batch(batch, tables)
        assert rated.data_millifen.tolist() == [2_000_000 * batch.column("queries")[0].as_py()]


@given(st.integers(0, MAX_DATA_UNITS), st.integers(0, MAX_COMPUTE_QUANTITY), st.sampled_from([1, 10, 1000]))
@settings(max_examples=40, deadline=None)
def test_a_valid_batch_at_any_quantity_on_the_dearest_listable_product_is_rated(queries, cpu_ms, unit_size):
    product, pricing = _waybill()
    pricing.unit_size = unit_size
    pricing.unit_price_fen = MAX_DATA_PRICE_MILLIFEN * unit_size // 1000  # the limit, as fen per unit_size units
    check_pricing(pricing, product.spec.grade)
    card = {"node_id": "n0", "compute_class": 1, "cpu_core_hour_fen": MAX_COMPUTE_PRICE_FEN}
    tables = build_rate_tables(1, [card], dict.fromkeys((1, 2, 3, 4), MAX_MULTIPLIER_BP), {product.product_id: data_rate_spec(product, pricing)}, [])
    rated = rate_batch(_usage(queries=queries, cpu_ms=cpu_ms, tier=4), tables)
    assert rated.data_millifen.tolist() == [queries * MAX_DATA_PRICE_MILLIFEN]
    exact = _half_even(cpu_ms * MAX_COMPUTE_PRICE_FEN * MAX_MULTIPLIER_BP * 10**6, HOUR_MS * 10**4)
    assert (rated.compute_millifen.tolist(), rated.compute_rest_microfen.tolist()) == ([exact // 1000], [exact % 1000])


def _pricing(**fields) -> catalog_pb2.Pricing:
    pricing = catalog_pb2.Pricing(unit=catalog_pb2.PRICING_UNIT_PER_QUERY, unit_price_fen=2_000, unit_size=1,
                                  basis=catalog_pb2.PriceBasis(negotiated=catalog_pb2.NegotiatedBasis(agreement_ref="A-1", party_ids=["a", "b"])))
    pricing.volume_tiers.extend(fields.pop("volume_tiers", []))
    for name, value in fields.items():
        setattr(pricing, name, value)
    return pricing


CATALOG_REFUSALS = [
    ("price_above_the_limit", _pricing(unit_price_fen=MAX_DATA_PRICE_MILLIFEN // 1000 + 1),
     "spec.pricing.unit_price_fen is 100,000,001 fen per 1 units, 100,000,001,000 milli-fen per unit; expected at most "
     "100,000,000,000 milli-fen (1,000,000 yuan) per unit"),
    ("price_per_size_above_the_limit", _pricing(unit_price_fen=10**12, unit_size=1000), "expected at most 100,000,000,000 milli-fen"),
    ("price_not_whole_millifen", _pricing(unit_price_fen=1, unit_size=3), "is not a whole number of milli-fen per unit"),
    ("cap_not_whole_millifen", _pricing(unit_price_fen=3, unit_size=3, guided_cap_fen=7), "guided_cap_fen 7 fen per 3 units is not a whole"),
    ("unit_not_rated", _pricing(unit=catalog_pb2.PRICING_UNIT_PER_GIB), "unit per_gib is not billed: usage is rated per record"),
    ("tier_starting_past_the_limit", _pricing(volume_tiers=[catalog_pb2.VolumeTier(from_units=2**62 + 1, unit_price_fen=1)]),
     "volume_tiers[0].from_units is 4611686018427387905; expected at most 4,611,686,018,427,387,904 units"),
    ("tier_price_above_the_limit", _pricing(volume_tiers=[catalog_pb2.VolumeTier(from_units=5, unit_price_fen=10**9)]),
     "volume_tiers[0].unit_price_fen is 1,000,000,000 fen"),
]  # fmt: skip


@pytest.mark.parametrize(("pricing", "message"), [c[1:] for c in CATALOG_REFUSALS], ids=[c[0] for c in CATALOG_REFUSALS])
def test_the_catalog_refuses_a_price_it_could_not_bill_naming_the_limit(pricing, message):
    with pytest.raises(CatalogError, match=re.escape(message)):
        check_pricing(pricing, common_pb2.CLASSIFICATION_GRADE_INTERNAL)


def test_the_catalog_takes_the_limit_itself_and_the_rater_rates_it():
    product, _ = _waybill()
    pricing = _pricing(unit_price_fen=MAX_DATA_PRICE_MILLIFEN // 1000, price_version=1)
    check_pricing(pricing, product.spec.grade)
    assert data_rate_spec(product, pricing)["tiers"] == [{"from_units": 0, "price_millifen": MAX_DATA_PRICE_MILLIFEN}]


@pytest.mark.parametrize(("card", "message"), [
    (common_pb2.PriceCard(cpu_core_hour_fen=MAX_COMPUTE_PRICE_FEN + 1), "price_card.cpu_core_hour_fen is 100,000,001; expected "
                                                                         "0..100,000,000 fen (1,000,000 yuan) per unit-hour"),
    (common_pb2.PriceCard(bands=[common_pb2.TimeOfUseBand(start_hour=0, end_hour=8, multiplier_bp=100_001)]), "expected 1..100000"),
], ids=["price_above_the_limit", "band_above_x10"])
def test_node_registration_refuses_a_price_card_the_biller_could_not_rate(card, message):
    with pytest.raises(RequestError, match=re.escape(message)):
        validate.price_card(card)


def test_node_registration_takes_the_dearest_card_the_biller_rates():
    most = MAX_COMPUTE_PRICE_FEN
    validate.price_card(common_pb2.PriceCard(cpu_core_hour_fen=most, memory_gb_hour_fen=most, gpu_hour_fen=most, bands=[
        common_pb2.TimeOfUseBand(start_hour=0, end_hour=24, multiplier_bp=MAX_BAND_MULTIPLIER_BP)]))
    build_rate_tables(1, [{"node_id": "n0", "compute_class": 1, "cpu_core_hour_fen": most, "memory_gb_hour_fen": most, "gpu_hour_fen": most,
                           "bands": [{"start_hour": 0, "end_hour": 24, "multiplier_bp": MAX_BAND_MULTIPLIER_BP}]}],
                      dict.fromkeys((1, 2, 3, 4), MAX_MULTIPLIER_BP), {}, [])


def test_a_fee_schedule_above_the_rating_limit_is_refused_naming_it():
    product, _ = _waybill()
    product.spec.public_data.MergeFrom(catalog_pb2.PublicDataOperation(source_department_id="dept", operator_id="op"))
    item = settlement_pb2.FeeItem(product_id=product.product_id, basis=settlement_pb2.FEE_BASIS_PER_CALL, unit_size=1,
                                  fee_fen=MAX_DATA_PRICE_MILLIFEN // 1000 + 1, ceiling_fen=MAX_DATA_PRICE_MILLIFEN // 1000 + 1)
    schedule = settlement_pb2.FeeSchedule(operator_id="op", authorizing_department_id="dept", items=[item])
    with pytest.raises(FeeError, match="the rating takes a whole number up to 100,000,000,000 milli-fen per unit"):
        check_schedule(schedule, {product.product_id: product})
    item.fee_fen = item.ceiling_fen = MAX_DATA_PRICE_MILLIFEN // 1000
    check_schedule(settlement_pb2.FeeSchedule(operator_id="op", authorizing_department_id="dept", items=[item]), {product.product_id: product})


@given(st.integers(0, 5 * MAX_DATA_UNITS), st.integers(0, 3 * MAX_COMPUTE_QUANTITY), st.integers(0, 2**31 - 1))
@settings(max_examples=30, deadline=None)
def test_a_run_past_one_records_limits_is_reported_in_records_that_cost_what_it_costs(rows, cpu_ms, calls):
    from shuniu.nodes.job_runner import within_record_limits

    product = {"unit": "row", "grade": "internal", "tiers": [{"from_units": 0, "price_millifen": 7}, {"from_units": MAX_DATA_UNITS + 3,
                                                                                                  "price_millifen": 5}]}
    card = {"node_id": "n0", "compute_class": 1, "cpu_core_hour_fen": 31, "bands": [{"start_hour": 0, "end_hour": 24, "multiplier_bp": 12_345}]}
    tables = build_rate_tables(1, [card], dict.fromkeys((1, 2, 3, 4), 10_500), {"logistics-waybills-2025": product}, [])
    whole = _usage(rows=rows, cpu_ms=cpu_ms, calls=calls).to_pylist()[0]
    parts = within_record_limits(whole)
    rated = rate_batch(pa.RecordBatch.from_pylist(parts, schema=USAGE_SCHEMA), tables)  # each part a valid record
    assert [sum(p[name] for p in parts) for name in ("rows", "cpu_ms", "calls")] == [rows, cpu_ms, calls]
    assert parts[0]["record_id"] == "r0" and len({p["record_id"] for p in parts}) == len(parts)
    assert int(rated.data_millifen.sum()) == reference_data_millifen([{"product": 0, "free": False, "rows": rows}], [product], [0])[0][0]
    # A compute line is rounded to the micro-fen: the parts are within half a micro-fen each of the whole.
    exact = reference_compute_microfen({"start_ms": whole["start_unix_ms"], "tier": 1, "cpu_ms": cpu_ms, "gpu_ms": 0, "memory_mb_s": 0},
                                       {**card, "memory_gb_hour_fen": 0, "gpu_hour_fen": 0}, dict.fromkeys((1, 2, 3, 4), 10_500))
    assert abs(int(rated.compute_millifen.sum()) * 1000 + int(rated.compute_rest_microfen.sum()) - exact) <= len(parts)


@pytest.mark.parametrize("lines", [[], [5, 7], [2**62 - 1] * 4, [2**62 - 1, 3] * 1000], ids=["none", "small", "past_int64", "many_past_int64"])
def test_a_batch_total_is_exact_past_int64(lines):
    from shuniu.market.rating import RatedBatch

    column = np.array(lines, dtype=np.int64)
    rest = np.full(len(lines), 999, np.int16)
    rated = RatedBatch(column, column, np.zeros_like(column), np.zeros(0, np.int64), rest)
    assert rated.total_millifen == 2 * sum(lines)
    assert rated.total_microfen == 2 * sum(lines) * 1000 + 999 * len(lines)
