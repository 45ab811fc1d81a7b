"""Public-data authorized operation through the control plane: fee schedules re-price products, a year of
monthly settlements trues up the operator's revenue above its allowance, and the yearly report adds up."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis
from conftest import stored_state
from typer.testing import CliRunner

from shuniu.bench.billing import job_ids_of, seed_market, signed_sender
from shuniu.cli import app
from shuniu.market.billing import Biller, BillerConfig
from shuniu.market.billing.biller import dead_letter_counts
from shuniu.market.catalog import prices_key, product_key
from shuniu.nodes.usage import UsageSpool
from shuniu.protos.usage_schema import USAGE_SCHEMA
from shuniu.protos.v1 import catalog_pb2, ledger_pb2, settlement_pb2 as s_pb2

OPERATOR = "op"
VOLUME_PRODUCT, TIME_PRODUCT = "prod-00", "prod-03"  # seed_market's public products, both operated by "op"
MONTHS = [f"2027-{m:02d}" for m in range(1, 13)]
ROWS_PER_RECORD = 10_000
VOLUME_FEE_FEN, TIME_FEE_FEN = 40, 900  # per 1000 rows; per buyer per month of access
ALLOWANCE_FEN = (20_000, 5_000, 1_000)  # cost, profit, tax a year: passed in the middle of the year


def shuniu(*args: str):
    """The CLI in this process (a subprocess would cost a Python start per call)."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def _operated_by_op(client: redis.Redis, product_id: str) -> None:
    """The seeded product, with a stated price basis and the operator holding its 经营权."""
    product = catalog_pb2.Product.FromString(client.get(product_key(product_id)))
    product.spec.pricing.basis.negotiated.agreement_ref = f"auth-{product_id}"
    product.spec.pricing.basis.negotiated.party_ids[:] = [OPERATOR, product.spec.public_data.source_department_id]
    product.spec.rights.product_operation.CopyFrom(catalog_pb2.Right(holders=[catalog_pb2.RightShare(holder_id=OPERATOR, share_bp=10_000)]))
    client.set(product_key(product_id), product.SerializeToString())
    client.hset(prices_key(product_id), "1", product.spec.pricing.SerializeToString())


