"""The Arrow schema of usage records, shared by the node runner (writer) and the biller (reader).

One record says what one job used on one node during one interval: compute (CPU-ms,
memory MB·s, GPU-ms) and data (rows, bytes, calls, queries of one product). Records travel
in Arrow IPC batches; every batch carries a fixed `batch_id` so that a resend is
recognisable. Units are in the field names; `tier` and `compute_class` use the numbers of
`shuniu.v1.Tier` and `shuniu.v1.ComputeClass`.

This module is a leaf: it imports pyarrow and nothing else.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "QUANTITY_COLUMNS",
    "USAGE_SCHEMA",
    "UsageSchemaError",
    "validate_usage_batch",
]

USAGE_SCHEMA = pa.schema(
    [
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("batch_id", pa.string(), nullable=False),
        pa.field("job_id", pa.string(), nullable=False),
        pa.field("grant_id", pa.string(), nullable=False),
        pa.field("buyer", pa.string(), nullable=False),
        pa.field("node_id", pa.string(), nullable=False),
        pa.field("compute_center", pa.string(), nullable=False),
        # Empty for a compute-only record.
        pa.field("product_id", pa.string(), nullable=False),
        pa.field("site", pa.string(), nullable=False),
        pa.field("tier", pa.int8(), nullable=False),
        pa.field("compute_class", pa.int8(), nullable=False),
        pa.field("start_unix_ms", pa.int64(), nullable=False),
        pa.field("end_unix_ms", pa.int64(), nullable=False),
        pa.field("cpu_ms", pa.int64(), nullable=False),
        pa.field("memory_mb_s", pa.int64(), nullable=False),
        pa.field("gpu_ms", pa.int64(), nullable=False),
        pa.field("rows", pa.int64(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
        pa.field("calls", pa.int64(), nullable=False),
        pa.field("queries", pa.int64(), nullable=False),
        # aggregate, verify, model or custom: the kind of job that used the data.
        pa.field("kind", pa.string(), nullable=False),
        # The grant's declared purpose; decides, with the product's grade, public-interest use.
        pa.field("purpose", pa.string(), nullable=False),
        # The version of the price tables the record must be rated with.
        pa.field("price_version", pa.int64(), nullable=False),
    ]
)

QUANTITY_COLUMNS = ("cpu_ms", "memory_mb_s", "gpu_ms", "rows", "bytes", "calls", "queries")

# Ranges follow shuniu.v1.Tier (T1..T4) and shuniu.v1.ComputeClass (general, AI, HPC).
_RANGES = {"tier": (1, 4), "compute_class": (1, 3)}
_NON_EMPTY = ("record_id", "batch_id", "job_id", "grant_id", "buyer", "node_id", "compute_center", "site", "kind")
_MAX_ERRORS = 10  # a report names at most this many problems


class UsageSchemaError(ValueError):
    """A usage batch that does not match USAGE_SCHEMA; `problems` lists what is wrong."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("usage batch rejected: " + "; ".join(problems))


def validate_usage_batch(batch: pa.RecordBatch | pa.Table) -> None:
    """Raise UsageSchemaError naming every problem (up to ten) of a usage batch; return None if it is valid."""
    if not isinstance(batch, (pa.RecordBatch, pa.Table)):
        raise UsageSchemaError([f"expected a pyarrow RecordBatch or Table, got {type(batch).__name__}"])
    problems = _schema_problems(batch.schema)
    if problems:
        raise UsageSchemaError(problems[:_MAX_ERRORS])
    problems = _value_problems(batch)
    if problems:
        raise UsageSchemaError(problems[:_MAX_ERRORS])


def _schema_problems(schema: pa.Schema) -> list[str]:
    problems = []
    expected_names = USAGE_SCHEMA.names
    missing = [n for n in expected_names if n not in schema.names]
    extra = [n for n in schema.names if n not in expected_names]
    if missing:
        problems.append(f"missing columns {missing}")
    if extra:
        problems.append(f"unexpected columns {extra}; expected exactly {expected_names}")
    for field in USAGE_SCHEMA:
        if field.name not in schema.names:
            continue
        got = schema.field(field.name).type
        if got != field.type:
            problems.append(f"column {field.name!r} has type {got}; expected {field.type}")
    if not problems and schema.names != expected_names:
        problems.append(f"columns are in the order {schema.names}; expected {expected_names}")
    return problems


def _value_problems(batch: pa.RecordBatch | pa.Table) -> list[str]:
    problems = []
    record_ids = batch.column("record_id")
    for name in USAGE_SCHEMA.names:
        nulls = batch.column(name).null_count
        if nulls:
            problems.append(f"column {name!r} has {nulls} null values; nulls are not allowed")
    if problems or batch.num_rows == 0:
        return problems

    def first_bad(mask: pa.Array | pa.ChunkedArray) -> str | None:
        if not pc.any(mask).as_py():
            return None
        index = pc.index(mask, True).as_py()
        return f"{pc.sum(mask).as_py()} records, first {record_ids[index].as_py()!r}"

    for name in _NON_EMPTY:
        where = first_bad(pc.equal(pc.binary_length(batch.column(name)), 0))
        if where:
            problems.append(f"column {name!r} is empty in {where}; it must be non-empty")
    for name, (lo, hi) in _RANGES.items():
        column = batch.column(name)
        where = first_bad(pc.or_(pc.less(column, lo), pc.greater(column, hi)))
        if where:
            problems.append(f"column {name!r} is outside {lo}..{hi} in {where}")
    for name in (*QUANTITY_COLUMNS, "start_unix_ms", "price_version"):
        where = first_bad(pc.less(batch.column(name), 0))
        if where:
            problems.append(f"column {name!r} is negative in {where}; expected >= 0")
    where = first_bad(pc.less(batch.column("end_unix_ms"), batch.column("start_unix_ms")))
    if where:
        problems.append(f"end_unix_ms is before start_unix_ms in {where}")
    if pc.count_distinct(record_ids).as_py() != batch.num_rows:
        problems.append("record_id values repeat within the batch; each record needs its own id")
    batch_ids = pc.unique(batch.column("batch_id"))
    if len(batch_ids) != 1:
        problems.append(f"a batch carries one batch_id; found {len(batch_ids)} distinct values")
    return problems
