"""Rated lines as the ledger keeps them (`shuniu:ledger:lines:{batch}`), each traceable to its record,
job, grant and price version; statements are built from them.

The biller writes a batch's lines as two Arrow IPC streams behind a short header (`joined_lines`):
the usage batch exactly as its node signed and sent it, and the rating's own columns, one row per
record, in the node's order (RATED_SCHEMA). The node's columns are neither decoded into lines nor
compressed again on the billing path, and the stored lines keep the node's signed bytes, so a
statement line can be checked against the node's signature (全流程可追溯 — traceable end to end).
Lines written before held the LINES_SCHEMA columns in one stream; `read_lines` reads both forms
and gives every reader the same LINES_SCHEMA table with plain strings.

A biller hands its lines over as `PendingLines`: they are serialised (LZ4, which releases the GIL)
by whoever posts them, the posting thread, while the next batch is rated.
"""

from __future__ import annotations

import threading

import pyarrow as pa
import pyarrow.ipc as ipc

__all__ = ["LINES_SCHEMA", "RATED_SCHEMA", "PendingLines", "joined_lines", "lines_ipc", "rated_ipc", "read_lines"]

LINES_SCHEMA = pa.schema([
    ("record_id", pa.string()), ("job_id", pa.string()), ("grant_id", pa.string()), ("buyer_id", pa.string()),
    ("node_id", pa.string()), ("compute_center", pa.string()), ("product_id", pa.string()),
    ("price_version", pa.int64()), ("category", pa.string()), ("usage_period", pa.string()),
    ("billed_period", pa.string()), ("units", pa.int64()), ("cpu_ms", pa.int64()), ("memory_mb_s", pa.int64()),
    ("gpu_ms", pa.int64()), ("compute_fen", pa.int64()), ("data_fen", pa.int64()), ("cap_reduction_fen", pa.int64()),
    ("free", pa.bool_()),  # public data used for a public-interest purpose, served free (公益使用)
])  # fmt: skip
# What the rating adds to each usage record; `line` says whether the record is a line (charged, capped or
# reading a product: operators' reports count free and flat-fee calls); the other columns are LINES_SCHEMA's.
RATED_SCHEMA = pa.schema([
    ("line", pa.bool_()), ("category", pa.dictionary(pa.int32(), pa.string())),
    ("usage_period", pa.dictionary(pa.int32(), pa.string())), ("billed_period", pa.dictionary(pa.int32(), pa.string())),
    ("units", pa.int64()), ("compute_fen", pa.int64()), ("data_fen", pa.int64()), ("cap_reduction_fen", pa.int64()),
    ("free", pa.bool_()),
])  # fmt: skip
_FROM_USAGE = ("record_id", "job_id", "grant_id", "buyer_id", "node_id", "compute_center", "product_id", "price_version",
               "cpu_ms", "memory_mb_s", "gpu_ms")
_JOINED_MAGIC = b"SNL2"  # an Arrow IPC stream starts with 0xFFFFFFFF: the two forms cannot be confused
_USAGE_LENGTH_BYTES = 8
# LZ4: half the bytes in Redis at half of zstd's CPU on the hot path; compressed on the calling thread,
# as Arrow's thread pool spends a third more CPU on a batch this size.
_IPC_OPTIONS = ipc.IpcWriteOptions(compression="lz4", use_threads=False)


def _stream_of(columns: list[pa.Array], fields: list[pa.Field]) -> bytes:
    schema = pa.schema(fields)
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, schema, options=_IPC_OPTIONS) as writer:
        writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))
    return sink.getvalue().to_pybytes()


def _checked_fields(schema: pa.Schema, columns: list[pa.Array], what: str) -> list[pa.Field]:
    """Fields for `columns` in `schema`'s order, each string column plain or dictionary-encoded (dictionary<int32, string>)."""
    if len(columns) != len(schema):
        raise ValueError(f"{what} need the {len(schema)} columns of their schema, got {len(columns)}")
    fields = []
    for field, column in zip(schema, columns):
        expected = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        value_type = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        if value_type != expected:
            raise ValueError(f"{what} column {field.name!r} holds {column.type}; expected {field.type}")
        fields.append(pa.field(field.name, column.type))
    return fields


def lines_ipc(columns: list[pa.Array]) -> bytes:
    """The Arrow IPC of one batch's lines in one stream (the earlier form): `columns` in LINES_SCHEMA order."""
    return _stream_of(columns, _checked_fields(LINES_SCHEMA, columns, "rated lines"))


def rated_ipc(columns: list[pa.Array]) -> bytes:
    """The Arrow IPC of the rating's columns of a batch: `columns` in RATED_SCHEMA order, one row per usage record."""
    return _stream_of(columns, _checked_fields(RATED_SCHEMA, columns, "rated columns"))


def joined_lines(usage_ipc: bytes, rated: bytes) -> bytes:
    """One batch's lines: the node's usage IPC as it was sent, then the rating's columns (rated_ipc)."""
    return b"".join((_JOINED_MAGIC, len(usage_ipc).to_bytes(_USAGE_LENGTH_BYTES, "big"), usage_ipc, rated))


class PendingLines:
    """A batch's lines, serialised on first use (once, whichever thread asks): the node's usage IPC
    joined with the rating's columns."""

    def __init__(self, usage: bytes | pa.RecordBatch, rated_columns: list[pa.Array]) -> None:
        self._usage = usage  # the node's IPC as sent, or (a batch charged without it) the batch to serialise
        self._columns: list[pa.Array] | None = rated_columns
        self._ipc = b""
        self._lock = threading.Lock()

    def ipc(self) -> bytes:
        with self._lock:
            if self._columns is not None:
                usage = self._usage if isinstance(self._usage, bytes) else _stream_of(self._usage.columns, list(self._usage.schema))
                self._ipc = joined_lines(usage, rated_ipc(self._columns))
                self._columns = self._usage = None
            return self._ipc


def read_lines(data: bytes | PendingLines) -> pa.Table:
    """One batch's rated lines (LINES_SCHEMA) with plain string columns, from either stored form
    (lines written before a column existed lack it)."""
    data = data.ipc() if isinstance(data, PendingLines) else data
    if data[:len(_JOINED_MAGIC)] == _JOINED_MAGIC:
        table = _read_joined(memoryview(data))
    else:
        table = ipc.open_stream(pa.py_buffer(data)).read_all()
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(field.type.value_type))
    return table


def _read_joined(data: memoryview) -> pa.Table:
    at = len(_JOINED_MAGIC) + _USAGE_LENGTH_BYTES
    usage_length = int.from_bytes(data[len(_JOINED_MAGIC):at], "big")
    usage = ipc.open_stream(pa.py_buffer(data[at:at + usage_length])).read_all()
    rated = ipc.open_stream(pa.py_buffer(data[at + usage_length:])).read_all()
    if usage.num_rows != rated.num_rows:
        raise ValueError(f"rated lines: {usage.num_rows} usage records but {rated.num_rows} rated rows")
    mask = rated.column("line")
    columns = {name: usage.column(name) for name in _FROM_USAGE}
    columns.update((name, rated.column(name)) for name in RATED_SCHEMA.names if name != "line")
    table = pa.table([columns[name] for name in LINES_SCHEMA.names], names=LINES_SCHEMA.names)
    return table.filter(mask)
