"""Amounts below a fen, end to end: short jobs at a low price through the real biller into a real Redis.

Each one-second job costs a fraction of a fen. Rounded per line it was charged nothing; rounded per line to the
milli-fen 10,000 jobs at 12 fen a core-hour were charged 30 fen for 33.33. Kept to the micro-fen and accrued
per (payer, payee) pair it is paid what it costs, and closing the period rounds each pair's rest once
(docs/billing.md, "Amounts below a fen"). The expected amounts are
worked out here in Python integers from the price card and the split rule, sharing no code with
the rater, the split kernel or the ledger.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pyarrow as pa
import pytest
import redis

from shuniu.bench.billing import Market, seed_market, signed_sender, synthetic_usage
from shuniu.market.billing import Biller, BillerConfig, PriceSource, dead_letter_counts, reference_balances
from shuniu.market.catalog import PRODUCTS_KEY, prices_key, product_key
from shuniu.market.ledger import LedgerStore
from shuniu.market.rating.tables import MAX_COMPUTE_PRICE_FEN, MAX_DATA_PRICE_MILLIFEN
from shuniu.nodes.usage import UsageSpool
from shuniu.protos.usage_schema import MAX_COMPUTE_QUANTITY, MAX_DATA_UNITS
from shuniu.protos.v1 import catalog_pb2, nodes_pb2
from shuniu.stack.seed import waybill_spec, waybill_table

JOBS = 10_000
BATCHES = 10  # the accrual runs across batches, as a center's day of short jobs arrives
FEE_BP = 200  # the exchange's compute fee (BillingPolicy's default)


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def _priced(client: redis.Redis, market: Market, node: str, cpu_core_hour_fen: int) -> None:
    """The node's price card: cpu only, flat all day."""
    record = nodes_pb2.Node.FromString(client.get(f"shuniu:node:{node}"))
    record.price_card.cpu_core_hour_fen = cpu_core_hour_fen
    record.price_card.memory_gb_hour_fen = 0
    record.price_card.gpu_hour_fen = 0
    del record.price_card.bands[:]
    client.set(f"shuniu:node:{node}", record.SerializeToString())


def _one_second_jobs(market: Market, node: str, records: int, seed: int) -> pa.RecordBatch:
    """Compute-only records of one buyer, each one core for one second at latency tier T1."""
    batch = synthetic_usage(market, node, records, seed=seed, prefix=f"short{seed}-")
    fixed = {"product_id": pa.array([""] * records, pa.string()), "buyer_id": pa.array([market.buyers[0]] * records, pa.string()),
             "tier": pa.array(np.ones(records, np.int8)), "cpu_ms": pa.array(np.full(records, 1000, np.int64)),
             "memory_mb_s": pa.array(np.zeros(records, np.int64)), "gpu_ms": pa.array(np.zeros(records, np.int64)),
             "price_version": pa.array(np.zeros(records, np.int64))}
    columns = [fixed.get(f.name, batch.column(i)).cast(f.type) for i, f in enumerate(batch.schema)]
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def _largest_remainder(amount: int, shares: dict[str, Fraction]) -> dict[str, int]:
    """`amount` split by `shares` (adding up to 1): floors, then one each to the largest remainders, ties to the party
    that sorts first ("cc-0" before "exchange")."""
    exact = {name: amount * share for name, share in shares.items()}
    parts = {name: int(x) for name, x in exact.items()}
    for name in sorted(exact, key=lambda n: (-(exact[n] - int(exact[n])), n))[:amount - sum(parts.values())]:
        parts[name] += 1
    return parts


