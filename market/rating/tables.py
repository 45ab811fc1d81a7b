"""Rate tables: the prices a batch is rated with, as small frozen dataclasses of numpy arrays.

Built once per price version from plain Python data (what the catalog and the node
registry hold) by `build_rate_tables`, which validates everything and says what is wrong.
The kernels index these arrays by per-record integers, so that no string is touched on the
hot path.

Units: compute prices in fen per unit-hour (core-hour, GB-hour with 1 GB = 1024 MB,
GPU-hour); data prices in milli-fen per unit (row, call or query); multipliers in basis
points (10,000 = ×1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shuniu.market._specs import frozen, only_keys

__all__ = [
    "GRADES",
    "NO_CAP",
    "UNIT_KINDS",
    "ComputeRates",
    "DataRates",
    "RateTables",
    "build_compute_rates",
    "build_data_rates",
    "build_rate_tables",
    "index_type",
]

# The prices every listing path accepts (catalog, node registration, fee schedules) and the rater
# rates: with the usage wire's per-record quantities (usage_schema.MAX_COMPUTE_QUANTITY, MAX_DATA_UNITS)
# every line stays below 2^62 milli-fen, so no kernel product leaves int64 (docs/billing.md,
# "Rating ranges").
MAX_COMPUTE_PRICE_FEN = 10**8  # per unit-hour: 1,000,000 yuan
MAX_BAND_MULTIPLIER_BP = 100_000  # a time-of-use band: ×10, what node registration accepts
MAX_MULTIPLIER_BP = 30_000  # a latency tier's factor: ×3
MAX_DATA_PRICE_MILLIFEN = 10**11  # per unit: 1,000,000 yuan
MAX_GUIDED_CAP_MILLIFEN = 2**62  # a cap only ever lowers a price (min(price, cap)): any cap is safe
MAX_TIERS_PER_PRODUCT = 33  # the catalog's base price and up to 32 volume tiers
MAX_TIER_FROM_UNITS = 2**62  # cumulative volume saturates here (batch.MAX_UNITS_BEFORE): past every tier start
MAX_PRICE_VERSION = 2**40 - 2  # batch.py packs (product, version) into one int64 key

UNIT_KINDS = ("row", "call", "query")  # index = unit kind code used by the kernels
GRADES = ("public", "internal", "sensitive", "core")  # 分类分级
COMPUTE_CLASSES = (1, 2, 3)  # shuniu.v1.ComputeClass: general, AI, HPC
TIERS = (1, 2, 3, 4)  # shuniu.v1.Tier: T1..T4
NO_CAP = -1  # guided_cap_millifen of a product without a guided price (政府指导价)
_CARD_PRICES = ("cpu_core_hour_fen", "memory_gb_hour_fen", "gpu_hour_fen")


def index_type(rows: int) -> type[np.signedinteger]:
    """The integer type of a per-record index into `rows` table rows (or -1): int16 when it fits, else int32.

    The rating kernel streams its per-record indexes from memory: two bytes instead of four for each
    of the two took 3 % off its time in `bench rating`'s batches (46 → 42 bytes of input a record)."""
    return np.int16 if rows < 2**15 else np.int32


@dataclass(frozen=True, eq=False)
class ComputeRates:
    """Price cards per (node, compute class), their time-of-use bands, and the tier factors."""

    node_ids: tuple[str, ...]
    card_index: np.ndarray  # index_type(cards) [node, compute_class] -> card row, -1 where none
    cpu_core_hour_fen: np.ndarray  # int64 [card]
    memory_gb_hour_fen: np.ndarray  # int64 [card]
    gpu_hour_fen: np.ndarray  # int64 [card]
    hour_multiplier_bp: np.ndarray  # int64 [card, hour of day in CST]
    tier_factor_bp: np.ndarray  # int64 [tier], index 0 unused


