"""Charging one usage batch: rate (Numba kernels), split (largest remainder), aggregate into postings.

Pure: everything read from Redis comes in as arguments (the PriceBook, the cumulative
volumes, the closed periods), so that the same code is the biller's hot path and is
testable alone. Volume tiers count per (product, buyer, usage period): the biller reads
those counters, the kernels start from them, and the new values are written in the same
atomic step as the postings.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from shuniu.market.ledger import BatchPosting, LedgerPosting, account_id, billed_period, month_name, periods_of_ms
from shuniu.market.ledger.model import MAX_AMOUNT_FEN, POSTING_KIND_OF_PARTY
from shuniu.market.rating import RatingInputs, RateTables, prepare_batch, rate_inputs
from shuniu.market.split import SplitPlans, split_lines

__all__ = ["LINES_SCHEMA", "PreparedBatch", "PriceBook", "charge_batch", "prepare_usage", "volume_field"]

# The rated lines kept with each batch: what statements are built from, each line traceable
# to its record, job, grant and price version.
LINES_SCHEMA = pa.schema([
    ("record_id", pa.string()), ("job_id", pa.string()), ("grant_id", pa.string()), ("buyer_id", pa.string()),
    ("node_id", pa.string()), ("compute_center", pa.string()), ("product_id", pa.string()),
    ("price_version", pa.int64()), ("category", pa.string()), ("usage_period", pa.string()),
    ("billed_period", pa.string()), ("units", pa.int64()), ("cpu_ms", pa.int64()), ("memory_mb_s", pa.int64()),
    ("gpu_ms", pa.int64()), ("compute_fen", pa.int64()), ("data_fen", pa.int64()), ("cap_reduction_fen", pa.int64()),
])  # fmt: skip
# LZ4: a third of the bytes in Redis at a small fraction of zstd's CPU on the hot path.
_IPC_OPTIONS = ipc.IpcWriteOptions(compression="lz4")
_DENSE_KEYS = 1 << 22  # aggregate by bincount over at most this many (buyer, period, party) keys


@dataclass(frozen=True, eq=False)
class PriceBook:
    """What one batch is rated and split with."""

    tables: RateTables
    plans: SplitPlans
    plan_specs: dict  # {"data": {product: spec}, "compute": {center: spec}, "exchange_id": id}
    categories: dict[str, str] = field(default_factory=dict)  # product id -> price-index category


@dataclass(frozen=True, eq=False)
class PreparedBatch:
    """A validated batch resolved into kernel inputs, with its volume slots."""

    batch_id: str
    batch: pa.RecordBatch
    inputs: RatingInputs
    usage_month: np.ndarray  # int64 month index per record
    volume_slot: np.ndarray  # int64 per record (0 for records without a product)
    volume_fields: list[str]  # "product|buyer|period" per slot


def volume_field(product_id: str, buyer_id: str, period: str) -> str:
    return f"{product_id}|{buyer_id}|{period}"


def prepare_usage(batch_id: str, batch: pa.RecordBatch, book: PriceBook, validated: bool = False) -> PreparedBatch:
    """Validate (unless `validated`) and resolve a batch (raises UsageSchemaError or RatingInputError) and find its volume slots."""
    inputs = prepare_batch(batch, book.tables, validate=not validated)
    months = periods_of_ms(batch.column("end_unix_ms").to_numpy())
    data = np.flatnonzero(inputs.product_index >= 0)
    slot = np.zeros(len(inputs), dtype=np.int64)
    fields: list[str] = []
    if data.size:
        product_names, product_code = np.unique(np.array(book.tables.data.product_ids, dtype=object), return_inverse=True)
        buyers = pc.dictionary_encode(batch.column("buyer_id"))
        buyer_code = buyers.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        n_buyers = len(buyers.dictionary)
        month_values, month_code = np.unique(months, return_inverse=True)
        key = (product_code[inputs.product_index[data]] * n_buyers + buyer_code[data]) * len(month_values) + month_code[data]
        keys, slot[data] = np.unique(key, return_inverse=True)
        buyer_names = buyers.dictionary.to_pylist()
        for k in keys.tolist():
            rest, m = divmod(k, len(month_values))
            p, b = divmod(rest, n_buyers)
            fields.append(volume_field(product_names[p], buyer_names[b], month_name(int(month_values[m]))))
    return PreparedBatch(batch_id, batch, inputs, months, slot, fields)


def charge_batch(prepared: PreparedBatch, book: PriceBook, units_before: list[int], closed: Container[str],
                 node_id: str = "") -> BatchPosting:
    """Rate, split and aggregate a prepared batch into its postings (one per buyer, party and period)."""
    before = np.array(units_before, dtype=np.int64)
    rated = rate_inputs(prepared.inputs, book.tables, before, prepared.volume_slot)
    batch, inputs, d = prepared.batch, prepared.inputs, book.tables.data
    month_values, month_code = np.unique(prepared.usage_month, return_inverse=True)
    usage_names = [month_name(int(m)) for m in month_values]
    billed_names = [billed_period(name, closed) for name in usage_names]

    is_data = inputs.product_index >= 0
    compute_rows = np.flatnonzero(rated.compute_fen > 0)
    data_rows = np.flatnonzero(rated.data_fen > 0)
    plan = np.concatenate([
        book.plans.compute_plan_index(batch.column("compute_center").take(pa.array(compute_rows))),
        book.plans.data_plan_index(batch.column("product_id").take(pa.array(data_rows))),
    ]) if compute_rows.size + data_rows.size else np.zeros(0, dtype=np.int32)  # fmt: skip
    record = np.concatenate([compute_rows, data_rows])
    amount = np.concatenate([rated.compute_fen[compute_rows], rated.data_fen[data_rows]])
    split = split_lines(book.plans, plan, amount)
    postings = _aggregate(batch, book, record, plan, split, month_code, usage_names, billed_names)

    volume = {}
    for f, (b, a) in zip(prepared.volume_fields, zip(before.tolist(), rated.units_after.tolist())):
        volume[f] = (b, a)
    units = np.where(is_data, np.choose(np.append(d.unit_kind, 0)[inputs.product_index].astype(np.int64),
                                        [inputs.rows, inputs.calls, inputs.queries]), 0)
    lines = _lines(batch, book, rated, units, month_code, usage_names, billed_names)
    return BatchPosting(
        batch_id=prepared.batch_id, postings=tuple(postings), charged_fen=int(amount.sum()), record_count=batch.num_rows,
        volume=volume, lines_ipc=lines, plans=book.plan_specs, node_id=node_id,
    )


def _aggregate(batch, book: PriceBook, record, plan, split, month_code, usage_names, billed_names) -> list[LedgerPosting]:
    """Sum the split parts per (buyer, usage period, party): one posting each, its kind given by the party."""
    if not len(record):
        return []
    plans = book.plans
    counts = np.diff(split.line_offsets)
    line_of_part = np.repeat(np.arange(len(record)), counts)
    slot = plans.plan_offsets[plan][line_of_part] + (np.arange(len(split.part_fen)) - split.line_offsets[line_of_part])
    party = plans.slot_party[slot].astype(np.int64)
    buyers = pc.dictionary_encode(batch.column("buyer_id").take(pa.array(record)))
    buyer = buyers.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    line_key = buyer * len(usage_names) + month_code[record]
    key = line_key[line_of_part] * len(plans.parties) + party
    # Float sums are exact: every part is >= 0 and the batch total is below 2^53 (checked).
    assert int(split.part_fen.sum()) < MAX_AMOUNT_FEN, "batch total over 2^53 fen; split the batch"
    weights = split.part_fen.astype(np.float64)
    space = len(buyers.dictionary) * len(usage_names) * len(plans.parties)
    if space <= _DENSE_KEYS:  # the usual case: sum straight into every possible key, no sort
        sums = np.bincount(key, weights=weights, minlength=space).astype(np.int64)
        groups = np.flatnonzero(sums)
        sums = sums[groups]
    else:
        groups, inverse = np.unique(key, return_inverse=True)
        sums = np.bincount(inverse, weights=weights, minlength=len(groups)).astype(np.int64)
    buyer_names = buyers.dictionary.to_pylist()
    n_parties, n_months = len(plans.parties), len(usage_names)
    out = []
    for k, fen in zip(groups.tolist(), sums.tolist()):
        if not fen:
            continue
        rest, party_index = divmod(k, n_parties)
        b, m = divmod(rest, n_months)
        party_type, party_id = plans.parties[party_index]
        usage, billed = usage_names[m], billed_names[m]
        out.append(LedgerPosting(
            kind=POSTING_KIND_OF_PARTY[party_type], debit_account_id=account_id("buyer", buyer_names[b]),
            credit_account_id=account_id(party_type, party_id), amount_fen=fen, period=billed,
            original_period=usage if usage != billed else "",
        ))  # fmt: skip
    return out


def _lines(batch, book: PriceBook, rated, units, month_code, usage_names, billed_names) -> bytes:
    charged = np.flatnonzero((rated.compute_fen > 0) | (rated.data_fen > 0) | (rated.cap_reduction_fen > 0))
    if not charged.size:
        return b""
    take = pa.array(charged)
    col = lambda name: batch.column(name).take(take)  # noqa: E731
    products = col("product_id")
    names = sorted(book.categories)
    where = pc.index_in(products, value_set=pa.array(names, pa.string()))
    categories = pa.array([book.categories[n] for n in names] + [""], pa.string()).take(pc.fill_null(where, len(names)))
    months = month_code[charged]
    table = pa.RecordBatch.from_arrays([
        col("record_id"), col("job_id"), col("grant_id"), col("buyer_id"), col("node_id"), col("compute_center"),
        products, col("price_version"), categories,
        pa.array(usage_names, pa.string()).take(pa.array(months)),
        pa.array(billed_names, pa.string()).take(pa.array(months)),
        pa.array(units[charged]), col("cpu_ms"), col("memory_mb_s"), col("gpu_ms"),
        pa.array(rated.compute_fen[charged]), pa.array(rated.data_fen[charged]), pa.array(rated.cap_reduction_fen[charged]),
    ], schema=LINES_SCHEMA)  # fmt: skip
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, LINES_SCHEMA, options=_IPC_OPTIONS) as writer:
        writer.write_batch(table)
    return sink.getvalue().to_pybytes()
