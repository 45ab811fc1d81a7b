"""Rated lines as the ledger keeps them: one Arrow IPC stream per batch (`shuniu:ledger:lines:{batch}`).

Statements are built from them, each line traceable to its record, job, grant and price version.
The biller writes the columns that repeat within a batch (job, grant, buyer, node, center,
product, category, periods) dictionary-encoded, as the node sent most of them: the strings are
neither decoded nor compressed again on the billing path, and a batch's lines take fewer bytes in
Redis. Its int64 columns are written as int32 when every value fits, as usage travels
(usage_schema.to_wire): a quarter fewer bytes to compress. Readers get plain strings and int64
from `read_lines`, whatever the writer chose.

Amounts are exact: data lines in milli-fen (`data_millifen`, `cap_reduction_millifen`), compute lines to the
micro-fen (`compute_millifen` and the micro-fen below them, `compute_rest_microfen`); the ledger accrues what is
below a fen and rounds where a bill is made (docs/billing.md). Lines written before the micro-fen read a rest of 0. `free_rule` names the rule
that made a line free (FREE_RULES). Lines written before milli-fen existed hold `*_fen` columns; `read_lines`
gives both forms to every reader, the `*_fen` of a milli-fen line being that line alone rounded half to even.

A biller hands its lines over as `PendingLines`: they are serialised (and LZ4-compressed, which
releases the GIL) by whoever posts them, the posting thread, while the next batch is rated.
"""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from shuniu.protos.usage_schema import narrowed_int64

__all__ = ["FREE_RULES", "LINES_SCHEMA", "PendingLines", "lines_ipc", "read_lines"]

LINES_SCHEMA = pa.schema([
    ("record_id", pa.string()), ("job_id", pa.string()), ("grant_id", pa.string()), ("buyer_id", pa.string()),
    ("node_id", pa.string()), ("compute_center", pa.string()), ("product_id", pa.string()),
    ("price_version", pa.int64()), ("category", pa.string()), ("usage_period", pa.string()),
    ("billed_period", pa.string()), ("units", pa.int64()), ("cpu_ms", pa.int64()), ("memory_mb_s", pa.int64()),
    ("gpu_ms", pa.int64()), ("compute_millifen", pa.int64()), ("data_millifen", pa.int64()),
    ("cap_reduction_millifen", pa.int64()),
    ("free", pa.bool_()),  # public data used for a public-interest purpose, served free (公益使用)
    ("free_rule", pa.string()),  # why a line of the record costs 0 (FREE_RULES), "" when it is charged
    ("compute_rest_microfen", pa.int64()),  # 0..999: the compute line's micro-fen below compute_millifen
])  # fmt: skip
# Why a line costs nothing, as statements show it: public data used for a public-interest purpose
# (公益使用), a guided price cap (政府指导价) that took the whole charge, a price (or quantity) of 0.
FREE_RULES = ("public_interest", "guided_cap", "zero_price")
_AMOUNTS = ("compute", "data", "cap_reduction")
_INT64_COLUMNS = {f.name for f in LINES_SCHEMA if f.type == pa.int64()}
# LZ4: half the bytes in Redis at half of zstd's CPU on the hot path; compressed on the calling thread,
# as Arrow's thread pool spends a third more CPU on a batch this size.
_IPC_OPTIONS = ipc.IpcWriteOptions(compression="lz4", use_threads=False)


def lines_ipc(columns: list[pa.Array]) -> bytes:
    """The Arrow IPC of one batch's lines: `columns` in LINES_SCHEMA order, each string column plain or
    dictionary-encoded (dictionary<int32, string>), each int64 column int64 or int32 (as usage travels)."""
    if len(columns) != len(LINES_SCHEMA):
        raise ValueError(f"rated lines need the {len(LINES_SCHEMA)} columns of LINES_SCHEMA, got {len(columns)}")
    for field, column in zip(LINES_SCHEMA, columns):
        value_type = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        if value_type != field.type and not (field.name in _INT64_COLUMNS and value_type == pa.int32()):
            raise ValueError(f"rated lines column {field.name!r} holds {column.type}; expected {field.type}")
    columns = [narrowed_int64(column) for column in columns]
    schema = pa.schema([pa.field(field.name, column.type) for field, column in zip(LINES_SCHEMA, columns)])
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, schema, options=_IPC_OPTIONS) as writer:
        writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))
    return sink.getvalue().to_pybytes()


class PendingLines:
    """A batch's line columns, serialised by `lines_ipc` on first use (once, whichever thread asks)."""

    def __init__(self, columns: list[pa.Array]) -> None:
        self._columns: list[pa.Array] | None = columns
        self._ipc = b""
        self._lock = threading.Lock()

    def ipc(self) -> bytes:
        with self._lock:
            if self._columns is not None:
                self._ipc, self._columns = lines_ipc(self._columns), None
            return self._ipc


def read_lines(data: bytes | PendingLines) -> pa.Table:
    """One batch's rated lines with plain string columns and int64 integers, amounts both in milli-fen and per
    line in fen (lines written before another column existed lack it)."""
    table = ipc.open_stream(pa.py_buffer(data.ipc() if isinstance(data, PendingLines) else data)).read_all()
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(field.type.value_type))
        elif field.type == pa.int32() and (field.name in _INT64_COLUMNS or field.name.endswith("_fen")):
            table = table.set_column(i, field.name, table.column(i).cast(pa.int64()))
    if "compute_rest_microfen" not in table.column_names:  # lines rated to the milli-fen
        table = table.append_column("compute_rest_microfen", pa.array(np.zeros(table.num_rows, np.int64)))
    for amount in _AMOUNTS:
        fen, millifen = f"{amount}_fen", f"{amount}_millifen"
        if millifen in table.column_names and fen not in table.column_names:
            rest = table.column("compute_rest_microfen").to_numpy() if amount == "compute" else 0
            table = table.append_column(fen, pa.array(_half_even_fen(table.column(millifen).to_numpy(), rest), pa.int64()))
        elif fen in table.column_names and millifen not in table.column_names:  # lines billed in whole fen
            table = table.append_column(millifen, pc.multiply(table.column(fen), 1000))
    return table


def _half_even_fen(millifen: np.ndarray, rest_microfen: np.ndarray | int = 0) -> np.ndarray:
    """Lines of milli-fen (and micro-fen below them) rounded half to even to the fen, each alone."""
    q, r = np.divmod(millifen, 1000)
    return q + ((r > 500) | ((r == 500) & ((np.asarray(rest_microfen) > 0) | (q % 2 == 1))))