@dataclass(frozen=True, eq=False)
class DataRates:
    """Data pricing per (product, price version) row: unit, grade, volume tiers (CSR layout) and guided cap."""

    product_ids: tuple[str, ...]  # sorted by (product id, price version); an id repeats once per version
    price_versions: np.ndarray  # int64 [product row]
    unit_kind: np.ndarray  # int8 [product], index into UNIT_KINDS
    is_public: np.ndarray  # bool [product], public data (grade public, or under authorized operation) free for public-interest use
    tier_offsets: np.ndarray  # int64 [product + 1]; product p's tiers are [off[p], off[p+1])
    tier_from_units: np.ndarray  # int64 [tier]: cumulative units at which the tier starts
    tier_price_millifen: np.ndarray  # int64 [tier]
    guided_cap_millifen: np.ndarray  # int64 [product], NO_CAP where none
    public_interest_purposes: frozenset[str]


@dataclass(frozen=True, eq=False)
class RateTables:
    """Everything needed to rate records of one price version."""

    price_version: int
    compute: ComputeRates
    data: DataRates


def build_rate_tables(
    price_version: int,
    price_cards: Iterable[Mapping[str, Any]],
    tier_factor_bp: Mapping[int, int],
    products: Mapping[str, Mapping[str, Any]],
    public_interest_purposes: Iterable[str],
) -> RateTables:
    """Validate plain data and build the rate tables; raise ValueError saying what is wrong."""
    version = _int(price_version, "price_version", 0, MAX_PRICE_VERSION)
    return RateTables(
        price_version=version,
        compute=build_compute_rates(price_cards, tier_factor_bp),
        data=build_data_rates(products, public_interest_purposes, version),
    )


def build_compute_rates(price_cards: Iterable[Mapping[str, Any]], tier_factor_bp: Mapping[int, int]) -> ComputeRates:
    """Build compute rates from price cards like
    {"node_id": "zz-01", "compute_class": 1, "cpu_core_hour_fen": 12, "memory_gb_hour_fen": 2,
    "gpu_hour_fen": 0, "bands": [{"start_hour": 8, "end_hour": 22, "multiplier_bp": 12000}]}
    and tier factors like {1: 10000, 2: 10500, 3: 11000, 4: 12000}."""
    cards = list(price_cards)
    keys: list[tuple[str, int]] = []
    for n, card in enumerate(cards):
        if not isinstance(card, Mapping):
            raise ValueError(f"price card #{n} is a {type(card).__name__}; expected a mapping")
        only_keys(card, {"node_id", "compute_class", "bands", *_CARD_PRICES}, f"price card #{n}")
        node_id = card.get("node_id")
        if not isinstance(node_id, str) or not node_id:
            raise ValueError(f"price card #{n}: node_id must be a non-empty string, got {node_id!r}")
        cls = card.get("compute_class")
        if cls not in COMPUTE_CLASSES or isinstance(cls, bool):
            raise ValueError(f"price card of {node_id!r}: compute_class {cls!r} unknown; expected one of 1 (general), 2 (AI), 3 (HPC)")
        keys.append((node_id, cls))
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"two price cards for node {dup[0]!r} compute class {dup[1]}; expected one")

    order = sorted(range(len(cards)), key=lambda i: keys[i])
    node_ids = tuple(sorted({k[0] for k in keys}))
    node_row = {node: i for i, node in enumerate(node_ids)}
    card_index = np.full((len(node_ids), len(COMPUTE_CLASSES) + 1), -1, dtype=index_type(len(cards)))
    prices = {name: np.zeros(len(cards), dtype=np.int64) for name in _CARD_PRICES}
    hours = np.zeros((len(cards), 24), dtype=np.int64)
    for row, i in enumerate(order):
        card, (node_id, cls) = cards[i], keys[i]
        where = f"price card of {node_id!r} class {cls}"
        card_index[node_row[node_id], cls] = row
        for name in _CARD_PRICES:
            prices[name][row] = _int(card.get(name, 0), f"{where}: {name}", 0, MAX_COMPUTE_PRICE_FEN)
        hours[row] = _hour_multipliers(card.get("bands", ()), where)

    factors = np.zeros(len(TIERS) + 1, dtype=np.int64)
    if not isinstance(tier_factor_bp, Mapping) or set(tier_factor_bp) != set(TIERS):
        got = sorted(tier_factor_bp) if isinstance(tier_factor_bp, Mapping) else tier_factor_bp
        raise ValueError(f"tier_factor_bp must map every tier 1..4 to basis points, got keys {got!r}")
    for tier in TIERS:
        factors[tier] = _int(tier_factor_bp[tier], f"tier_factor_bp[T{tier}]", 0, MAX_MULTIPLIER_BP)
    return ComputeRates(
        node_ids=node_ids,
        card_index=frozen(card_index),
        cpu_core_hour_fen=frozen(prices["cpu_core_hour_fen"]),
        memory_gb_hour_fen=frozen(prices["memory_gb_hour_fen"]),
        gpu_hour_fen=frozen(prices["gpu_hour_fen"]),
        hour_multiplier_bp=frozen(hours),
        tier_factor_bp=frozen(factors),
    )


