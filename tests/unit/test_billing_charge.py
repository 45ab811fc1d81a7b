"""Charging a batch, pure: volume slots in the kernels, split parts aggregated into balanced postings."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shuniu.market.billing import PriceBook, charge_batch, prepare_usage
from shuniu.market.billing import charge as charge_module
from shuniu.market.billing.prices import UnratableError, data_plan_spec, data_rate_spec
from shuniu.market.ledger import PostingColumns, account_id, billed_period, period_of_ms
from shuniu.market.ledger.lines import read_lines
from shuniu.market.rating import RateTables, RatingInputs, rate_inputs, rate_inputs_twin
from shuniu.market.rating.tables import build_compute_rates, build_data_rates
from shuniu.market.rating.arrow_compute import rate_inputs_arrow
from shuniu.market.split import build_split_plans
from shuniu.market.split.hamilton import split_twin
from shuniu.protos.usage_schema import USAGE_SCHEMA, to_wire
from shuniu.protos.v1 import catalog_pb2, common_pb2, ledger_pb2

NOV_MS = 1_793_462_400_000
DEC_MS = NOV_MS + 30 * 86_400_000
CARDS = [{"node_id": "n1", "compute_class": 1, "cpu_core_hour_fen": 36, "memory_gb_hour_fen": 4, "gpu_hour_fen": 0,
          "bands": [{"start_hour": 8, "end_hour": 22, "multiplier_bp": 12_000}]}]  # fmt: skip
PRODUCTS = {
    ("traffic", 1): {"unit": "row", "grade": "public", "tiers": [{"from_units": 0, "price_millifen": 50}, {"from_units": 1000, "price_millifen": 30}]},
    ("traffic", 2): {"unit": "row", "grade": "public", "tiers": [{"from_units": 0, "price_millifen": 80}]},
    ("credit", 1): {"unit": "call", "grade": "sensitive", "tiers": [{"from_units": 0, "price_millifen": 2500}], "guided_cap_millifen": 2000},
}  # fmt: skip
PLAN_SPECS = {
    "data": {"traffic": {"holders": {"h-city": 5000, "h-bus": 5000}, "exchange_fee_bp": 300, "public": True,
                         "feedback": {"department": "dept-transport", "share_bp": 1000}},
             "credit": {"holders": {"h-bank": 10_000}, "exchange_fee_bp": 300, "public": False}},
    "compute": {"cc-1": {"exchange_fee_bp": 200}}, "exchange_id": "exchange",
}  # fmt: skip
TABLES = RateTables(0, build_compute_rates(CARDS, {1: 10_000, 2: 10_500, 3: 11_000, 4: 12_000}), build_data_rates(PRODUCTS, ()))
BOOK = PriceBook(TABLES, build_split_plans(PLAN_SPECS["data"], PLAN_SPECS["compute"]), PLAN_SPECS,
                 {"traffic": "transport", "credit": "finance"})


def _record(i: int, **changes) -> dict:
    base = {"record_id": f"r{i}", "job_id": f"j{i}", "grant_id": "g", "buyer_id": "acme", "node_id": "n1", "compute_center": "cc-1",
            "product_id": "traffic", "site": "zhengzhou", "tier": 1, "start_unix_ms": NOV_MS, "end_unix_ms": NOV_MS + 1000,
            "cpu_ms": 3_600_000, "memory_mb_s": 0, "gpu_ms": 0, "rows": 600, "bytes": 0, "calls": 1, "kind": 1, "purpose": "ads",
            "price_version": 1, "purpose_category": 3, "compute_class": 1, "attempt": 1, "peak_memory_mb": 0, "output_bytes": 0,
            "queries": 1}  # fmt: skip
    return {**base, **changes}


def _batch(*records: dict) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(list(records), schema=USAGE_SCHEMA)


def _balances(posting) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for p in posting.postings:
        out[p.debit_account_id] -= p.amount_fen
        out[p.credit_account_id] += p.amount_fen
    return dict(out)


def test_worked_batch_posts_compute_and_data_with_fee_and_feedback():
    prepared = prepare_usage("b1", _batch(_record(0)), BOOK)
    posting = charge_batch(prepared, BOOK, [0] * len(prepared.volume_fields), closed=set())
    # compute: 36 fen/core-hour at midnight (off-peak) = 36; fee 2% = 0.72, center 35.28.
    # data: 600 rows × 50 milli-fen = 30 fen; fee 3% = 0.9, 反哺 10% = 3, holders 26.1 -> 13.05 + 13.05.
    # Each (buyer, party) pair moves its whole fen and accrues the rest (docs/billing.md): the exchange
    # 1.62 -> 1 fen and 620,000 micro-fen, the center 35 and 280,000, each holder 13 and 50,000.
    assert _balances(posting) == {"buyer:acme": -65, "compute_center:cc-1": 35, "exchange:exchange": 1,
                                  "feedback_fund:dept-transport": 3, "holder:h-bus": 13, "holder:h-city": 13}
    columns = posting.postings
    accrued = {columns.accounts[c]: int(m) for c, m in zip(columns.credit.tolist(), columns.sub_microfen.tolist())}
    assert accrued == {"compute_center:cc-1": 280_000, "exchange:exchange": 620_000, "feedback_fund:dept-transport": 0,
                       "holder:h-bus": 50_000, "holder:h-city": 50_000}
    assert posting.volume == {"traffic|acme|2026-11": (0, 600)}
    kinds = {p.credit_account_id: p.kind for p in posting.postings}
    assert kinds["feedback_fund:dept-transport"] == ledger_pb2.POSTING_KIND_FEEDBACK
    assert kinds["compute_center:cc-1"] == ledger_pb2.POSTING_KIND_COMPUTE


def test_batches_of_very_many_buyers_post_the_same_as_the_dense_sum(monkeypatch):
    records = [_record(i, buyer_id=f"buyer-{i % 5}", end_unix_ms=(NOV_MS, DEC_MS)[i % 2] + 1, rows=100 * i) for i in range(12)]
    prepared = prepare_usage("b1", _batch(*records), BOOK)
    before = [0] * len(prepared.volume_fields)
    dense = charge_batch(prepared, BOOK, before, closed=set())
    monkeypatch.setattr(charge_module, "_DENSE_KEYS", 0)  # as if buyers × periods × parties were past the dense limit
    sparse = charge_batch(prepared, BOOK, before, closed=set())
    assert list(sparse.postings) == list(dense.postings) and len(dense.postings) > 10


def test_volume_tiers_continue_per_buyer_and_period_across_batches():
    records = [_record(0, rows=800), _record(1, rows=800, buyer_id="other"), _record(2, rows=800, end_unix_ms=DEC_MS)]
    prepared = prepare_usage("b1", _batch(*records), BOOK)
    assert prepared.volume_fields == ["traffic|acme|2026-11", "traffic|acme|2026-12", "traffic|other|2026-11"]
    posting = charge_batch(prepared, BOOK, [500, 0, 0], closed=set())
    # acme's November volume started at 500: 500 rows at 50, 300 at 30 milli-fen = 34 fen; the others 40 each.
    lines = read_lines(posting.lines_ipc)
    assert lines.column("data_fen").to_pylist() == [34, 40, 40]
    assert posting.volume == {"traffic|acme|2026-11": (500, 1300), "traffic|acme|2026-12": (0, 800), "traffic|other|2026-11": (0, 800)}


def test_usage_of_a_closed_period_is_billed_next_period_as_an_adjustment():
    prepared = prepare_usage("b1", _batch(_record(0)), BOOK)
    posting = charge_batch(prepared, BOOK, [0], closed={"2026-11"})
    assert {(p.period, p.original_period) for p in posting.postings} == {("2026-12", "2026-11")}


def test_public_interest_use_of_public_data_is_free_and_moves_no_volume():
    prepared = prepare_usage("b1", _batch(_record(0, purpose_category=2, cpu_ms=0)), BOOK)
    posting = charge_batch(prepared, BOOK, [0], closed=set())
    assert posting.postings == () and posting.charged_fen == 0
    assert posting.volume == {"traffic|acme|2026-11": (0, 0)}


def test_guided_cap_is_its_own_line():
    prepared = prepare_usage("b1", _batch(_record(0, product_id="credit", calls=4, cpu_ms=0)), BOOK)
    posting = charge_batch(prepared, BOOK, [0], closed=set())
    lines = read_lines(posting.lines_ipc)
    assert lines.column("data_fen").to_pylist() == [8] and lines.column("cap_reduction_fen").to_pylist() == [2]


_records = st.lists(st.fixed_dictionaries({
    "product_id": st.sampled_from(["", "traffic", "credit"]), "price_version": st.sampled_from([1, 2]),
    "buyer_id": st.sampled_from(["a", "b", "c"]), "cpu_ms": st.integers(0, 10**9), "memory_mb_s": st.integers(0, 10**9),
    "rows": st.integers(0, 5000), "calls": st.integers(0, 100), "purpose_category": st.integers(1, 3),
    "end_unix_ms": st.sampled_from([NOV_MS + 1, DEC_MS + 1]), "tier": st.integers(1, 4),
}), max_size=40)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_records, st.sets(st.sampled_from(["2026-11", "2026-12"])))
def test_postings_equal_the_plain_python_reference_to_the_fen(records, closed):
    rows = [_record(i, **{**r, "price_version": r["price_version"] if r["product_id"] == "traffic" else 1,
                          "start_unix_ms": r["end_unix_ms"] - 1}) for i, r in enumerate(records)]
    prepared = prepare_usage("b1", _batch(*rows), BOOK)
    before = list(range(0, 700 * len(prepared.volume_fields), 700))
    posting = charge_batch(prepared, BOOK, before, closed)
    rated = rate_inputs_twin(prepared.inputs, BOOK.tables, np.array(before, dtype=np.int64), prepared.volume_slot)
    # Lines to the micro-fen (milli-fen and the micro-fen below them, each split by largest remainder), summed per
    # (buyer, party, billed period) pair: what the posting script accrues (a pair of two usage periods crosses a fen
    # there, not here).
    pairs: dict[tuple[str, str, str], int] = defaultdict(int)
    plans = BOOK.plans
    for i, row in enumerate(rows):
        billed = billed_period(period_of_ms(row["end_unix_ms"]), closed)
        for key, amount, rest in ((("compute", row["compute_center"]), int(rated.compute_millifen[i]), int(rated.compute_rest_microfen[i])),
                                  (("data", row["product_id"]), int(rated.data_millifen[i]), 0)):
            if amount or rest:
                plan = plans.plan_keys.index(key)
                parties = [plans.parties[k] for k in plans.slot_party[plans.plan_offsets[plan]:plans.plan_offsets[plan + 1]]]
                milli, micro = split_twin(plans, [plan, plan], [amount, rest])
                for party, part, below in zip(parties, milli, micro):
                    pairs[(account_id("buyer", row["buyer_id"]), account_id(*party), billed)] += part * 1000 + below
    got: dict[tuple[str, str, str], int] = defaultdict(int)
    c = posting.postings
    columns = (c.debit, c.credit, c.period, c.amount_fen, c.sub_microfen) if isinstance(c, PostingColumns) else ()
    for debit, credit, period, fen, sub in zip(*(x.tolist() for x in columns)):
        got[(c.accounts[debit], c.accounts[credit], c.periods[period])] += fen * 10**6 + sub
    assert got == {k: v for k, v in pairs.items() if v}
    assert posting.charged_fen == (int(c.amount_fen.sum()) if columns else 0)


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_kernels_twin_and_arrow_agree_with_volume_slots(data):
    n = data.draw(st.integers(0, 30))
    slots = data.draw(st.integers(1, 4))
    ints = lambda s, dtype: np.array(data.draw(st.lists(s, min_size=n, max_size=n)), dtype=dtype)  # noqa: E731
    inputs = RatingInputs(
        card_index=np.zeros(n, np.int32), tier=ints(st.integers(1, 4), np.int8), start_ms=ints(st.integers(0, 2**42), np.int64),
        cpu_ms=ints(st.integers(0, 2**35), np.int64), memory_mb_s=ints(st.integers(0, 2**35), np.int64), gpu_ms=np.zeros(n, np.int64),
        product_index=ints(st.integers(-1, 2), np.int32), free=ints(st.booleans(), np.bool_), rows=ints(st.integers(0, 3000), np.int64),
        calls=ints(st.integers(0, 3000), np.int64), queries=ints(st.integers(0, 3000), np.int64),
    )  # fmt: skip
    volume_slot = ints(st.integers(0, slots - 1), np.int64)
    before = np.array(data.draw(st.lists(st.integers(0, 3000), min_size=slots, max_size=slots)), dtype=np.int64)
    results = [rate(inputs, TABLES, before, volume_slot) for rate in (rate_inputs, rate_inputs_twin, rate_inputs_arrow)]
    for name in ("compute_fen", "data_fen", "cap_reduction_fen", "units_after"):
        assert len({tuple(getattr(r, name).tolist()) for r in results}) == 1, name


def _product(unit=catalog_pb2.PRICING_UNIT_PER_ROW, price=5, size=1000, cap=0, grade=common_pb2.CLASSIFICATION_GRADE_PUBLIC):
    pricing = catalog_pb2.Pricing(unit=unit, unit_price_fen=price, unit_size=size, guided_cap_fen=cap, price_version=3,
                                  volume_tiers=[catalog_pb2.VolumeTier(from_units=10_000, unit_price_fen=4)])
    right = catalog_pb2.Right(holders=[catalog_pb2.RightShare(holder_id="op", share_bp=10_000)])
    spec = catalog_pb2.ProductSpec(holder_id="h", grade=grade, pricing=pricing, rights=catalog_pb2.Rights(
        holding=catalog_pb2.Right(holders=[catalog_pb2.RightShare(holder_id="h", share_bp=10_000)]), product_operation=right),
        public_data=catalog_pb2.PublicDataOperation(source_department_id="dept", operator_id="op", feedback_share_bp=500))
    return catalog_pb2.Product(product_id="p", spec=spec), pricing


def test_catalog_pricing_becomes_milli_fen_tiers_and_the_operator_right_is_paid():
    product, pricing = _product(cap=6)
    assert data_rate_spec(product, pricing) == {"unit": "row", "grade": "public", "public_interest_free": False, "public_data": True,
                                                "tiers": [{"from_units": 0, "price_millifen": 5}, {"from_units": 10_000, "price_millifen": 4}],
                                                "guided_cap_millifen": 6}  # fmt: skip
    assert data_plan_spec(product, 300) == {"holders": {"op": 10_000}, "exchange_fee_bp": 300, "public": True,
                                            "feedback": {"department": "dept", "share_bp": 500}}


@pytest.mark.parametrize(("change", "message"), [
    (dict(unit=catalog_pb2.PRICING_UNIT_PER_GIB), "PRICING_UNIT_PER_GIB is not rated per record"),
    (dict(price=1, size=3), "not a whole number of milli-fen"),
    (dict(grade=0), "classification grade 0 unknown"),
], ids=["per_gib_unit", "price_not_whole_millifen", "no_grade"])
def test_unratable_pricing_is_named(change, message):
    product, pricing = _product(**change)
    with pytest.raises(UnratableError, match=message):
        data_rate_spec(product, pricing)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_records, st.sets(st.sampled_from(["2026-11", "2026-12"])))
def test_a_dictionary_encoded_batch_charges_exactly_as_its_plain_strings(records, closed):
    """Nodes send low-cardinality strings dictionary-encoded, older agents plain: the biller bills both alike."""
    rows = [_record(i, **{**r, "price_version": 1, "start_unix_ms": r["end_unix_ms"] - 1}) for i, r in enumerate(records)]
    charged = []
    for batch in (_batch(*rows), to_wire(_batch(*rows))):
        prepared = prepare_usage("b1", batch, BOOK)
        posting = charge_batch(prepared, BOOK, [5] * len(prepared.volume_fields), closed)
        lines = read_lines(posting.lines_ipc).to_pylist() if posting.lines_ipc else []
        charged.append((list(posting.postings), posting.volume, posting.charged_fen, lines, prepared.volume_fields))
    assert charged[0] == charged[1]
