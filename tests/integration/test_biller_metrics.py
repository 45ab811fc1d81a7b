"""The biller's series on the live path: batches, records, fen, revenue by party, posting time, dead letters, lag."""

from __future__ import annotations

import pytest
import redis

from shuniu.bench.billing import seed_market, synthetic_usage
from shuniu.market.billing import Biller, BillerConfig
from shuniu.market.ledger import ledger_key
from shuniu.monitoring import collectors, metrics
from shuniu.nodes.usage import stream_fields
from shuniu.protos.usage_schema import BILLER_GROUP, USAGE_STREAM, batch_to_ipc

_RECORDS = 200


@pytest.fixture
def client(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _value(name: str, **labels: str) -> float:
    return metrics.BILLER.get_sample_value(name, labels) or 0.0


_WATCHED = [("shuniu_usage_batches_total", {"outcome": "posted"}), ("shuniu_usage_batches_total", {"outcome": "dead_letter"}),
            ("shuniu_usage_dead_letters_total", {"reason": "bad_schema"}), ("shuniu_usage_records_billed_total", {}),
            ("shuniu_billing_charged_fen_total", {}), ("shuniu_ledger_post_seconds_count", {}),
            ("shuniu_billing_batch_seconds_count", {})]


def test_billing_good_and_bad_batches_moves_every_billing_series(client):
    market = seed_market(client)
    node = market.nodes[0]
    for i in range(3):
        batch = synthetic_usage(market, node, _RECORDS, seed=i, prefix=f"m{i}-")
        client.xadd(USAGE_STREAM, stream_fields(f"good-{i}", node, batch_to_ipc(batch, "x"), _RECORDS, 0, market.keys[node]))
    client.xadd(USAGE_STREAM, stream_fields("bad", node, b"not arrow", _RECORDS, 0, market.keys[node]))
    lag = collectors.BillingCollector(client, USAGE_STREAM, BILLER_GROUP, ledger_key("debits"), ledger_key("credits"))
    assert next(lag.collect()).samples[0].value > 0  # four batches wait, no biller yet
    before = {(name, tuple(labels.items())): _value(name, **labels) for name, labels in _WATCHED}
    revenue_before = {kind: _value("shuniu_revenue_fen_total", kind=kind) for kind in ("holder", "compute_center", "exchange")}
    biller = Biller(client, BillerConfig(block_ms=0))
    biller.ensure_group()
    while biller.step(block_ms=0):
        pass
    assert biller.outcomes == {"posted": 3, "dead_letter": 1}
    moved = {name + str(dict(labels)): _value(name, **dict(labels)) - value for (name, labels), value in before.items()}
    charged = moved.pop("shuniu_billing_charged_fen_total{}")
    assert moved == {"shuniu_usage_batches_total{'outcome': 'posted'}": 3,
                     "shuniu_usage_batches_total{'outcome': 'dead_letter'}": 1,
                     "shuniu_usage_dead_letters_total{'reason': 'bad_schema'}": 1,
                     "shuniu_usage_records_billed_total{}": 3 * _RECORDS,
                     "shuniu_ledger_post_seconds_count{}": 3, "shuniu_billing_batch_seconds_count{}": 4}
    revenue = {kind: _value("shuniu_revenue_fen_total", kind=kind) - v for kind, v in revenue_before.items()}
    assert charged > 0 and all(v > 0 for v in revenue.values()), revenue
    assert sum(revenue.values()) <= charged  # parties' credits come out of the buyers' charges
    families = {f.name: f.samples for f in lag.collect()}
    assert families["shuniu_billing_lag_seconds"][0].value == 0
    assert families["shuniu_ledger_imbalance_fen"][0].value == 0
