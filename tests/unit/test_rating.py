"""Rating: worked examples in fen, validation messages, and kernel == twin == pyarrow.compute."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shuniu.market.rating import RatingInputError, RatingInputs, build_rate_tables, prepare_batch, rate_batch, rate_inputs, rate_inputs_twin
from shuniu.market.rating.arrow_compute import rate_inputs_arrow
from shuniu.market.rating.batch import RATED_QUANTITIES
from shuniu.market.rating.bench import as_sent, run_rating_bench, synthetic_batch, synthetic_inputs, synthetic_tables
from shuniu.market.rating.kernel import _U_THOUSANDTH, MAX_ROUNDED_MILLIFEN, _round_line, _round_line_microfen, round_half_even_millifen
from shuniu.market.rating.tables import index_type
from shuniu.protos.usage_schema import USAGE_SCHEMA, UsageSchemaError, to_wire, validate_usage_batch

HOUR_MS = 3_600_000
CST_MIDNIGHT_MS = 1_793_462_400_000  # 2026-11-01 00:00 in China Standard Time
FLAT = [{"node_id": "zz-01", "compute_class": 1, "cpu_core_hour_fen": 12, "memory_gb_hour_fen": 5, "gpu_hour_fen": 0}]
BANDED = [{
    "node_id": "ly-01", "compute_class": 2, "cpu_core_hour_fen": 10, "memory_gb_hour_fen": 0, "gpu_hour_fen": 900,
    "bands": [{"start_hour": 0, "end_hour": 8, "multiplier_bp": 5000}, {"start_hour": 8, "end_hour": 22, "multiplier_bp": 15000}],
}]  # fmt: skip
TIER_BP = {1: 10_000, 2: 10_500, 3: 11_000, 4: 12_000}
PRODUCTS = {
    # 50 milli-fen a row for the first 1,000 rows of the period, 30 after; guided cap 40.
    "traffic": {"unit": "row", "grade": "public", "tiers": [{"from_units": 0, "price_millifen": 50}, {"from_units": 1000, "price_millifen": 30}], "guided_cap_millifen": 40},
    "credit": {"unit": "call", "grade": "sensitive", "tiers": [{"from_units": 0, "price_millifen": 2500}]},
}  # fmt: skip
TABLES = build_rate_tables(7, FLAT + BANDED, TIER_BP, PRODUCTS, {"public_health"})
TRAFFIC, CREDIT = TABLES.data.product_ids.index("traffic"), TABLES.data.product_ids.index("credit")
ZZ_CARD = int(TABLES.compute.card_index[TABLES.compute.node_ids.index("zz-01"), 1])
LY_CARD = int(TABLES.compute.card_index[TABLES.compute.node_ids.index("ly-01"), 2])
TABLES_FOR_MIX = synthetic_tables(seed=4, nodes=5, products=6)


def _inputs(records: list[dict]) -> RatingInputs:
    """Kernel inputs from records that name only what differs from an idle compute-only record."""
    default = {"card_index": ZZ_CARD, "tier": 1, "start_ms": CST_MIDNIGHT_MS, "cpu_ms": 0, "memory_mb_s": 0, "gpu_ms": 0,
               "product_index": -1, "free": False, "rows": 0, "calls": 0, "queries": 0}  # fmt: skip
    dtypes = {"card_index": np.int32, "tier": np.int8, "product_index": np.int32, "free": np.bool_}
    rows = [{**default, **r} for r in records]
    return RatingInputs(**{k: np.array([r[k] for r in rows], dtype=dtypes.get(k, np.int64)) for k in default})


COMPUTE_CASES = [  # expected micro-fen: a compute line is rounded once, half to even, to the micro-fen
    ("one_core_hour_flat", {"cpu_ms": HOUR_MS}, 12_000_000),
    ("zero_usage_costs_nothing", {}, 0),
    ("one_gb_hour_is_1024_mb_for_3600_s", {"memory_mb_s": 1024 * 3600}, 5_000_000),
    ("tier_t4_factor_12000bp", {"cpu_ms": HOUR_MS, "tier": 4}, 14_400_000),  # 14.4
    ("tier_t2_factor_10500bp", {"cpu_ms": 5 * HOUR_MS, "tier": 2}, 63_000_000),  # 60 x 1.05
    ("half_fen_is_kept_as_500_millifen", {"cpu_ms": HOUR_MS // 24}, 500_000),  # 0.5 fen, kept
    ("three_halves_fen_is_kept", {"cpu_ms": HOUR_MS // 8}, 1_500_000),  # 1.5 fen, kept
    ("just_over_half_fen_is_kept_to_the_micro_fen", {"cpu_ms": HOUR_MS // 24 + 1}, 500_003),  # 0.50000333 fen
    ("one_second_at_12_fen_a_core_hour_is_3333_micro_fen", {"cpu_ms": 1000}, 3_333),  # 0.0033333 fen: was 3 milli-fen
    ("one_ms_at_12_fen_a_core_hour_is_3_micro_fen", {"cpu_ms": 1}, 3),  # 3.33 micro-fen
    ("half_a_micro_fen_rounds_to_even", {"cpu_ms": 3, "memory_mb_s": 0, "tier": 2}, 10),  # 3 ms x 1.05 = 10.5 micro-fen
    ("gpu_hour_in_valley_band", {"card_index": LY_CARD, "gpu_ms": HOUR_MS, "start_ms": CST_MIDNIGHT_MS + 7 * HOUR_MS}, 450_000_000),
    ("last_ms_before_peak_is_valley", {"card_index": LY_CARD, "gpu_ms": HOUR_MS, "start_ms": CST_MIDNIGHT_MS + 8 * HOUR_MS - 1}, 450_000_000),
    ("exact_peak_start_is_peak", {"card_index": LY_CARD, "gpu_ms": HOUR_MS, "start_ms": CST_MIDNIGHT_MS + 8 * HOUR_MS}, 1_350_000_000),
    ("hour_without_band_is_flat", {"card_index": LY_CARD, "gpu_ms": HOUR_MS, "start_ms": CST_MIDNIGHT_MS + 22 * HOUR_MS}, 900_000_000),
    ("band_and_tier_multiply_before_rounding", {"card_index": LY_CARD, "cpu_ms": HOUR_MS, "tier": 2, "start_ms": CST_MIDNIGHT_MS + 9 * HOUR_MS}, 15_750_000),  # 15.75
    ("utc_midnight_is_cst_eight", {"card_index": LY_CARD, "gpu_ms": HOUR_MS, "start_ms": 0}, 1_350_000_000),
]


@pytest.mark.parametrize(("record", "expected_microfen"), [c[1:] for c in COMPUTE_CASES], ids=[c[0] for c in COMPUTE_CASES])
def test_compute_charge_worked_examples(record, expected_microfen):
    inputs = _inputs([record])
    for rate in (rate_inputs, rate_inputs_twin, rate_inputs_arrow):
        rated = rate(inputs, TABLES)
        assert (rated.compute_millifen.tolist(), rated.compute_rest_microfen.tolist()) == ([expected_microfen // 1000], [expected_microfen % 1000])
        assert rated.compute_fen.tolist() == [round(Fraction(expected_microfen, 10**6))]  # the line alone, half to even


DATA_CASES = [
    # (id, records, units before per product, expected data fen, expected cap reduction fen, traffic units after)
    ("cap_lowers_first_tier", [{"product_index": TRAFFIC, "rows": 600}], 0, [24], [6], 600),
    ("tier_boundary_crossed_inside_a_record", [{"product_index": TRAFFIC, "rows": 1400}], 0, [52], [10], 1400),
    ("tier_boundary_crossed_between_records", [{"product_index": TRAFFIC, "rows": 600}] * 2, 0, [24, 22], [6, 4], 1200),
    ("tiers_continue_from_earlier_batches", [{"product_index": TRAFFIC, "rows": 500}], 800, [17], [2], 1300),
    ("record_starting_exactly_on_boundary_pays_next_tier", [{"product_index": TRAFFIC, "rows": 100}], 1000, [3], [0], 1100),
    ("public_interest_use_is_free_and_not_counted", [{"product_index": TRAFFIC, "rows": 600, "free": True}], 0, [0], [0], 0),
    ("zero_rows_cost_nothing", [{"product_index": TRAFFIC}], 0, [0], [0], 0),
    ("compute_only_record_has_no_data_charge", [{"rows": 999}], 0, [0], [0], 0),
    ("per_call_without_cap", [{"product_index": CREDIT, "calls": 3, "rows": 10**6}], 0, [8], [0], 0),  # 7.5 -> 8
    ("half_fen_line_rounds_to_even", [{"product_index": CREDIT, "calls": 1}], 0, [2], [0], 0),  # 2.5 -> 2
]


@pytest.mark.parametrize(("records", "before", "data_fen", "cap_fen", "after"), [c[1:] for c in DATA_CASES], ids=[c[0] for c in DATA_CASES])
def test_data_charge_worked_examples(records, before, data_fen, cap_fen, after):
    units_before = np.zeros(len(TABLES.data.product_ids), dtype=np.int64)
    units_before[TRAFFIC] = before
    for rate in (rate_inputs, rate_inputs_twin, rate_inputs_arrow):
        rated = rate(_inputs(records), TABLES, units_before)
        assert (rated.data_fen.tolist(), rated.cap_reduction_fen.tolist(), int(rated.units_after[TRAFFIC])) == (data_fen, cap_fen, after), rate.__name__
    assert units_before[TRAFFIC] == before  # the caller's array is not changed


def _record(i: int, **changes) -> dict:
    record = {"record_id": f"r{i}", "job_id": "j-1", "grant_id": "g-1", "buyer_id": "buyer-1", "node_id": "zz-01",
              "compute_center": "cc-zz", "product_id": "traffic", "site": "zhengzhou", "tier": 1, "compute_class": 1,
              "start_unix_ms": CST_MIDNIGHT_MS, "end_unix_ms": CST_MIDNIGHT_MS + 1000, "cpu_ms": HOUR_MS, "memory_mb_s": 0,
              "gpu_ms": 0, "rows": 600, "bytes": 6000, "calls": 0, "queries": 0, "kind": 1, "purpose": "marketing",
              "price_version": 7, "purpose_category": 3, "attempt": 1, "peak_memory_mb": 0, "output_bytes": 0}  # fmt: skip
    return {**record, **changes}


def _batch(*records: dict) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(list(records), schema=USAGE_SCHEMA)


def test_batch_is_rated_from_arrow_with_public_interest_and_compute_only_records():
    batch = _batch(_record(0), _record(1, purpose="public_health"), _record(2, product_id=""), _record(3, rows=600))
    rated = rate_batch(batch, TABLES)
    assert rated.compute_fen.tolist() == [12, 12, 12, 12]
    assert rated.data_fen.tolist() == [24, 0, 0, 22]
    assert rated.cap_reduction_fen.tolist() == [6, 0, 0, 4]
    assert rated.total_fen == 48 + 46
    assert rated.units_after[TRAFFIC] == 1200


def test_prepared_columns_are_views_of_the_arrow_buffers():
    batch = _batch(_record(0), _record(1))
    inputs = prepare_batch(batch, TABLES)
    assert not inputs.cpu_ms.flags.owndata and not inputs.cpu_ms.flags.writeable
    assert inputs.cpu_ms.ctypes.data == batch.column("cpu_ms").buffers()[1].address


@pytest.mark.parametrize("memory_mb_s", [7, 2**32], ids=["all_fit_int32", "one_past_int32"])
def test_a_batch_in_its_wire_form_is_rated_from_its_own_buffers_in_one_width(memory_mb_s):
    wide = _batch(_record(0, memory_mb_s=memory_mb_s, gpu_ms=2**31 - 1, start_unix_ms=CST_MIDNIGHT_MS + 9 * HOUR_MS,
                          end_unix_ms=CST_MIDNIGHT_MS + 10 * HOUR_MS, node_id="ly-01", compute_class=2),
                  _record(1, calls=3),
                  _record(2, product_id="", start_unix_ms=CST_MIDNIGHT_MS + 20 * HOUR_MS, end_unix_ms=CST_MIDNIGHT_MS + 21 * HOUR_MS))
    wire = to_wire(wide)
    inputs = prepare_batch(wire, TABLES)
    widths = {getattr(inputs, name).dtype for name in RATED_QUANTITIES}
    assert widths == ({np.dtype(np.int32)} if memory_mb_s < 2**31 else {np.dtype(np.int64)})
    if memory_mb_s < 2**31:  # kept as sent: no copy
        assert inputs.rows.ctypes.data == wire.column("rows").buffers()[1].address
    # The start times as sent: int32 ms after the batch's earliest, whatever the quantities' width.
    assert inputs.start_ms.dtype == np.int32 and inputs.start_ms.ctypes.data == wire.column("start_unix_ms").buffers()[1].address
    assert inputs.start_base_ms == CST_MIDNIGHT_MS and inputs.start_unix_ms().tolist() == wide.column("start_unix_ms").to_pylist()
    assert wire.schema.field("price_version").type == pa.int32()  # widened for the product lookup
    assert inputs.product_index.tolist() == prepare_batch(wide, TABLES).product_index.tolist() == [TRAFFIC, TRAFFIC, -1]
    for name in ("compute_millifen", "compute_rest_microfen", "data_millifen", "cap_reduction_millifen", "units_after"):
        assert getattr(rate_batch(wire, TABLES), name).tolist() == getattr(rate_batch(wide, TABLES), name).tolist(), name


def test_inputs_with_quantities_of_mixed_widths_are_rated_as_int64():
    inputs = synthetic_inputs(500, TABLES_FOR_MIX, seed=4)
    mixed = dataclasses.replace(inputs, cpu_ms=inputs.cpu_ms.astype(np.int32), rows=inputs.rows.astype(np.uint32))
    for name in ("compute_millifen", "compute_rest_microfen", "data_millifen", "cap_reduction_millifen", "units_after"):
        assert getattr(rate_inputs(mixed, TABLES_FOR_MIX), name).tolist() == getattr(rate_inputs(inputs, TABLES_FOR_MIX), name).tolist()


REJECTED = [
    ("unknown_node", _record(0, node_id="nowhere-9"), "unknown node 'nowhere-9'"),
    ("no_card_for_class", _record(0, compute_class=3), "no price card for compute class 3"),
    ("unknown_product", _record(0, product_id="ghost"), "unknown product 'ghost'"),
    ("other_price_version", _record(0, price_version=6), "priced under version 6; these rate tables are version 7"),
]


@pytest.mark.parametrize(("record", "message"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED])
def test_batch_that_cannot_be_rated_names_the_record_and_reason(record, message):
    with pytest.raises(RatingInputError, match=message) as error:
        rate_batch(_batch(record), TABLES)
    assert error.value.record_id == "r0"


SCHEMA_ERRORS = [
    ("missing_column", lambda b: b.drop_columns(["queries"]), "missing columns \\['queries'\\]"),
    ("wrong_type", lambda b: b.set_column(8, pa.field("tier", pa.int64()), pa.array([1], pa.int64())), "'tier' has type int64; expected int8"),
    ("tier_out_of_range", lambda b: _batch(_record(0, tier=5)), "'tier' is outside 1..4 in 1 records, first 'r0'"),
    ("negative_quantity", lambda b: _batch(_record(0, cpu_ms=-1)), "'cpu_ms' is negative"),
    ("end_before_start", lambda b: _batch(_record(0, end_unix_ms=0)), "end_unix_ms is before start_unix_ms"),
    ("repeated_record_id", lambda b: _batch(_record(0), _record(0)), "record_id values repeat"),
    ("empty_node_id", lambda b: _batch(_record(0, node_id="")), "'node_id' is empty"),
    ("purpose_category_unspecified", lambda b: _batch(_record(0, purpose_category=0)), "'purpose_category' is outside 1..3"),
    ("rows_over_the_per_record_limit", lambda b: _batch(_record(0, rows=2**25 + 1)), "'rows' is above 33,554,432 in 1 records, first 'r0'"),
    ("cpu_ms_over_the_per_record_limit", lambda b: _batch(_record(0, cpu_ms=2**40 + 1)), "'cpu_ms' is above 1,099,511,627,776"),
]


@pytest.mark.parametrize(("corrupt", "message"), [c[1:] for c in SCHEMA_ERRORS], ids=[c[0] for c in SCHEMA_ERRORS])
def test_bad_usage_batch_is_rejected_with_a_clear_reason(corrupt, message):
    batch = corrupt(pa.Table.from_batches([_batch(_record(0))]))
    with pytest.raises(UsageSchemaError, match=message):
        validate_usage_batch(batch)


def test_valid_usage_batch_passes():
    validate_usage_batch(_batch(_record(0), _record(1)))


BUILDER_ERRORS = [
    ("unknown_class", dict(price_cards=[{**FLAT[0], "compute_class": 4}]), "compute_class 4 unknown"),
    ("duplicate_card", dict(price_cards=FLAT * 2), "two price cards for node 'zz-01' compute class 1"),
    ("negative_price", dict(price_cards=[{**FLAT[0], "cpu_core_hour_fen": -1}]), "cpu_core_hour_fen is -1; expected 0..100000000"),
    ("float_price", dict(price_cards=[{**FLAT[0], "gpu_hour_fen": 1.5}]), "gpu_hour_fen must be an integer"),
    ("overlapping_bands", dict(price_cards=[{**FLAT[0], "bands": [{"start_hour": 0, "end_hour": 9, "multiplier_bp": 1}, {"start_hour": 8, "end_hour": 10, "multiplier_bp": 1}]}]), "overlaps"),
    ("wrapping_band", dict(price_cards=[{**FLAT[0], "bands": [{"start_hour": 22, "end_hour": 6, "multiplier_bp": 1}]}]), "do not wrap midnight"),
    ("missing_tier_factor", dict(tier_factor_bp={1: 10_000}), "must map every tier 1..4"),
    ("unknown_unit", dict(products={"x": {**PRODUCTS["credit"], "unit": "byte"}}), "unit 'byte' unknown; expected one of row, call, query"),
    ("unknown_grade", dict(products={"x": {**PRODUCTS["credit"], "grade": "secret"}}), "grade 'secret' unknown"),
    ("tiers_not_from_zero", dict(products={"x": {**PRODUCTS["credit"], "tiers": [{"from_units": 5, "price_millifen": 1}]}}), "must start at from_units 0"),
    ("tiers_not_increasing", dict(products={"x": {**PRODUCTS["credit"], "tiers": [{"from_units": 0, "price_millifen": 1}, {"from_units": 0, "price_millifen": 1}]}}), "increase strictly"),
    ("typo_in_key", dict(products={"x": {**PRODUCTS["credit"], "guided_cap": 3}}), "unknown keys \\['guided_cap'\\]"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), [c[1:] for c in BUILDER_ERRORS], ids=[c[0] for c in BUILDER_ERRORS])
def test_rate_table_builder_rejects_bad_input(change, message):
    args = {"price_version": 1, "price_cards": FLAT, "tier_factor_bp": TIER_BP, "products": PRODUCTS, "public_interest_purposes": ["public_health"], **change}
    with pytest.raises(ValueError, match=message):
        build_rate_tables(**args)


# Property tests: random tables and batches, kernels against the twin and pyarrow.compute.

_hours = st.lists(st.integers(1, 23), unique=True, max_size=4).map(sorted)


@st.composite
def tables_and_inputs(draw):
    cards = []
    for n in range(draw(st.integers(1, 3))):
        cuts = [0, *draw(_hours), 24]
        bands = [{"start_hour": a, "end_hour": b, "multiplier_bp": draw(st.sampled_from([0, 5000, 10_000, 12_345, 30_000]))} for a, b in zip(cuts, cuts[1:]) if draw(st.booleans())]
        price = st.one_of(st.just(0), st.just(2**17), st.integers(0, 2**17))
        cards.append({"node_id": f"n{n}", "compute_class": draw(st.integers(1, 3)), "cpu_core_hour_fen": draw(price),
                      "memory_gb_hour_fen": draw(price), "gpu_hour_fen": draw(price), "bands": bands})  # fmt: skip
    products = {}
    for p in range(draw(st.integers(1, 3))):
        froms = sorted(draw(st.lists(st.integers(1, 3000), unique=True, max_size=3)))
        price = st.one_of(st.just(0), st.just(2**20), st.integers(0, 3000))
        products[f"p{p}"] = {"unit": draw(st.sampled_from(["row", "call", "query"])), "grade": draw(st.sampled_from(["public", "core"])),
                             "tiers": [{"from_units": f, "price_millifen": draw(price)} for f in [0, *froms]],
                             "guided_cap_millifen": draw(st.one_of(st.none(), st.integers(0, 3000)))}  # fmt: skip
    tier_bp = {t: draw(st.sampled_from([0, 10_000, 10_500, 12_000, 30_000])) for t in (1, 2, 3, 4)}
    tables = build_rate_tables(1, cards, tier_bp, products, ["public_health"])
    n = draw(st.integers(0, 30))
    # Quantities as the wire sends a batch whose values fit (int32, up to its largest value), or int64 to the limits.
    narrow = draw(st.booleans())
    top_quantity, top_units, width = (2**31 - 1, 2**31 - 1, np.int32) if narrow else (2**35, 2**36, np.int64)
    quantity = st.one_of(st.just(0), st.just(top_quantity), st.integers(0, top_quantity), st.integers(0, 10 * HOUR_MS))
    units = st.one_of(st.just(0), st.integers(0, 1500), st.just(top_units), st.integers(0, top_units))
    start = st.one_of(st.integers(0, 2**42), st.integers(0, 400_000).map(lambda h: h * HOUR_MS), st.integers(1, 400_000).map(lambda h: h * HOUR_MS - 1),
                      st.integers(0, 2**63 - 1), st.integers(1, 2**41).map(lambda h: h * HOUR_MS - 1))  # far future: the float hour estimate
    ints = lambda s, dtype: np.array(draw(st.lists(s, min_size=n, max_size=n)), dtype=dtype)  # noqa: E731
    # Start times as Unix ms (base 0), or as the wire sends them: int32 ms after a base (one that may not be the earliest).
    if draw(st.booleans()):
        start_ms, start_base_ms = ints(start, np.int64), 0
    else:
        start_base_ms = draw(st.one_of(st.just(1_793_462_400_000), st.integers(2**31, 2**62)))
        start_ms = ints(st.one_of(st.integers(-(2**31), 2**31 - 1), st.integers(0, 400).map(lambda h: h * HOUR_MS)), np.int32)
    index = lambda: draw(st.sampled_from([np.int16, np.int32]))  # noqa: E731
    inputs = RatingInputs(
        card_index=ints(st.integers(0, len(cards) - 1), index()), tier=ints(st.integers(1, 4), np.int8), start_ms=start_ms,
        cpu_ms=ints(quantity, width), memory_mb_s=ints(quantity, width), gpu_ms=ints(quantity, width),
        product_index=ints(st.integers(-1, len(products) - 1), index()), free=ints(st.booleans(), np.bool_),
        rows=ints(units, width), calls=ints(units, width), queries=ints(units, width), start_base_ms=start_base_ms,
    )  # fmt: skip
    before = np.array(draw(st.lists(st.one_of(st.integers(0, 3000), st.integers(0, 2**61)), min_size=len(products), max_size=len(products))), dtype=np.int64)
    return tables, inputs, before


_PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_FIELDS = ("compute_millifen", "compute_rest_microfen", "data_millifen", "cap_reduction_millifen", "units_after")


@_PROPERTY
@given(tables_and_inputs())
def test_kernels_equal_their_plain_twins(case):
    tables, inputs, before = case
    kernel, twin = rate_inputs(inputs, tables, before), rate_inputs_twin(inputs, tables, before)
    for name in _FIELDS:
        assert getattr(kernel, name).tolist() == getattr(twin, name).tolist(), name


@_PROPERTY
@given(tables_and_inputs())
def test_pyarrow_compute_baseline_equals_kernels(case):
    tables, inputs, before = case
    kernel, arrow = rate_inputs(inputs, tables, before), rate_inputs_arrow(inputs, tables, before)
    for name in _FIELDS:
        assert getattr(kernel, name).tolist() == getattr(arrow, name).tolist(), name


@_PROPERTY
@given(tables_and_inputs(), st.integers(0, 30))
def test_volume_tiers_continue_across_batches(case, cut):
    tables, inputs, before = case
    head, tail = inputs.sliced(0, cut), inputs.sliced(cut, len(inputs))
    whole = rate_inputs(inputs, tables, before)
    first = rate_inputs(head, tables, before)
    second = rate_inputs(tail, tables, first.units_after)
    assert np.concatenate([first.data_fen, second.data_fen]).tolist() == whole.data_fen.tolist()
    assert second.units_after.tolist() == whole.units_after.tolist()


def test_synthetic_batch_prepares_into_its_inputs_and_all_ways_agree():
    tables = synthetic_tables(seed=3)
    inputs = synthetic_inputs(3000, tables, seed=3)
    prepared = prepare_batch(synthetic_batch(inputs, tables), tables)
    for name, column in inputs.columns().items():
        assert np.array_equal(prepared.columns()[name], column), name
    kernel, arrow, twin = (rate(prepared, tables) for rate in (rate_inputs, rate_inputs_arrow, rate_inputs_twin))
    for name in _FIELDS:
        assert getattr(kernel, name).tolist() == getattr(arrow, name).tolist() == getattr(twin, name).tolist(), name


def test_rating_bench_reports_records_per_second_for_each_way():
    report = run_rating_bench(5000, repeats=1)
    for key in ("numba_records_per_s", "pyarrow_compute_records_per_s", "python_twin_records_per_s", "numba_vs_pyarrow_compute"):
        assert report[key] > 0, key
    # As the wire sends them: int16 indexes (2 + 2), int8 tier, int32 start after the batch's base, int32 quantities (6 × 4), bool free.
    assert report["batch_input_bytes_per_record"] == 34


@pytest.mark.parametrize(("rows", "expected"), [(0, np.int16), (2**15 - 1, np.int16), (2**15, np.int32), (2**31 - 1, np.int32)])
def test_a_per_record_index_is_int16_while_its_table_has_fewer_than_2_15_rows(rows, expected):
    assert index_type(rows) is expected


def test_price_cards_past_int16_rate_with_int32_indexes_as_the_twin_does():
    cards = [{"node_id": f"n{k:05d}", "compute_class": 1, "cpu_core_hour_fen": 1 + k % 50, "memory_gb_hour_fen": 1, "gpu_hour_fen": 0,
              "bands": [{"start_hour": 8, "end_hour": 11, "multiplier_bp": 12000}] if k % 2 else []} for k in range(2**15 + 4096)]
    product = {"unit": "row", "grade": "internal", "tiers": [{"from_units": 0, "price_millifen": 30}], "guided_cap_millifen": None}
    tables = build_rate_tables(1, cards, {1: 10_000, 2: 10_500, 3: 11_000, 4: 12_000}, {"p": product}, [])
    inputs = synthetic_inputs(3000, tables, seed=9)
    assert inputs.card_index.dtype == np.int32 and inputs.card_index.max() >= 2**15  # some records on cards past int16
    kernel, twin = rate_inputs(as_sent(inputs), tables), rate_inputs_twin(inputs, tables)
    for name in _FIELDS:
        assert getattr(kernel, name).tolist() == getattr(twin, name).tolist(), name


@_PROPERTY
@given(tables_and_inputs(), st.data())
def test_volume_slots_shared_by_several_products_equal_the_twin(case, data):
    # One slot may count records of several products; the kernel's per-slot tier memory must not leak between them.
    tables, inputs, _ = case
    n_slots = data.draw(st.integers(1, 3))
    slots = np.array(data.draw(st.lists(st.integers(0, n_slots - 1), min_size=len(inputs), max_size=len(inputs))), dtype=np.int64)
    before = np.array(data.draw(st.lists(st.integers(0, 3000), min_size=n_slots, max_size=n_slots)), dtype=np.int64)
    kernel, twin = rate_inputs(inputs, tables, before, slots), rate_inputs_twin(inputs, tables, before, slots)
    for name in _FIELDS:
        assert getattr(kernel, name).tolist() == getattr(twin, name).tolist(), name


@pytest.mark.parametrize("slots", ["per_product", "shared_by_products"])
def test_long_batch_crossing_many_tiers_equals_the_twin(slots):
    # The data kernel remembers each slot's tier: tiers crossed again and again over a long batch, and
    # slots that switch products, must refresh what it remembers exactly where the twin moves on.
    rng = np.random.default_rng(11)
    tier = lambda f, price: {"from_units": f, "price_millifen": price}  # noqa: E731
    products = {f"p{p}": {"unit": ("row", "call", "query")[p], "grade": "internal", "guided_cap_millifen": (None, 700, 90)[p],
                          "tiers": [tier(0, 900), tier(1_000_000 + p, 800), tier(9_000_000, 50), tier(20_000_001, 7)]}
                for p in range(3)}  # fmt: skip
    cards = [{"node_id": "n0", "compute_class": 1, "cpu_core_hour_fen": 31, "memory_gb_hour_fen": 3, "gpu_hour_fen": 0, "bands": []}]
    tables = build_rate_tables(1, cards, {1: 10_000, 2: 10_500, 3: 11_000, 4: 12_000}, products, ["public_health"])
    n = 40_000
    inputs = RatingInputs(
        card_index=np.zeros(n, np.int32), tier=rng.integers(1, 5, n).astype(np.int8), start_ms=rng.integers(0, 2**42, n),
        cpu_ms=rng.integers(0, 10 * HOUR_MS, n), memory_mb_s=rng.integers(0, 10**7, n), gpu_ms=np.zeros(n, np.int64),
        product_index=rng.integers(-1, 3, n).astype(np.int32), free=rng.random(n) < 0.1,
        rows=rng.integers(0, 3000, n), calls=rng.integers(0, 3000, n), queries=rng.integers(0, 3000, n),
    )  # fmt: skip
    if slots == "per_product":
        volume_slot, before = None, np.array([0, 999_000, 8_999_999])
    else:
        volume_slot, before = rng.integers(0, 2, n), np.array([0, 5_000_000])
    kernel, twin = rate_inputs(inputs, tables, before, volume_slot), rate_inputs_twin(inputs, tables, before, volume_slot)
    for name in _FIELDS:
        assert getattr(kernel, name).tolist() == getattr(twin, name).tolist(), name


_LINE_DEN = 460_800_000 * 100_000_000  # compute.py: quantity denominator × two basis-point factors


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 2**61), st.integers(0, 900_000_000), st.sampled_from(["anywhere", "near_half", "near_whole"]), st.integers(-2, 2))
def test_compute_line_rounding_is_exact_half_even_at_any_magnitude(base, m, where, nudge):
    # The kernel estimates base·m/den in float64 and corrects in integers: quotients next to .5 (the
    # rounding decision) and next to a whole fen (the floor) are where a float could slip.
    if where != "anywhere" and m:
        target = (base * m // _LINE_DEN) * _LINE_DEN + (_LINE_DEN // 2 if where == "near_half" else 0) + nudge * m
        base = max(0, min(2**61, -(-target // m)))  # the base whose product lands next to the target
    assert _round_line(np.uint64(base), np.uint64(m)) == round(Fraction(base * m, _LINE_DEN))


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 2**61), st.integers(0, 900_000_000), st.sampled_from(["anywhere", "near_half", "near_whole"]), st.integers(-2, 2))
def test_compute_line_is_exact_half_even_to_the_micro_fen_at_any_magnitude(base, m, where, nudge):
    # As above, one micro-fen (a millionth of the line's denominator) being the unit: next to half a micro-fen and
    # next to a whole one, and next to a whole milli-fen and fen, where the rest carries.
    den = _LINE_DEN // 10**6
    if where != "anywhere" and m:
        target = (base * m // den) * den + (den // 2 if where == "near_half" else 0) + nudge * m
        base = max(0, min(2**61, -(-target // m)))
    microfen = round(Fraction(base * m, den))
    assert _round_line_microfen(np.uint64(base), np.uint64(m)) == (microfen // 1000, microfen % 1000)


def test_the_micro_fen_of_a_fen_part_into_milli_fen_by_a_multiply_and_a_shift():
    k = np.arange(10**6 + 1, dtype=np.uint64)  # every micro-fen count of a fen, rounded up to a whole fen included
    assert np.array_equal((k * _U_THOUSANDTH) >> np.uint64(32), k // np.uint64(1000))


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.integers(0, MAX_ROUNDED_MILLIFEN // 1000 - 1), st.integers(0, 10**6)), st.sampled_from([0, 1, 499, 500, 501, 999]))
def test_data_line_rounding_is_half_even_to_the_fen(fen, millifen_over):
    millifen = fen * 1000 + millifen_over
    assert round_half_even_millifen(np.int64(millifen)) == round(Fraction(millifen, 1000))
