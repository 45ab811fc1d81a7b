"""ProductStore: the catalog's system of record in Redis.

Keys (prefix `shuniu:`):
  product:{id}         the Product record (protobuf bytes): spec with the pricing in force, state, verification
  products             set of product ids
  product-prices:{id}  hash str(price_version) -> Pricing bytes; every version ever in force, never deleted,
                       so usage is always rated with the version it was quoted under
"""

from __future__ import annotations

from collections.abc import Iterable

import redis.asyncio as aioredis

from shuniu.protos.v1 import catalog_pb2

PRODUCTS_KEY = "shuniu:products"
_READ_CHUNK = 1000


def product_key(product_id: str) -> str:
    return f"shuniu:product:{product_id}"


def prices_key(product_id: str) -> str:
    return f"shuniu:product-prices:{product_id}"


class ProductStore:
    """Reads products and their price versions; writes are queued on a transaction by `queue_product_write`."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def get(self, product_id: str) -> catalog_pb2.Product | None:
        raw = await self.redis.get(product_key(product_id))
        return None if raw is None else catalog_pb2.Product.FromString(raw)

    async def get_pricing(self, product_id: str, price_version: int = 0) -> catalog_pb2.Pricing | None:
        """The pricing of `price_version` (0: the one in force); None when the product or version is unknown."""
        if price_version == 0:
            product = await self.get(product_id)
            return None if product is None else product.spec.pricing
        raw = await self.redis.hget(prices_key(product_id), str(price_version))
        return None if raw is None else catalog_pb2.Pricing.FromString(raw)

    async def price_versions(self, product_id: str) -> list[catalog_pb2.Pricing]:
        """Every price version of the product, oldest first."""
        raw = await self.redis.hgetall(prices_key(product_id))
        return sorted((catalog_pb2.Pricing.FromString(v) for v in raw.values()), key=lambda p: p.price_version)

    async def ids(self) -> list[str]:
        return sorted(i.decode() for i in await self.redis.smembers(PRODUCTS_KEY))

    async def get_many(self, product_ids: Iterable[str]) -> list[catalog_pb2.Product]:
        """The products of `product_ids` that exist, in the order given."""
        ids = list(product_ids)
        found: list[catalog_pb2.Product] = []
        for start in range(0, len(ids), _READ_CHUNK):
            for raw in await self.redis.mget([product_key(i) for i in ids[start:start + _READ_CHUNK]]):
                if raw is not None:
                    found.append(catalog_pb2.Product.FromString(raw))
        return found

    async def all(self) -> list[catalog_pb2.Product]:
        """Every product, by product id."""
        return await self.get_many(await self.ids())


def queue_product_write(pipe: aioredis.client.Pipeline, product: catalog_pb2.Product, *, new_price: bool) -> None:
    """Queues the product record; with `new_price`, also records its pricing as a price version."""
    assert product.product_id and product.spec.pricing.price_version >= 1, product.product_id
    pipe.set(product_key(product.product_id), product.SerializeToString(deterministic=True))
    pipe.sadd(PRODUCTS_KEY, product.product_id)
    if new_price:
        pricing = product.spec.pricing
        pipe.hset(prices_key(product.product_id), str(pricing.price_version), pricing.SerializeToString(deterministic=True))
