"""Price books for batches: node price cards, product pricing by version, split plans, read from Redis.

Each batch reads the records it names (one MGET of nodes, one of products) so that a
changed price card or rights split is used from the next batch on; pricing versions never
change once written and are cached for good; built tables and plans are cached by the
exact inputs they were built from.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import redis

from shuniu.market.billing.charge import PriceBook
from shuniu.market.billing.prices import UnratableError, data_plan_spec, data_rate_spec, node_price_card
from shuniu.market.catalog import prices_key, product_key
from shuniu.market.rating.tables import RateTables, build_compute_rates, build_data_rates
from shuniu.market.split import build_split_plans
from shuniu.protos.v1 import catalog_pb2, nodes_pb2

__all__ = ["BillingPolicy", "DeadLetter", "PriceSource", "node_key"]

_CACHE_ENTRIES = 64


def node_key(node_id: str) -> str:
    return f"shuniu:node:{node_id}"


class DeadLetter(Exception):
    """A batch that cannot be billed: `reason` is a bounded code, `message` says what is wrong."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class BillingPolicy:
    """The exchange's terms: its fees and the latency-tier factors of compute prices."""

    data_fee_bp: int = 300
    compute_fee_bp: int = 200
    tier_factor_bp: tuple[int, int, int, int] = (10_000, 10_500, 11_000, 12_000)
    exchange_id: str = "exchange"


class _Lru(OrderedDict):
    def remember(self, key, build):
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = build()
        if len(self) > _CACHE_ENTRIES:
            self.popitem(last=False)
        return value


class PriceSource:
    """Builds the PriceBook of a batch from the fleet's and the catalog's records."""

    def __init__(self, client: redis.Redis, policy: BillingPolicy = BillingPolicy()) -> None:
        self.client = client
        self.policy = policy
        self._pricing: dict[tuple[str, int], catalog_pb2.Pricing] = {}
        self._compute = _Lru()
        self._data = _Lru()
        self._plans = _Lru()

    def book_for(self, batch: pa.RecordBatch) -> PriceBook:
        """The price book of a valid batch; raise DeadLetter naming an unknown node, product or price version."""
        node_ids = sorted(pc.unique(batch.column("node_id")).to_pylist())
        nodes = self._nodes(node_ids)
        _check_centers(batch, nodes)
        data_mask = pc.not_equal(batch.column("product_id"), "")
        data = batch.filter(data_mask)
        product_ids = sorted(pc.unique(data.column("product_id")).to_pylist())
        products = self._products(product_ids)
        pairs = pa.table({"p": data.column("product_id"), "v": data.column("price_version")}).group_by(["p", "v"]).aggregate([])
        wanted = sorted(zip(pairs.column("p").to_pylist(), pairs.column("v").to_pylist()))
        pricing = self._pricings(wanted)
        try:
            tables = self._tables(nodes, products, pricing)
            specs = {
                "data": {p: data_plan_spec(products[p], self.policy.data_fee_bp) for p in product_ids},
                "compute": {c: {"exchange_fee_bp": self.policy.compute_fee_bp}
                            for c in sorted(pc.unique(batch.column("compute_center")).to_pylist())},
                "exchange_id": self.policy.exchange_id,
            }
            key = json.dumps(specs, sort_keys=True)
            plans = self._plans.remember(key, lambda: build_split_plans(specs["data"], specs["compute"], specs["exchange_id"]))
        except (UnratableError, ValueError) as err:
            raise DeadLetter("unratable", str(err)) from None
        categories = {p: products[p].spec.category for p in product_ids}
        return PriceBook(tables, plans, specs, categories)

    def _nodes(self, node_ids: list[str]) -> dict[str, nodes_pb2.Node]:
        raw = self.client.mget([node_key(n) for n in node_ids]) if node_ids else []
        missing = [n for n, r in zip(node_ids, raw) if r is None]
        if missing:
            raise DeadLetter("unknown_node", f"unknown node {missing[0]!r}: no node record, so no price card"
                             + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        return {n: nodes_pb2.Node.FromString(r) for n, r in zip(node_ids, raw)}

    def _products(self, product_ids: list[str]) -> dict[str, catalog_pb2.Product]:
        raw = self.client.mget([product_key(p) for p in product_ids]) if product_ids else []
        missing = [p for p, r in zip(product_ids, raw) if r is None]
        if missing:
            raise DeadLetter("unknown_product", f"unknown product {missing[0]!r}: not in the catalog")
        return {p: catalog_pb2.Product.FromString(r) for p, r in zip(product_ids, raw)}

    def _pricings(self, wanted: list[tuple[str, int]]) -> dict[tuple[str, int], catalog_pb2.Pricing]:
        todo = [pair for pair in wanted if pair not in self._pricing]
        if todo:
            pipe = self.client.pipeline(transaction=False)
            for product_id, version in todo:
                pipe.hget(prices_key(product_id), str(version))
            for pair, raw in zip(todo, pipe.execute()):
                if raw is None:
                    raise DeadLetter("price_version", f"product {pair[0]!r} has no price version {pair[1]} in the catalog")
                self._pricing[pair] = catalog_pb2.Pricing.FromString(raw)
        return {pair: self._pricing[pair] for pair in wanted}

    def _tables(self, nodes, products, pricing) -> RateTables:
        cards = [node_price_card(nodes[n]) for n in sorted(nodes)]
        compute = self._compute.remember(json.dumps(cards), lambda: build_compute_rates(cards, dict(enumerate(self.policy.tier_factor_bp, 1))))
        specs = {pair: data_rate_spec(products[pair[0]], p) for pair, p in pricing.items()}
        data = self._data.remember(json.dumps(sorted(map(list, specs.items())), default=str),
                                   lambda: build_data_rates(specs, ()))
        return RateTables(price_version=0, compute=compute, data=data)


def _check_centers(batch: pa.RecordBatch, nodes: dict[str, nodes_pb2.Node]) -> None:
    pairs = pa.table({"n": batch.column("node_id"), "c": batch.column("compute_center")}).group_by(["n", "c"]).aggregate([])
    for node_id, center in zip(pairs.column("n").to_pylist(), pairs.column("c").to_pylist()):
        if nodes[node_id].compute_center and nodes[node_id].compute_center != center:
            raise DeadLetter("wrong_center", f"records of node {node_id!r} name compute center {center!r}; "
                             f"the node belongs to {nodes[node_id].compute_center!r}")
