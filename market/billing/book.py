"""Price books for batches: node price cards, product pricing by version, split plans, read from Redis.

Each batch reads the records it names (one MGET of nodes, one of products) so that a
changed price card or rights split is used from the next batch on; pricing versions never
change once written and are cached for good; built tables and plans are cached by the
exact inputs they were built from.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import redis

from shuniu.market.billing.charge import PriceBook
from shuniu.market.billing.prices import UnratableError, data_plan_spec, data_rate_spec, node_price_card
from shuniu.market.catalog import prices_key, product_key
from shuniu.market.rating.tables import RateTables, build_compute_rates, build_data_rates
from shuniu.market.split import build_split_plans
from shuniu.protos.usage_schema import string_codes
from shuniu.protos.v1 import catalog_pb2, nodes_pb2

__all__ = ["BillingPolicy", "DeadLetter", "PriceSource", "node_key"]

_CACHE_ENTRIES = 64
_VERSION_MASK = (1 << 40) - 1


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
        self._parsed_nodes = _Lru()
        self._books = _Lru()

    def book_for(self, batch: pa.RecordBatch, records: Mapping[str, bytes] | None = None) -> PriceBook:
        """The price book of a valid batch; raise DeadLetter naming an unknown node, product or price version.

        `records`: node and product records by key, as just read with the batch's other reads; the rest are read here."""
        known = records or {}
        node_names, node_code = string_codes(batch.column("node_id"))
        node_ids = sorted(node_names)
        raw_nodes = self._records(node_key, node_ids, "unknown_node", "no node record, so no price card", known)
        nodes = self._parsed_nodes.remember((tuple(node_ids), raw_nodes), lambda: {n: nodes_pb2.Node.FromString(r) for n, r in zip(node_ids, raw_nodes)})
        center_names, center_code = string_codes(batch.column("compute_center"))
        centers = sorted(center_names)
        _check_centers(nodes, node_names, node_code, center_names, center_code)
        wanted = _product_versions(batch)
        product_ids = sorted({p for p, _ in wanted})
        raw_products = self._records(product_key, product_ids, "unknown_product", "not in the catalog", known)
        # Node and product records are read for every batch, so a change is used from the next batch on;
        # the book is rebuilt only when the bytes read differ from a book already built.
        key = (raw_nodes, raw_products, tuple(wanted), tuple(centers))
        return self._books.remember(key, lambda: self._build(nodes, product_ids, raw_products, wanted, centers))

    def _build(self, nodes, product_ids, raw_products, wanted, centers) -> PriceBook:
        products = {p: catalog_pb2.Product.FromString(r) for p, r in zip(product_ids, raw_products)}
        pricing = self._pricings(wanted)
        try:
            tables = self._tables(nodes, products, pricing)
            specs = {
                "data": {p: data_plan_spec(products[p], self.policy.data_fee_bp) for p in product_ids},
                "compute": {c: {"exchange_fee_bp": self.policy.compute_fee_bp} for c in centers},
                "exchange_id": self.policy.exchange_id,
            }
            key = json.dumps(specs, sort_keys=True)
            plans = self._plans.remember(key, lambda: build_split_plans(specs["data"], specs["compute"], specs["exchange_id"]))
        except (UnratableError, ValueError) as err:
            raise DeadLetter("unratable", str(err)) from None
        categories = {p: products[p].spec.category for p in product_ids}
        return PriceBook(tables, plans, specs, categories)

    def _records(self, key_of, ids: list[str], reason: str, why: str, known: Mapping[str, bytes]) -> tuple[bytes, ...]:
        keys = [key_of(i) for i in ids]
        raw = [known.get(k) for k in keys]
        if None in raw:  # not read with the batch (or not in Redis): read now
            raw = self.client.mget(keys)
        missing = [i for i, r in zip(ids, raw) if r is None]
        if missing:
            what = "node" if reason == "unknown_node" else "product"
            raise DeadLetter(reason, f"unknown {what} {missing[0]!r}: {why}"
                             + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        return tuple(raw)

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


def _product_versions(batch: pa.RecordBatch) -> list[tuple[str, int]]:
    """The sorted (product id, price version) pairs of a batch's data records."""
    names, code = string_codes(batch.column("product_id"))
    # One int64 per record: product code above bit 41, price version below (versions are < 2^40).
    versions = batch.column("price_version").to_numpy()
    if len(versions) and versions.max() > _VERSION_MASK:
        raise DeadLetter("price_version", f"price version {versions.max()} is past any the catalog holds (at most {_VERSION_MASK})")
    pairs = np.unique((code.astype(np.int64) << 41) | versions)
    return sorted((names[k >> 41], k & _VERSION_MASK) for k in pairs.tolist() if names[k >> 41])


def _check_centers(nodes: dict[str, nodes_pb2.Node], node_names: list[str], node_code: np.ndarray,
                   center_names: list[str], center_code: np.ndarray) -> None:
    if len(node_names) == 1:  # the usual batch: one node's records
        pairs = [(node_names[0], center) for center in center_names]
    else:
        codes = np.unique(node_code.astype(np.int64) * len(center_names) + center_code)
        pairs = [(node_names[k // len(center_names)], center_names[k % len(center_names)]) for k in codes.tolist()]
    for node_id, center in pairs:
        if nodes[node_id].compute_center and nodes[node_id].compute_center != center:
            raise DeadLetter("wrong_center", f"records of node {node_id!r} name compute center {center!r}; "
                             f"the node belongs to {nodes[node_id].compute_center!r}")