def _schedule(department: str, item: s_pb2.FeeItem, schedule_id: str = "") -> s_pb2.FeeSchedule:
    cost, profit, tax = ALLOWANCE_FEN
    return s_pb2.FeeSchedule(fee_schedule_id=schedule_id, operator_id=OPERATOR, authorizing_department_id=department,
                             items=[item], allowed_cost_fen=cost // 2, allowed_profit_fen=profit // 2, allowed_tax_fen=tax // 2)


def _volume_item(**kw) -> s_pb2.FeeItem:
    return s_pb2.FeeItem(**{"product_id": VOLUME_PRODUCT, "basis": s_pb2.FEE_BASIS_PER_VOLUME, "fee_fen": VOLUME_FEE_FEN,
                            "unit_size": 1000, "ceiling_fen": 50, **kw})


def _month_start_ms(period: str) -> int:
    return int(np.datetime64(period, "M").astype("datetime64[ms]").astype(np.int64)) - 8 * 3_600_000


def _usage(node_id: str, center: str, period: str, records: list[tuple[str, str, bool]], versions: dict[str, int]) -> pa.RecordBatch:
    """One record per (product, buyer, public interest?), all inside `period`."""
    n = len(records)
    start = _month_start_ms(period) + 86_400_000 + np.arange(n, dtype=np.int64) * 60_000
    free = np.array([r[2] for r in records])
    columns = {
        "record_id": [f"{period}-{i}" for i in range(n)], "job_id": [job_ids_of(node_id)[i % 64] for i in range(n)],
        "grant_id": [f"g-{r[1]}" for r in records], "buyer_id": [r[1] for r in records], "node_id": [node_id] * n,
        "compute_center": [center] * n, "product_id": [r[0] for r in records], "site": ["zhengzhou"] * n,
        "tier": np.ones(n, np.int8), "start_unix_ms": start, "end_unix_ms": start + 30_000, "cpu_ms": np.full(n, 60_000),
        "memory_mb_s": np.full(n, 1024), "gpu_ms": np.zeros(n, np.int64), "rows": np.full(n, ROWS_PER_RECORD),
        "bytes": np.full(n, 10**6), "calls": np.ones(n, np.int64), "kind": np.ones(n, np.int8),
        "purpose": np.where(free, "public_health", "marketing").tolist(), "price_version": [versions[r[0]] for r in records],
        "purpose_category": np.where(free, 2, 3).astype(np.int8), "compute_class": np.ones(n, np.int8),
        "attempt": np.ones(n, np.int32), "peak_memory_mb": np.full(n, 100), "output_bytes": np.full(n, 100),
        "queries": np.ones(n, np.int64),
    }  # fmt: skip
    return pa.RecordBatch.from_arrays([pa.array(columns[f.name], f.type) for f in USAGE_SCHEMA], schema=USAGE_SCHEMA)


def _year_of_usage(rng: np.random.Generator) -> dict[str, list[tuple[str, str, bool]]]:
    """Per month: a few commercial and public-interest records of each product by two buyers."""
    out = {}
    for period in MONTHS:
        records = [(p, f"buyer-{rng.integers(0, 2)}", bool(rng.random() < 0.3)) for p in (VOLUME_PRODUCT, TIME_PRODUCT)
                   for _ in range(int(rng.integers(2, 7)))]
        out[period] = records
    return out


def _expected_revenue(records: list[tuple[str, str, bool]], time_fee_fen: int) -> int:
    volume = sum(1 for p, _, free in records if p == VOLUME_PRODUCT and not free) * VOLUME_FEE_FEN * ROWS_PER_RECORD // 1000
    months_of_access = len({b for p, b, free in records if p == TIME_PRODUCT and not free})
    return volume + months_of_access * time_fee_fen


@pytest.fixture
def operator_market(redis_url, tmp_path, monkeypatch, control_plane_factory):
    monkeypatch.setenv("SHUNIU_STATE_DIR", str(tmp_path / "state"))
    client = redis.Redis.from_url(redis_url)
    market = seed_market(client)
    for product_id in (VOLUME_PRODUCT, TIME_PRODUCT):
        _operated_by_op(client, product_id)
    yield control_plane_factory(), client, market, tmp_path
    client.close()


REFUSALS = [  # (item, authorizing department, status, words of the message)
    (_volume_item(fee_fen=60), "dept-0", grpc.StatusCode.INVALID_ARGUMENT, "fee_fen 60 is above the ceiling"),
    (_volume_item(product_id="prod-77"), "dept-0", grpc.StatusCode.NOT_FOUND, "no such product"),
    (_volume_item(product_id="prod-01"), "dept-0", grpc.StatusCode.INVALID_ARGUMENT, "not public data"),
    (_volume_item(product_id=TIME_PRODUCT), "dept-0", grpc.StatusCode.INVALID_ARGUMENT, "authorizing department is 'dept-3'"),
]


def test_bad_schedules_are_refused_naming_the_item_and_nothing_is_stored(operator_market, redis_url):
    plane, client, market, _ = operator_market
    other = catalog_pb2.Product.FromString(client.get(product_key(TIME_PRODUCT)))
    other.spec.public_data.operator_id = "op-else"  # another operator's product
    client.set(product_key("prod-04"), other.SerializeToString())
    client.sadd("shuniu:products", "prod-04")
    before = stored_state(redis_url)
    with plane.client() as c:
        for n, (item, department, code, words) in enumerate([*REFUSALS, (
                _volume_item(product_id="prod-04"), "dept-3", grpc.StatusCode.INVALID_ARGUMENT, "operated by 'op-else'")]):
            request = s_pb2.PublishFeeScheduleRequest(request_id=f"bad-{n}", schedule=_schedule(department, item))
            with pytest.raises(grpc.RpcError) as err:
                c.fees.PublishFeeSchedule(request, timeout=10)
            assert err.value.code() == code and words in err.value.details() and "items[0]" in err.value.details()
    assert stored_state(redis_url) == before
    refused = shuniu("fees", "publish", "/nonexistent.json", "--addr", plane.address)
    assert refused.exit_code != 0 and "expected a JSON FeeSchedule" in refused.output


def test_a_year_of_monthly_settlements_adds_up_to_the_operators_yearly_report(operator_market, tmp_path):
    plane, client, market, _ = operator_market
    schedule_file = tmp_path / "volume.json"
    schedule_file.write_text(json.dumps({"operator_id": OPERATOR, "authorizing_department_id": "dept-0",
                                         "items": [{"product_id": VOLUME_PRODUCT, "basis": "FEE_BASIS_PER_VOLUME",
                                                    "fee_fen": VOLUME_FEE_FEN, "unit_size": 1000, "ceiling_fen": 50}],
                                         "allowed_cost_fen": 10_000, "allowed_profit_fen": 2_500, "allowed_tax_fen": 500}))
    published = shuniu("fees", "publish", str(schedule_file), "--json", "--addr", plane.address)
    assert published.exit_code == 0, published.output
    with plane.client() as c:
        first = c.fees.PublishFeeSchedule(s_pb2.PublishFeeScheduleRequest(request_id="time-1", schedule=_schedule(
            "dept-3", s_pb2.FeeItem(product_id=TIME_PRODUCT, basis=s_pb2.FEE_BASIS_PER_TIME, fee_fen=1000, ceiling_fen=1000))), timeout=10)
        second = c.fees.PublishFeeSchedule(s_pb2.PublishFeeScheduleRequest(request_id="time-2", schedule=_schedule(
            "dept-3", s_pb2.FeeItem(product_id=TIME_PRODUCT, basis=s_pb2.FEE_BASIS_PER_TIME, fee_fen=TIME_FEE_FEN, ceiling_fen=1000),
            first.schedule.fee_schedule_id)), timeout=10).schedule
        assert (second.fee_schedule_id, second.version) == (first.schedule.fee_schedule_id, 2)
        in_force = c.fees.ListFeeSchedules(s_pb2.ListFeeSchedulesRequest(operator_id=OPERATOR), timeout=10).schedules
        history = c.fees.ListFeeSchedules(s_pb2.ListFeeSchedulesRequest(product_id=TIME_PRODUCT, include_history=True), timeout=10)
        time_product = c.catalog.GetProduct(catalog_pb2.GetProductRequest(product_id=TIME_PRODUCT), timeout=10).product
    assert len(in_force) == 2 and [s.version for s in history.schedules] == [1, 2]
    pricing = time_product.spec.pricing
    assert (pricing.price_version, pricing.unit_price_fen, pricing.guided_cap_fen, pricing.unit) == (3, TIME_FEE_FEN, 1000, catalog_pb2.PRICING_UNIT_PER_QUERY)
    assert time_product.spec.public_data.fee_schedule_id == second.fee_schedule_id
    listed = shuniu("fees", "--operator", OPERATOR, "--addr", plane.address)
    assert listed.exit_code == 0 and "per_volume" in listed.output and "per_time" in listed.output, listed.output

    usage = _year_of_usage(np.random.default_rng(9))
    node = market.nodes[0]
    spool = UsageSpool(tmp_path / "spool", node)
    for period in MONTHS:
        spool.append(_usage(node, market.centers[node], period, usage[period], {VOLUME_PRODUCT: 2, TIME_PRODUCT: 3}))
    signed_sender(market, spool, client).send_pending()
    biller = Biller(client, BillerConfig(block_ms=0))
    biller.ensure_group()
    while biller.step(block_ms=0):
        pass
    assert dead_letter_counts(client) == {}  # every record was rateable at the schedule's prices

    statements = {}
    with plane.client() as c:
        for period in MONTHS[:-1]:
            statements[period] = c.settlement.ClosePeriod(s_pb2.ClosePeriodRequest(request_id=f"close-{period}", period=period),
                                                          timeout=60).statements
    december = shuniu("settle", "--period", "2027-12", "--json", "--addr", plane.address)
    assert december.exit_code == 0, december.output
    with plane.client() as c:
        statements["2027-12"] = c.settlement.ListStatements(s_pb2.ListStatementsRequest(period="2027-12"), timeout=10).statements
        report = c.fees.GetOperatorReport(s_pb2.GetOperatorReportRequest(operator_id=OPERATOR, year=2027), timeout=30)

    # The year's figures, from the statements alone.
    revenue = {p: 0 for p in MONTHS}
    true_ups = {p: 0 for p in MONTHS}
    for period, listed_statements in statements.items():
        for s in listed_statements:
            lines = pq.read_table(s.parquet_path).to_pylist()
            if s.account_id.startswith("buyer:"):
                revenue[period] -= sum(r["amount_fen"] for r in lines if r["kind"] == ledger_pb2.POSTING_KIND_DATA
                                       and r["product_id"] in (VOLUME_PRODUCT, TIME_PRODUCT))
            if s.account_id == f"holder:{OPERATOR}":
                true_ups[period] = s.true_up_fen
                assert s.true_up_fen == sum(r["line_fen"] for r in lines if r["kind"] == ledger_pb2.POSTING_KIND_TRUE_UP)
    assert revenue == {p: _expected_revenue(usage[p], TIME_FEE_FEN) for p in MONTHS}
    allowance = sum(ALLOWANCE_FEN) // 2 * 2
    assert sum(true_ups.values()) == sum(revenue.values()) - allowance > 0
    assert [m.period for m in report.months] == MONTHS
    assert [m.revenue_fen for m in report.months] == [revenue[p] for p in MONTHS]
    assert [m.true_up_fen for m in report.months] == [true_ups[p] for p in MONTHS]
    assert report.revenue_fen == sum(revenue.values()) and report.true_up_fen == sum(true_ups.values())
    assert report.allowance_fen == allowance
    assert report.public_interest_calls_free == sum(free for records in usage.values() for _, _, free in records)
    assert report.calls == sum(not free for records in usage.values() for _, _, free in records)
    table = pq.read_table(report.parquet_path)
    assert table.column("revenue_fen").to_pylist() == [revenue[p] for p in MONTHS]
    assert "public-interest calls served free" in report.summary

    shown = shuniu("fees", "report", "--operator", OPERATOR, "--year", "2027", "--json", "--addr", plane.address)
    assert shown.exit_code == 0, shown.output
    assert int(json.loads(shown.output)["true_up_fen"]) == report.true_up_fen
    text = shuniu("fees", "report", "--operator", OPERATOR, "--year", "2027", "--addr", plane.address)
    assert text.exit_code == 0 and "public-interest calls served free" in text.output and ".parquet" in text.output
    missing = shuniu("fees", "report", "--operator", OPERATOR, "--year", "2026", "--addr", plane.address)
    assert missing.exit_code != 0 and "NOT_FOUND" in missing.output


def _bill(client: redis.Redis, market, spool: UsageSpool, period: str, records: list[tuple[str, str, bool]]) -> None:
    node = market.nodes[0]
    spool.append(_usage(node, market.centers[node], period, records, {VOLUME_PRODUCT: 2, TIME_PRODUCT: 1}))
    signed_sender(market, spool, client).send_pending()
    biller = Biller(client, BillerConfig(block_ms=0))
    biller.ensure_group()
    while biller.step(block_ms=0):
        pass


def test_a_true_up_for_a_closed_year_is_refused_naming_the_rule_and_nothing_stored_changes(operator_market, redis_url):
    plane, client, market, tmp_path = operator_market
    spool = UsageSpool(tmp_path / "spool", market.nodes[0])
    with plane.client() as c:
        schedule = _schedule("dept-0", _volume_item())
        c.fees.PublishFeeSchedule(s_pb2.PublishFeeScheduleRequest(request_id="vol", schedule=schedule), timeout=10)
    # 40 commercial records of 400 fen in May: 16,000 fen against an allowance of 13,000 fen a year.
    _bill(client, market, spool, "2027-05", [(VOLUME_PRODUCT, "buyer-0", False)] * 40)
    _bill(client, market, spool, "2028-01", [(VOLUME_PRODUCT, "buyer-0", False)] * 2)
    with plane.client() as c:
        may = c.settlement.ClosePeriod(s_pb2.ClosePeriodRequest(request_id="may", period="2027-05"), timeout=60)
        c.settlement.ClosePeriod(s_pb2.ClosePeriodRequest(request_id="jan", period="2028-01"), timeout=60)
        # A month of 2027 left open and empty closes late without revenue: nothing to true up, nothing refused.
        c.settlement.ClosePeriod(s_pb2.ClosePeriodRequest(request_id="jul", period="2027-07"), timeout=60)
    true_up = {s.account_id: s.true_up_fen for s in may.statements}[f"holder:{OPERATOR}"]
    assert true_up == 40 * 400 - sum(ALLOWANCE_FEN) // 2 > 0  # one schedule: half the allowance

    # Usage of June, still open, is billed into June after 2028-01 has carried 2027's true-ups on.
    _bill(client, market, spool, "2027-06", [(VOLUME_PRODUCT, "buyer-1", False)] * 3)
    before = stored_state(redis_url)
    with plane.client() as c, pytest.raises(grpc.RpcError) as refused:
        c.settlement.ClosePeriod(s_pb2.ClosePeriodRequest(request_id="jun", period="2027-06"), timeout=60)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.details().startswith(f"true-up for a closed year: operator '{OPERATOR}' has settled 2028-01")
    assert "would true up 1,200 fen more of 2027" in refused.value.details()
    shown = shuniu("settle", "--period", "2027-06", "--addr", plane.address)
    assert shown.exit_code != 0 and "true-up for a closed year" in shown.output
    assert stored_state(redis_url) == before
    assert not (tmp_path / "state" / "settlement" / "2027-06").exists()
    # A month settled before is rebuilt as it was: its true-up stays.
    with plane.client() as c:
        again = c.settlement.ClosePeriod(s_pb2.ClosePeriodRequest(request_id="may-2", period="2027-05"), timeout=60)
    assert {s.account_id: s.true_up_fen for s in again.statements}[f"holder:{OPERATOR}"] == true_up
