"""Every listed price is billed, against a real Redis, biller and control plane: the seeded waybill
product (2,000 fen a query) is posted, not dead-lettered; a price past the rating's limit is refused
at listing, naming the limit, and nothing is stored."""

from __future__ import annotations

import dataclasses

import grpc
import numpy as np
import pytest
import redis
from conftest import bill_synthetic_usage, stored_state

from shuniu.bench.billing import seed_market
from shuniu.market.billing import PriceSource, dead_letter_counts, reference_balances
from shuniu.market.catalog import PRODUCTS_KEY, prices_key, product_key
from shuniu.market.ledger import LedgerStore
from shuniu.market.rating.tables import MAX_COMPUTE_PRICE_FEN, MAX_DATA_PRICE_MILLIFEN
from shuniu.protos.v1 import catalog_pb2, common_pb2, nodes_pb2
from shuniu.stack.seed import waybill_spec, waybill_table

WAYBILL = "logistics-waybills-2025"


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def _list_waybill(client: redis.Redis, unit_price_fen: int) -> None:
    spec = waybill_spec(waybill_table(np.random.default_rng(0), rows=10).schema)
    spec.pricing.unit_price_fen = unit_price_fen
    spec.pricing.price_version = 1
    pipe = client.pipeline()
    pipe.set(product_key(WAYBILL), catalog_pb2.Product(product_id=WAYBILL, spec=spec, state=catalog_pb2.PRODUCT_STATE_LISTED).SerializeToString())
    pipe.hset(prices_key(WAYBILL), "1", spec.pricing.SerializeToString())
    pipe.sadd(PRODUCTS_KEY, WAYBILL)
    pipe.execute()


@pytest.mark.parametrize("unit_price_fen", [2_000, MAX_DATA_PRICE_MILLIFEN // 1000], ids=["seeded_2000_fen", "at_the_limit"])
def test_usage_of_the_waybill_product_is_posted_and_equals_the_reference(client, tmp_path, unit_price_fen):
    market = seed_market(client)
    _list_waybill(client, unit_price_fen)
    waybill_market = dataclasses.replace(market, products=(WAYBILL,))
    made, biller = bill_synthetic_usage(client, waybill_market, tmp_path / "spool", 300, prefix=f"{market.nodes[0]}-")
    assert biller.outcomes == {"posted": 3}
    assert dead_letter_counts(client) == {}
    ledger = LedgerStore(client)
    expected = reference_balances([(b, made[b]) for b in ledger.batch_order()], PriceSource(client))
    assert {a.account_id: a.balance_fen for a in ledger.accounts() if a.balance_fen} == expected
    paid = sum(-v for a, v in expected.items() if a.startswith("buyer:"))
    queries = sum(int((b.column("product_id").to_numpy(zero_copy_only=False) == WAYBILL).sum()) for b in made.values())
    assert paid >= queries * unit_price_fen // 2  # the waybill queries were charged (public-interest ones are not)


def _spec_priced(unit_price_fen: int) -> catalog_pb2.ProductSpec:
    spec = catalog_pb2.ProductSpec(
        holder_id="luoyang-logistics-park", name="waybills", category="logistics", grade=common_pb2.CLASSIFICATION_GRADE_INTERNAL,
        home_site="luoyang", domain_node_ids=["n-ly-1"], files=[catalog_pb2.ProductFile(node_id="n-ly-1", path="/d/w.parquet")],
        schema=[catalog_pb2.Column(name="waybill_id", arrow_type="string")], row_count=10, content_sha256="0" * 64,
        allowed_purposes=["route_planning"], allowed_job_kinds=[common_pb2.JOB_KIND_AGGREGATE],
        pricing=catalog_pb2.Pricing(unit=catalog_pb2.PRICING_UNIT_PER_QUERY, unit_price_fen=unit_price_fen, basis=catalog_pb2.PriceBasis(
            negotiated=catalog_pb2.NegotiatedBasis(agreement_ref="A-1", party_ids=["luoyang-logistics-park", "exchange"]))))
    for right in ("holding", "processing_use", "product_operation"):
        getattr(spec.rights, right).holders.add(holder_id="luoyang-logistics-park", share_bp=10_000)
    return spec


def test_a_price_past_the_limit_is_refused_at_listing_naming_it_and_nothing_is_stored(control_plane):
    with control_plane.client() as c:
        c.register(nodes_pb2.RegisterRequest(request_id="r-n-ly-1", node_id="n-ly-1", site="luoyang", compute_class=1,
                                             capacity=common_pb2.Capacity(cpu_milli=8000, memory_mb=16384)))
        before = stored_state(control_plane.redis_url, events=False)
        with pytest.raises(grpc.RpcError) as err:
            c.catalog.RegisterProduct(catalog_pb2.RegisterProductRequest(
                request_id="reg-1", spec=_spec_priced(MAX_DATA_PRICE_MILLIFEN // 1000 + 1)), timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "expected at most 100,000,000,000 milli-fen (1,000,000 yuan) per unit" in err.value.details()
        with pytest.raises(grpc.RpcError) as err:
            c.register(nodes_pb2.RegisterRequest(request_id="r-n-ly-2", node_id="n-ly-2", site="luoyang", compute_class=1,
                                                 capacity=common_pb2.Capacity(cpu_milli=8000, memory_mb=16384),
                                                 price_card=common_pb2.PriceCard(gpu_hour_fen=MAX_COMPUTE_PRICE_FEN + 1)))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "expected 0..100,000,000 fen (1,000,000 yuan) per unit-hour" in err.value.details()
        assert stored_state(control_plane.redis_url, events=False) == before