def _expected_microfen(cpu_core_hour_fen: int) -> tuple[int, int]:
    """(center's, exchange's) micro-fen for one job: the exact charge to the micro-fen (half to even); its milli-fen and
    the micro-fen below them each split by largest remainder."""
    line = round(Fraction(1000 * cpu_core_hour_fen * 10**6, 3_600_000))
    shares = {"cc": Fraction(10_000 - FEE_BP, 10_000), "exchange": Fraction(FEE_BP, 10_000)}
    milli, rest = _largest_remainder(line // 1000, shares), _largest_remainder(line % 1000, shares)
    return milli["cc"] * 1000 + rest["cc"], milli["exchange"] * 1000 + rest["exchange"]


@pytest.mark.parametrize("cpu_core_hour_fen", [36, 12], ids=["36_fen_a_core_hour", "12_fen_a_core_hour"])
def test_a_center_running_ten_thousand_one_second_jobs_is_paid_what_they_cost(client, tmp_path, cpu_core_hour_fen):
    market = seed_market(client)
    node = market.nodes[0]
    center, buyer = market.centers[node], market.buyers[0]
    _priced(client, market, node, cpu_core_hour_fen)
    spool = UsageSpool(tmp_path / "spool", node)
    made = {}
    for b in range(BATCHES):
        batch = _one_second_jobs(market, node, JOBS // BATCHES, seed=b)
        made[spool.append(batch)] = batch
    assert signed_sender(market, spool, client).send_pending() == BATCHES
    biller = Biller(client, BillerConfig(block_ms=0))
    biller.ensure_group()
    while biller.step(block_ms=0):
        pass
    assert biller.outcomes == {"posted": BATCHES}

    center_microfen, exchange_microfen = (JOBS * m for m in _expected_microfen(cpu_core_hour_fen))
    ledger = LedgerStore(client)
    balances = {a.account_id: a.balance_fen for a in ledger.accounts()}
    # While the period is open, each pair has been posted the whole fen its micro-fen crossed.
    assert balances[f"compute_center:{center}"] == center_microfen // 10**6 > 0
    assert balances.get("exchange:exchange", 0) == exchange_microfen // 10**6
    assert balances[f"buyer:{buyer}"] == -(center_microfen // 10**6 + exchange_microfen // 10**6)
    assert {a: f for a, f in balances.items() if f} == reference_balances([(b, made[b]) for b in ledger.batch_order()],
                                                                          PriceSource(client))
    assert ledger.check().ok

    # Closing rounds each pair's rest once, half up: the center is paid its exact total rounded once.
    ledger.close_period("2026-11")
    balances = {a.account_id: a.balance_fen for a in ledger.accounts()}
    half_up = lambda microfen: (microfen + 500_000) // 10**6  # noqa: E731
    assert balances[f"compute_center:{center}"] == half_up(center_microfen)
    assert balances.get("exchange:exchange", 0) == half_up(exchange_microfen)
    assert balances[f"buyer:{buyer}"] == -(half_up(center_microfen) + half_up(exchange_microfen))
    # The jobs' exact cost, rounded once: 10,000 seconds at 12 fen a core-hour are 33.33 fen, paid 33 (at 36, 100).
    exact_fen = Fraction(JOBS * 1000 * cpu_core_hour_fen, 3_600_000)
    assert -balances[f"buyer:{buyer}"] == round(exact_fen) == {12: 33, 36: 100}[cpu_core_hour_fen]
    check = ledger.check()
    assert check.ok and check.total_debits_fen == check.total_credits_fen
    assert ledger.close_period("2026-11") and {a.account_id: a.balance_fen for a in ledger.accounts()} == balances


def _dearest_waybill(client: redis.Redis) -> str:
    """The seeded waybill product listed at the dearest price a listing accepts (1,000,000 yuan a query)."""
    product_id = "logistics-waybills-2025"
    spec = waybill_spec(waybill_table(np.random.default_rng(0), rows=10).schema)
    spec.pricing.unit_price_fen, spec.pricing.price_version = MAX_DATA_PRICE_MILLIFEN // 1000, 1
    product = catalog_pb2.Product(product_id=product_id, spec=spec, state=catalog_pb2.PRODUCT_STATE_LISTED)
    client.set(product_key(product_id), product.SerializeToString())
    client.hset(prices_key(product_id), "1", spec.pricing.SerializeToString())
    client.sadd(PRODUCTS_KEY, product_id)
    return product_id


def test_a_batch_worth_more_than_int64_milli_fen_at_the_listing_limits_is_billed_exactly(client, tmp_path):
    """2,700 records each of 2^25 queries at 1,000,000 yuan and 2^40 ms of a core at 1,000,000 yuan an hour: the
    batch is worth about 9.2e18 fen (past 2^53 fen, and past int64 in milli-fen), just inside what a Redis counter
    holds. It is posted, not dead-lettered, and the ledger equals the reference rater to the fen."""
    market = seed_market(client)
    node = market.nodes[0]
    product_id = _dearest_waybill(client)
    _priced(client, market, node, MAX_COMPUTE_PRICE_FEN)
    records = 2_700
    batch = synthetic_usage(market, node, records, seed=7, prefix="dear-")
    fixed = {"product_id": pa.array([product_id] * records, pa.string()), "queries": pa.array(np.full(records, MAX_DATA_UNITS, np.int64)),
             "cpu_ms": pa.array(np.full(records, MAX_COMPUTE_QUANTITY, np.int64)), "tier": pa.array(np.ones(records, np.int8)),
             "purpose": pa.array(["marketing"] * records, pa.string()), "purpose_category": pa.array(np.full(records, 3, np.int8)),
             "price_version": pa.array(np.ones(records, np.int64))}
    batch = pa.RecordBatch.from_arrays([fixed.get(f.name, batch.column(i)).cast(f.type) for i, f in enumerate(batch.schema)],
                                       schema=batch.schema)
    spool = UsageSpool(tmp_path / "spool", node)
    batch_id = spool.append(batch)
    assert signed_sender(market, spool, client).send_pending() == 1
    biller = Biller(client, BillerConfig(block_ms=0))
    biller.ensure_group()
    while biller.step(block_ms=0):
        pass
    assert biller.outcomes == {"posted": 1} and not dead_letter_counts(client)
    ledger = LedgerStore(client)
    balances = {a.account_id: a.balance_fen for a in ledger.accounts() if a.balance_fen}
    assert balances == reference_balances([(batch_id, batch)], PriceSource(client))
    data_fen = records * MAX_DATA_UNITS * MAX_DATA_PRICE_MILLIFEN // 1000
    charged = ledger.batch_summary(batch_id)["charged_fen"]
    assert 2**63 > charged > data_fen > 2**53 and -sum(f for a, f in balances.items() if a.startswith("buyer:")) == charged
    check = ledger.check()
    assert check.ok and check.total_debits_fen == check.total_credits_fen == charged