def build_data_rates(products: Mapping[Any, Mapping[str, Any]], public_interest_purposes: Iterable[str],
                     price_version: int = 0) -> DataRates:
    """Build data rates from products like {"p-traffic": {"unit": "row", "grade": "public",
    "tiers": [{"from_units": 0, "price_millifen": 50}, {"from_units": 1_000_000, "price_millifen": 30}],
    "guided_cap_millifen": 40}}; a missing or None guided cap means no cap. A key may also be a
    (product_id, price_version) pair, so that several versions of a product are rated side by side;
    a plain product id key stands for (product_id, price_version). "public_interest_free" (default
    True) says whether public data is free for public-interest use; "public_data" (default False) marks
    a product under public-data authorized operation (公共数据授权运营), public data whatever its grade."""
    if not isinstance(products, Mapping):
        raise ValueError(f"products must be a mapping of product id to pricing, got {type(products).__name__}")
    purposes = frozenset(public_interest_purposes)
    if not all(isinstance(p, str) and p for p in purposes):
        raise ValueError(f"public_interest_purposes must be non-empty strings, got {sorted(map(repr, purposes))}")
    rows = {}
    for key, spec in products.items():
        product_id, version = key if isinstance(key, tuple) and len(key) == 2 else (key, price_version)
        if not isinstance(product_id, str) or not product_id:
            raise ValueError(f"product id must be a non-empty string, got {product_id!r}")
        rows[(product_id, _int(version, f"product {product_id!r}: price version", 0, MAX_PRICE_VERSION))] = spec
    keys = sorted(rows)
    product_ids = tuple(k[0] for k in keys)
    n = len(product_ids)
    unit_kind = np.zeros(n, dtype=np.int8)
    is_public = np.zeros(n, dtype=np.bool_)
    caps = np.full(n, NO_CAP, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    froms: list[int] = []
    prices: list[int] = []
    for p, key in enumerate(keys):
        product_id, spec = key[0], rows[key]
        if not isinstance(spec, Mapping):
            raise ValueError(f"product {product_id!r}: pricing is a {type(spec).__name__}; expected a mapping")
        only_keys(spec, {"unit", "grade", "tiers", "guided_cap_millifen", "public_interest_free", "public_data"},
                  f"product {product_id!r}")
        unit_kind[p] = _choice(spec.get("unit"), UNIT_KINDS, f"product {product_id!r}: unit")
        free_for_public_interest = spec.get("public_interest_free", True)
        if not isinstance(free_for_public_interest, bool):
            raise ValueError(f"product {product_id!r}: public_interest_free must be true or false, got {free_for_public_interest!r}")
        public_data = spec.get("public_data", False)
        if not isinstance(public_data, bool):
            raise ValueError(f"product {product_id!r}: public_data must be true or false, got {public_data!r}")
        grade_public = _choice(spec.get("grade"), GRADES, f"product {product_id!r}: grade") == 0
        is_public[p] = (grade_public or public_data) and free_for_public_interest
        cap = spec.get("guided_cap_millifen")
        if cap is not None:
            caps[p] = _int(cap, f"product {product_id!r}: guided_cap_millifen", 0, MAX_GUIDED_CAP_MILLIFEN)
        tier_froms, tier_prices = _volume_tiers(spec.get("tiers"), f"product {product_id!r}")
        froms += tier_froms
        prices += tier_prices
        offsets[p + 1] = len(froms)
    return DataRates(
        product_ids=product_ids,
        price_versions=frozen(np.array([k[1] for k in keys], dtype=np.int64)),
        unit_kind=frozen(unit_kind),
        is_public=frozen(is_public),
        tier_offsets=frozen(offsets),
        tier_from_units=frozen(np.array(froms, dtype=np.int64)),
        tier_price_millifen=frozen(np.array(prices, dtype=np.int64)),
        guided_cap_millifen=frozen(caps),
        public_interest_purposes=purposes,
    )


def _hour_multipliers(bands: Any, where: str) -> np.ndarray:
    """Hours not covered by a band are charged at 10,000 bp (×1)."""
    hours = np.full(24, 10_000, dtype=np.int64)
    covered = np.zeros(24, dtype=np.bool_)
    if not isinstance(bands, Sequence):
        raise ValueError(f"{where}: bands must be a list, got {type(bands).__name__}")
    for band in bands:
        if not isinstance(band, Mapping):
            raise ValueError(f"{where}: band {band!r} must be a mapping with start_hour, end_hour, multiplier_bp")
        only_keys(band, {"start_hour", "end_hour", "multiplier_bp"}, f"{where}: band")
        start = _int(band.get("start_hour"), f"{where}: band start_hour", 0, 23)
        end = _int(band.get("end_hour"), f"{where}: band end_hour", 1, 24)
        if end <= start:
            raise ValueError(f"{where}: band [{start}, {end}) is empty; expected start_hour < end_hour (bands do not wrap midnight; split them)")
        if covered[start:end].any():
            raise ValueError(f"{where}: band [{start}, {end}) overlaps another band")
        covered[start:end] = True
        hours[start:end] = _int(band.get("multiplier_bp"), f"{where}: band multiplier_bp", 0, MAX_BAND_MULTIPLIER_BP)
    return hours


def _volume_tiers(tiers: Any, where: str) -> tuple[list[int], list[int]]:
    if not isinstance(tiers, Sequence) or not tiers:
        raise ValueError(f"{where}: tiers must be a non-empty list of {{from_units, price_millifen}}, got {tiers!r}")
    if len(tiers) > MAX_TIERS_PER_PRODUCT:
        raise ValueError(f"{where}: {len(tiers)} volume tiers; at most {MAX_TIERS_PER_PRODUCT} allowed")
    froms, prices = [], []
    for tier in tiers:
        if not isinstance(tier, Mapping):
            raise ValueError(f"{where}: tier {tier!r} must be a mapping with from_units and price_millifen")
        only_keys(tier, {"from_units", "price_millifen"}, f"{where}: tier")
        froms.append(_int(tier.get("from_units"), f"{where}: tier from_units", 0, MAX_TIER_FROM_UNITS))
        prices.append(_int(tier.get("price_millifen"), f"{where}: tier price_millifen", 0, MAX_DATA_PRICE_MILLIFEN))
    if froms[0] != 0:
        raise ValueError(f"{where}: the first tier must start at from_units 0, got {froms[0]}")
    if any(b <= a for a, b in zip(froms, froms[1:])):
        raise ValueError(f"{where}: tier from_units must increase strictly, got {froms}")
    return froms, prices


def _int(value: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{what} must be an integer in {lo}..{hi}, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{what} is {value}; expected {lo}..{hi}")
    return int(value)


def _choice(value: Any, options: tuple[str, ...], what: str) -> int:
    if value not in options:
        raise ValueError(f"{what} {value!r} unknown; expected one of {', '.join(options)}")
    return options.index(value)
