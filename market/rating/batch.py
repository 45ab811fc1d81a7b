"""From a usage batch (Arrow) to rated lines: resolve strings to indexes once, then run the kernels.

`prepare_batch` is the edge: it validates the batch against the usage schema, resolves
node/compute class to a price card and product id to a product, flags public-interest use,
checks the limits that keep the kernels' integer arithmetic exact, and hands the numeric
columns over as zero-copy numpy views of the batch's Arrow buffers. `rate_inputs` runs
the kernels; `rate_inputs_twin` runs their plain-Python twins (the reference rater).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shuniu.market.rating.compute import compute_charge_kernel, compute_charge_twin
from shuniu.market.rating.data import data_charge_kernel, data_charge_twin
from shuniu.market.rating.tables import RateTables
from shuniu.protos.usage_schema import validate_usage_batch

__all__ = [
    "RatedBatch",
    "RatingInputError",
    "RatingInputs",
    "prepare_batch",
    "rate_batch",
    "rate_inputs",
    "rate_inputs_twin",
    "units_before_from_mapping",
]

# Per-record and per-batch limits; with those in tables.py no kernel product leaves int64.
MAX_BATCH_RECORDS = 2**24
MAX_COMPUTE_QUANTITY = 2**35  # cpu_ms, memory_mb_s, gpu_ms of one record
MAX_DATA_UNITS = 2**36  # rows, calls, queries of one record
MAX_UNITS_BEFORE = 2**61  # a product's cumulative volume carried into a batch


class RatingInputError(ValueError):
    """A batch that cannot be rated (unknown node or product, wrong price version, over a limit)."""

    def __init__(self, reason: str, record_id: str | None = None) -> None:
        self.reason = reason
        self.record_id = record_id
        super().__init__(reason if record_id is None else f"record {record_id!r}: {reason}")


@dataclass(frozen=True, eq=False)
class RatingInputs:
    """The numeric per-record columns the kernels read, all of one length."""

    card_index: np.ndarray  # int32, row of RateTables.compute price-card arrays
    tier: np.ndarray  # int8, 1..4
    start_unix_ms: np.ndarray  # int64
    cpu_ms: np.ndarray  # int64
    memory_mb_s: np.ndarray  # int64
    gpu_ms: np.ndarray  # int64
    product_index: np.ndarray  # int32, row of RateTables.data arrays, -1 for compute-only
    free: np.ndarray  # bool, public data for a public-interest purpose
    rows: np.ndarray  # int64
    calls: np.ndarray  # int64
    queries: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.card_index)


@dataclass(frozen=True, eq=False)
class RatedBatch:
    """Rated lines per record (int64 fen) and each product's cumulative volume after the batch."""

    compute_fen: np.ndarray
    data_fen: np.ndarray
    cap_reduction_fen: np.ndarray
    units_after: np.ndarray  # int64, aligned with RateTables.data.product_ids

    @property
    def total_fen(self) -> int:
        """What the buyers owe for the batch: compute plus data charges (cap already applied)."""
        return int(self.compute_fen.sum()) + int(self.data_fen.sum())


def rate_batch(batch: pa.RecordBatch, tables: RateTables, units_before: np.ndarray | None = None) -> RatedBatch:
    """Validate, prepare and rate one usage batch; units_before defaults to zero for every product."""
    return rate_inputs(prepare_batch(batch, tables), tables, units_before)


def _rate_with(compute_fn, data_fn, inputs: RatingInputs, tables: RateTables,
               units_before: np.ndarray | None) -> RatedBatch:
    before = _units_before(tables, units_before)
    c, d = tables.compute, tables.data
    compute_fen = compute_fn(
        inputs.card_index, inputs.tier, inputs.start_unix_ms, inputs.cpu_ms, inputs.memory_mb_s, inputs.gpu_ms,
        c.cpu_core_hour_fen, c.memory_gb_hour_fen, c.gpu_hour_fen, c.hour_multiplier_bp, c.tier_factor_bp,
    )  # fmt: skip
    data_fen, cap_fen, after = data_fn(
        inputs.product_index, inputs.free, inputs.rows, inputs.calls, inputs.queries,
        d.unit_kind, d.tier_offsets, d.tier_from_units, d.tier_price_millifen, d.guided_cap_millifen, before,
    )  # fmt: skip
    as_array = lambda values: np.asarray(values, dtype=np.int64)  # noqa: E731
    return RatedBatch(as_array(compute_fen), as_array(data_fen), as_array(cap_fen), as_array(after))


def rate_inputs(inputs: RatingInputs, tables: RateTables, units_before: np.ndarray | None = None) -> RatedBatch:
    """Rate prepared inputs with the Numba kernels."""
    return _rate_with(compute_charge_kernel, data_charge_kernel, inputs, tables, units_before)


def rate_inputs_twin(inputs: RatingInputs, tables: RateTables, units_before: np.ndarray | None = None) -> RatedBatch:
    """Rate prepared inputs with the plain-Python twins (the reference rater; slow)."""
    return _rate_with(compute_charge_twin, data_charge_twin, inputs, tables, units_before)


