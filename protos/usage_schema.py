"""The Arrow schema of usage records, shared by the node runner (writer) and the biller (reader).

One record says what one job used on one node during one interval: compute (CPU-ms,
memory MB·s, GPU-ms) and data (rows, bytes, calls, queries of one product). The schema is
derived from `shuniu.v1.UsageRecord` (usage.proto), column for field in field-number
order, so that the two cannot drift apart: strings stay strings, int64/int32 stay so, and
enums (Tier, JobKind, PurposeCategory, ComputeClass) become int8 holding the enum numbers.

Records travel in Arrow IPC streams, one batch per stream entry; the batch id is not a
column but the entry's `batch_id` field (`UsageBatch.batch_id`), also written into the
IPC schema metadata under BATCH_ID_METADATA by `batch_to_ipc`.

This module is a leaf: it imports numpy, pyarrow and the generated usage_pb2, nothing else.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
from google.protobuf.descriptor import FieldDescriptor

from shuniu.protos.v1 import usage_pb2

__all__ = [
    "BATCH_ID_METADATA",
    "DEAD_LETTER_COUNTS",
    "DEAD_LETTER_STREAM",
    "QUANTITY_COLUMNS",
    "USAGE_SCHEMA",
    "USAGE_STREAM",
    "UsageSchemaError",
    "batch_from_ipc",
    "batch_to_ipc",
    "validate_usage_batch",
]

BATCH_ID_METADATA = b"shuniu.batch_id"
_SCALARS = {
    FieldDescriptor.TYPE_STRING: pa.string(),
    FieldDescriptor.TYPE_INT64: pa.int64(),
    FieldDescriptor.TYPE_INT32: pa.int32(),
    FieldDescriptor.TYPE_ENUM: pa.int8(),  # every enum of a record has fewer than 128 values
}


def _schema_of(message) -> pa.Schema:
    fields = sorted(message.DESCRIPTOR.fields, key=lambda f: f.number)
    return pa.schema([pa.field(f.name, _SCALARS[f.type], nullable=False) for f in fields])


USAGE_SCHEMA = _schema_of(usage_pb2.UsageRecord)

QUANTITY_COLUMNS = ("cpu_ms", "memory_mb_s", "gpu_ms", "rows", "bytes", "calls", "queries", "peak_memory_mb", "output_bytes")

# Ranges follow shuniu.v1.Tier (T1..T4), JobKind, PurposeCategory and ComputeClass (general, AI, HPC).
_RANGES = {"tier": (1, 4), "kind": (1, 4), "purpose_category": (1, 3), "compute_class": (1, 3)}
_NON_EMPTY = ("record_id", "job_id", "grant_id", "buyer_id", "node_id", "compute_center", "site")
_MAX_ERRORS = 10  # a report names at most this many problems
MAX_IPC_BYTES = 8 * 1024 * 1024  # UsageBatch.arrow_ipc: at most 8 MiB


class UsageSchemaError(ValueError):
    """A usage batch that does not match USAGE_SCHEMA; `problems` lists what is wrong."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("usage batch rejected: " + "; ".join(problems))


def batch_to_ipc(batch: pa.RecordBatch, batch_id: str) -> bytes:
    """One usage batch as an Arrow IPC stream, its batch id in the schema metadata."""
    schema = batch.schema.with_metadata({BATCH_ID_METADATA: batch_id.encode()})
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, schema) as writer:
        writer.write_batch(batch.replace_schema_metadata(schema.metadata))
    return sink.getvalue().to_pybytes()


def batch_from_ipc(data: bytes) -> tuple[pa.RecordBatch, str]:
    """(batch, batch id from the metadata or "") of an IPC stream; raise UsageSchemaError if unreadable."""
    if len(data) > MAX_IPC_BYTES:
        raise UsageSchemaError([f"Arrow IPC payload is {len(data):,} bytes; at most {MAX_IPC_BYTES:,} allowed"])
    try:
        reader = ipc.open_stream(pa.py_buffer(data))
        batches = list(reader)  # a node writes one batch per stream: then no copy is made
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as err:
        raise UsageSchemaError([f"payload is not an Arrow IPC stream: {err}"]) from None
    batch_id = (reader.schema.metadata or {}).get(BATCH_ID_METADATA, b"").decode(errors="replace")
    if len(batches) == 1:
        batch = batches[0]
    else:
        merged = pa.Table.from_batches(batches, reader.schema).combine_chunks().to_batches()
        batch = merged[0] if merged else pa.RecordBatch.from_pylist([], reader.schema)
    return batch.replace_schema_metadata(None), batch_id


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
    for name in USAGE_SCHEMA.names:
        nulls = batch.column(name).null_count
        if nulls:
            problems.append(f"column {name!r} has {nulls} null values; nulls are not allowed")
    if problems or batch.num_rows == 0:
        return problems
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0]
    record_ids = batch.column("record_id")
    numeric = {name: batch.column(name).to_numpy(zero_copy_only=True) for name in _NUMERIC_CHECKED}

    def first_bad(mask: np.ndarray) -> str:
        index = int(np.argmax(mask))
        return f"{int(mask.sum())} records, first {record_ids[index].as_py()!r}"

    # Fast checks over the Arrow buffers; the message is built only for a column that fails.
    for name in _NON_EMPTY:
        offsets = np.frombuffer(batch.column(name).buffers()[1], dtype=np.int32)[batch.column(name).offset:][: batch.num_rows + 1]
        empty = np.diff(offsets) == 0
        if empty.any():
            problems.append(f"column {name!r} is empty in {first_bad(empty)}; it must be non-empty")
    for name, (lo, hi) in _RANGES.items():
        column = numeric[name]
        if column.min() < lo or column.max() > hi:
            problems.append(f"column {name!r} is outside {lo}..{hi} in {first_bad((column < lo) | (column > hi))}")
    for name in (*QUANTITY_COLUMNS, "start_unix_ms", "price_version", "attempt"):
        if numeric[name].min() < 0:
            problems.append(f"column {name!r} is negative in {first_bad(numeric[name] < 0)}; expected >= 0")
    late = numeric["end_unix_ms"] < numeric["start_unix_ms"]
    if late.any():
        problems.append(f"end_unix_ms is before start_unix_ms in {first_bad(late)}")
    if len(pc.unique(record_ids)) != batch.num_rows:  # half the time of count_distinct here
        problems.append("record_id values repeat within the batch; each record needs its own id")
    return problems


_NUMERIC_CHECKED = (*_RANGES, *QUANTITY_COLUMNS, "start_unix_ms", "end_unix_ms", "price_version", "attempt")

# Redis keys of the usage path, shared by the node's sender (writer) and the biller (reader).
USAGE_STREAM = "shuniu:usage"  # one entry per batch: batch_id, node_id, arrow_ipc, record_count, created_unix_ms
BILLER_GROUP = "billers"  # the consumer group billers read USAGE_STREAM in; billing lag is measured against it
DEAD_LETTER_STREAM = "shuniu:usage:dead"  # batches the biller refused, with the reason
DEAD_LETTER_COUNTS = "shuniu:usage:dead:counts"  # hash reason -> batches refused
