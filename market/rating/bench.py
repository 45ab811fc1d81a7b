"""Rating benchmark: records/s of the Numba kernels, the pyarrow.compute baseline and the plain twin.

All three rate the same synthetic records with the same tables and must produce the same
fen (checked on every run). The kernels and the baseline start from prepared inputs
(price-card and product indexes already resolved), so the figure is the rating itself;
resolving a real usage batch's strings (`prepare_batch`, shared by every path) is measured
apart on up to one million records.

The Numba kernels are timed two ways, both on one thread: in the biller's batches
(`rate_inputs` per batch of BATCH_RECORDS, checking the volume inputs and allocating the output
lines inside the timed loop, volume carried from batch to batch), and in one call over every
record, where the output lines are hundreds of fresh megabytes and first-touch page faults weigh
on the figure.

Every way rates the records as the biller receives them, in the wire's own forms
(usage_schema): each quantity column int32 when its values fit (`narrowed_int64`), and the start
time as int32 ms after the earliest (`after_base`), in the batches each batch's own. The batches
are cut and narrowed before the clock starts, as the biller receives each one whole in its own
buffers. The synthetic quantities all fit, so the kernels read int32; the batches are also timed
with int64 quantities, the form of a batch whose values need more than 31 bits.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import pyarrow as pa

from shuniu.market.rating.arrow_compute import rate_inputs_arrow
from shuniu.market.rating.batch import RATED_QUANTITIES, RatedBatch, RatingInputs, prepare_batch, rate_inputs, rate_inputs_twin
from shuniu.market.rating.tables import RateTables, build_rate_tables, index_type
from shuniu.protos.usage_schema import USAGE_SCHEMA, after_base, narrowed_int64

__all__ = ["as_sent", "run_rating_bench", "sent_in_batches", "synthetic_inputs", "synthetic_tables"]

TWIN_SAMPLE_RECORDS = 20_000
BATCH_RECORDS = 20_000  # the biller's default batch (shuniu bench billing --batch-records)
PREPARE_SAMPLE_RECORDS = 1_000_000
_START_MS = 1_793_462_400_000  # 2026-11-01 00:00 CST
# Records start anywhere in the first 24 days of the month, every hour of day as likely: as far apart as one
# batch on the wire can carry them (2^31 ms is 24.8 days), where a node's real batch spans minutes.
_SPAN_MS = 24 * 86_400_000


def run_rating_bench(records: int, repeats: int = 3, seed: int = 6) -> dict[str, Any]:
    """Rate `records` synthetic records each way; return records/s per way and the speed-up."""
    if records < 1:
        raise ValueError(f"records must be >= 1, got {records}")
    tables = synthetic_tables(seed)
    wide = synthetic_inputs(records, tables, seed)
    inputs = as_sent(wide)
    before = np.random.default_rng(seed).integers(0, 2_000_000, len(tables.data.product_ids))
    for warm_up in (synthetic_inputs(100, tables, seed + 1), as_sent(synthetic_inputs(100, tables, seed + 1))):
        rate_inputs(warm_up, tables, before)  # compile or load both forms of the kernel first

    numba_s, rated = _best_of(repeats, lambda: rate_inputs(inputs, tables, before))
    batches, wide_batches = sent_in_batches(inputs, BATCH_RECORDS), sent_in_batches(wide, BATCH_RECORDS)
    batched_s, (batched_after, batched_millifen) = _best_of(repeats, lambda: _rate_in_batches(batches, tables, before))
    # The same, timed by the rating thread's own CPU clock: records per CPU-second of one core, which
    # other work sharing the machine's two cores does not dilute as it dilutes wall time.
    batched_cpu_s, _ = _best_of(repeats, lambda: _rate_in_batches(batches, tables, before), time.thread_time)
    wide_s, wide_result = _best_of(repeats, lambda: _rate_in_batches(wide_batches, tables, before))
    if (batched_millifen, wide_result[1]) != (rated.total_millifen,) * 2 or not np.array_equal(batched_after, rated.units_after) \
            or not np.array_equal(wide_result[0], rated.units_after):
        raise AssertionError("rating in batches disagrees with one call (total milli-fen or volume carried across batches)")
    arrow_s, rated_arrow = _best_of(repeats, lambda: rate_inputs_arrow(inputs, tables, before))
    _assert_same(rated, rated_arrow, "pyarrow.compute")

    sample = min(records, TWIN_SAMPLE_RECORDS)
    sample_inputs = _head(inputs, sample)
    twin_s, rated_twin = _best_of(1, lambda: rate_inputs_twin(sample_inputs, tables, before))
    _assert_same(rate_inputs(sample_inputs, tables, before), rated_twin, "python twin")

    prepare_n = min(records, PREPARE_SAMPLE_RECORDS)
    batch = synthetic_batch(_head(inputs, prepare_n), tables)
    prepare_s, _ = _best_of(1, lambda: prepare_batch(batch, tables))

    numba_rps, arrow_rps, batched_rps = records / numba_s, records / arrow_s, records / batched_s
    return {
        "records": records,
        "batch_records": min(records, BATCH_RECORDS),
        "numba_batched_records_per_s": batched_rps,
        "numba_batched_vs_pyarrow_compute": batched_rps / arrow_rps,
        "numba_batched_records_per_cpu_s": records / batched_cpu_s,
        "numba_batched_int64_records_per_s": records / wide_s,
        "quantity_types": sorted({str(getattr(inputs, name).dtype) for name in RATED_QUANTITIES}),
        "batch_input_bytes_per_record": sum(column.itemsize for column in batches[0].columns().values()),
        "numba_records_per_s": numba_rps,
        "pyarrow_compute_records_per_s": arrow_rps,
        "python_twin_records_per_s": sample / twin_s,
        "python_twin_sample_records": sample,
        "numba_vs_pyarrow_compute": numba_rps / arrow_rps,
        "prepare_records_per_s": prepare_n / prepare_s,
        "prepare_sample_records": prepare_n,
        "total_fen": rated.total_fen,
        "cap_reduction_fen": int(rated.cap_reduction_fen.sum()),
    }


def synthetic_tables(seed: int = 6, nodes: int = 300, products: int = 200) -> RateTables:
    """Rate tables of a made-up province: nodes with one to three price cards, products in volume tiers."""
    rng = np.random.default_rng(seed)
    peak = [{"start_hour": 0, "end_hour": 8, "multiplier_bp": 6000}, {"start_hour": 8, "end_hour": 11, "multiplier_bp": 12000},
            {"start_hour": 18, "end_hour": 22, "multiplier_bp": 13000}]  # fmt: skip
    cards = []
    for n in range(nodes):
        for cls in range(1, int(rng.integers(1, 4)) + 1):
            cards.append({
                "node_id": f"node-{n:05d}", "compute_class": cls, "cpu_core_hour_fen": int(rng.integers(5, 60)),
                "memory_gb_hour_fen": int(rng.integers(1, 10)), "gpu_hour_fen": int(rng.integers(300, 3000)) if cls == 2 else 0,
                "bands": peak if n % 2 else [],
            })  # fmt: skip
    priced = {}
    for p in range(products):
        depth = int(rng.integers(1, 4))
        froms = [0, *sorted(int(x) for x in rng.choice(np.arange(1, 50) * 1_000_000, depth - 1, replace=False))]
        priced[f"prod-{p:04d}"] = {
            "unit": ("row", "call", "query")[p % 3], "grade": ("public", "internal", "sensitive")[p % 3],
            "tiers": [{"from_units": f, "price_millifen": int(rng.integers(1, 2000)) // (k + 1)} for k, f in enumerate(froms)],
            "guided_cap_millifen": int(rng.integers(1, 1500)) if p % 2 else None,
        }  # fmt: skip
    return build_rate_tables(1, cards, {1: 10_000, 2: 10_500, 3: 11_000, 4: 12_000}, priced, {"public_health", "education"})


def synthetic_inputs(records: int, tables: RateTables, seed: int = 6) -> RatingInputs:
    """Prepared inputs for `records` made-up records, about a fifth of them compute-only."""
    rng = np.random.default_rng(seed)
    valid_cards = np.flatnonzero(tables.compute.card_index.ravel() >= 0)
    cards = tables.compute.card_index.ravel()[rng.choice(valid_cards, records)]
    n_products = len(tables.data.product_ids)
    products = rng.integers(-n_products // 4, n_products, records).astype(index_type(n_products))
    products[products < 0] = -1
    is_public = np.append(tables.data.is_public, False)[products]
    return RatingInputs(
        card_index=cards,
        tier=rng.integers(1, 5, records).astype(np.int8),
        start_ms=rng.integers(_START_MS, _START_MS + _SPAN_MS, records),
        cpu_ms=rng.integers(0, 16 * 3_600_000, records),
        memory_mb_s=rng.integers(0, 64 * 1024 * 3600, records),
        gpu_ms=np.where(tables.compute.gpu_hour_fen[cards] > 0, rng.integers(0, 3_600_000, records), 0),
        product_index=products,
        free=is_public & (rng.random(records) < 0.5),
        rows=rng.integers(0, 200_000, records),
        calls=rng.integers(0, 1_000, records),
        queries=rng.integers(0, 1_000, records),
    )


def as_sent(inputs: RatingInputs) -> RatingInputs:
    """`inputs` as the wire carries them, decided over all records as one batch: each quantity column int32
    when every value fits, and the start times as int32 ms after the earliest when they span less than 2^31 ms."""
    return _times_as_sent(dataclasses.replace(inputs, **{name: narrowed_int64(pa.array(getattr(inputs, name))).to_numpy()
                                                         for name in RATED_QUANTITIES}))


def sent_in_batches(inputs: RatingInputs, size: int) -> list[RatingInputs]:
    """`inputs` cut into batches of `size` records, each with its start times as the wire carries them
    (after the batch's own earliest)."""
    return [_times_as_sent(inputs.sliced(lo, lo + size)) for lo in range(0, len(inputs), size)]


def _times_as_sent(inputs: RatingInputs) -> RatingInputs:
    start_ms, base = after_base(pa.array(inputs.start_unix_ms()))
    return dataclasses.replace(inputs, start_ms=start_ms.to_numpy(), start_base_ms=base)


def synthetic_batch(inputs: RatingInputs, tables: RateTables) -> pa.RecordBatch:
    """A usage batch in USAGE_SCHEMA that prepares back into `inputs` (up to which purpose makes a record free)."""
    n = len(inputs)
    node_of_card = np.zeros(len(tables.compute.cpu_core_hour_fen), dtype=np.int64)
    cls_of_card = np.zeros_like(node_of_card)
    node_rows, classes = np.nonzero(tables.compute.card_index >= 0)
    node_of_card[tables.compute.card_index[node_rows, classes]] = node_rows
    cls_of_card[tables.compute.card_index[node_rows, classes]] = classes
    pick = lambda names, index: pa.array(names, pa.string()).take(pa.array(index))  # noqa: E731
    product_names = (*tables.data.product_ids, "")
    ids = pa.array(np.char.add("r", np.arange(n).astype(str)))
    versions = np.append(tables.data.price_versions, 0)[inputs.product_index]
    columns = {
        "record_id": ids, "job_id": ids, "grant_id": pick(["g1"], np.zeros(n, int)),
        "buyer_id": pick(["buyer-1", "buyer-2"], np.arange(n) % 2), "node_id": pick(tables.compute.node_ids, node_of_card[inputs.card_index]),
        "compute_center": pick(["cc"], np.zeros(n, int)), "product_id": pick(product_names, np.where(inputs.product_index < 0, len(product_names) - 1, inputs.product_index)),
        "site": pick(["zhengzhou"], np.zeros(n, int)), "tier": inputs.tier, "compute_class": cls_of_card[inputs.card_index].astype(np.int8),
        "start_unix_ms": inputs.start_unix_ms(), "end_unix_ms": inputs.start_unix_ms() + 60_000, "cpu_ms": inputs.cpu_ms,
        "memory_mb_s": inputs.memory_mb_s, "gpu_ms": inputs.gpu_ms, "rows": inputs.rows, "bytes": inputs.rows * 100,
        "calls": inputs.calls, "queries": inputs.queries, "kind": np.ones(n, np.int8),
        "purpose": pick(["marketing", "public_health"], inputs.free.astype(int)), "price_version": versions,
        # Commercial (3) unless free: then public interest (2), which public data is free for.
        "purpose_category": np.where(inputs.free, 2, 3).astype(np.int8), "attempt": np.ones(n, np.int32),
        "peak_memory_mb": inputs.memory_mb_s // 60, "output_bytes": np.full(n, 512),
    }  # fmt: skip
    return pa.RecordBatch.from_arrays([pa.array(columns[f.name], f.type) for f in USAGE_SCHEMA], schema=USAGE_SCHEMA)


def _head(inputs: RatingInputs, n: int) -> RatingInputs:
    return inputs.sliced(0, n)


def _rate_in_batches(batches: list[RatingInputs], tables: RateTables, before: np.ndarray) -> tuple[np.ndarray, int]:
    """Rate `batches` one by one as the biller does, carrying volume; (units after the last batch, total milli-fen)."""
    total_millifen = 0
    for batch in batches:
        rated = rate_inputs(batch, tables, before)
        before, total_millifen = rated.units_after, total_millifen + rated.total_millifen
    return before, total_millifen


def _best_of(repeats: int, run: Any, clock: Any = time.perf_counter) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = clock()
        result = run()
        best = min(best, clock() - start)
    return best, result


def _assert_same(a: RatedBatch, b: RatedBatch, what: str) -> None:
    for name in ("compute_fen", "data_fen", "cap_reduction_fen", "units_after"):
        if not np.array_equal(getattr(a, name), getattr(b, name)):
            raise AssertionError(f"{what} disagrees with the Numba kernels on {name}")