def units_before_from_mapping(tables: RateTables, units: dict[str, int]) -> np.ndarray:
    """Cumulative volume per product (aligned with tables.data.product_ids) from {product_id: units}."""
    unknown = sorted(set(units) - set(tables.data.product_ids))
    if unknown:
        raise ValueError(f"cumulative volume given for unknown products {unknown}")
    return np.array([units.get(p, 0) for p in tables.data.product_ids], dtype=np.int64)


def prepare_batch(batch: pa.RecordBatch, tables: RateTables) -> RatingInputs:
    """Validate a usage batch and resolve it into kernel inputs; raise UsageSchemaError or RatingInputError."""
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else pa.RecordBatch.from_pylist([], batch.schema)
    validate_usage_batch(batch)
    if batch.num_rows > MAX_BATCH_RECORDS:
        raise RatingInputError(f"batch has {batch.num_rows} records; at most {MAX_BATCH_RECORDS} are rated at once")
    ids = batch.column("record_id")
    view = {name: batch.column(name).to_numpy(zero_copy_only=True) for name in _NUMERIC}

    versions = view["price_version"]
    bad = np.flatnonzero(versions != tables.price_version)
    if bad.size:
        raise RatingInputError(
            f"priced under version {versions[bad[0]]}; these rate tables are version {tables.price_version}", ids[bad[0]].as_py()
        )
    for names, limit in ((("cpu_ms", "memory_mb_s", "gpu_ms"), MAX_COMPUTE_QUANTITY), (("rows", "calls", "queries"), MAX_DATA_UNITS)):
        for name in names:
            bad = np.flatnonzero(view[name] > limit)
            if bad.size:
                raise RatingInputError(f"{name} {view[name][bad[0]]} is over the per-record limit {limit}", ids[bad[0]].as_py())

    product_index = _product_index(batch, tables)
    return RatingInputs(
        card_index=_card_index(batch, tables, view["compute_class"]),
        tier=view["tier"],
        start_unix_ms=view["start_unix_ms"],
        cpu_ms=view["cpu_ms"],
        memory_mb_s=view["memory_mb_s"],
        gpu_ms=view["gpu_ms"],
        product_index=product_index,
        free=_free(batch, tables, product_index),
        rows=view["rows"],
        calls=view["calls"],
        queries=view["queries"],
    )


_NUMERIC = ("tier", "compute_class", "start_unix_ms", "cpu_ms", "memory_mb_s", "gpu_ms", "rows", "calls", "queries", "price_version")


def _card_index(batch: pa.RecordBatch, tables: RateTables, compute_class: np.ndarray) -> np.ndarray:
    node_ids = batch.column("node_id")
    node_row = pc.index_in(node_ids, value_set=pa.array(tables.compute.node_ids, pa.string()))
    if node_row.null_count:
        first = pc.index(pc.is_null(node_row), True).as_py()
        raise RatingInputError(f"unknown node {node_ids[first].as_py()!r}: no price card", batch.column("record_id")[first].as_py())
    card = tables.compute.card_index[node_row.to_numpy(zero_copy_only=False), compute_class]
    bad = np.flatnonzero(card < 0)
    if bad.size:
        i = bad[0]
        raise RatingInputError(
            f"node {node_ids[i].as_py()!r} has no price card for compute class {compute_class[i]}", batch.column("record_id")[i].as_py()
        )
    return card


def _product_index(batch: pa.RecordBatch, tables: RateTables) -> np.ndarray:
    product_ids = batch.column("product_id")
    index = pc.index_in(product_ids, value_set=pa.array(tables.data.product_ids, pa.string()))
    unknown = pc.and_(pc.is_null(index), pc.not_equal(product_ids, ""))
    if pc.any(unknown).as_py():
        first = pc.index(unknown, True).as_py()
        raise RatingInputError(f"unknown product {product_ids[first].as_py()!r}", batch.column("record_id")[first].as_py())
    return pc.fill_null(index, -1).to_numpy(zero_copy_only=False)


def _free(batch: pa.RecordBatch, tables: RateTables, product_index: np.ndarray) -> np.ndarray:
    purposes = pa.array(sorted(tables.data.public_interest_purposes), pa.string())
    public_interest = pc.is_in(batch.column("purpose"), value_set=purposes).to_numpy(zero_copy_only=False)
    # Index -1 (no product) lands on the appended False.
    public_product = np.append(tables.data.is_public, False)[product_index]
    return public_interest & public_product


def _units_before(tables: RateTables, units_before: np.ndarray | None) -> np.ndarray:
    n = len(tables.data.product_ids)
    if units_before is None:
        return np.zeros(n, dtype=np.int64)
    before = np.asarray(units_before)
    if before.shape != (n,) or before.dtype.kind not in "iu":
        raise ValueError(f"units_before must be {n} integers aligned with the rate tables' product_ids, got shape {before.shape} {before.dtype}")
    if n and (before.min() < 0 or before.max() > MAX_UNITS_BEFORE):
        raise ValueError(f"units_before must be within 0..{MAX_UNITS_BEFORE}")
    return before.astype(np.int64, copy=False)
