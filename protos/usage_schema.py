"""The Arrow schema of usage records, shared by the node runner (writer) and the biller (reader).

One record says what one job used on one node during one interval: compute (CPU-ms,
memory MB·s, GPU-ms) and data (rows, bytes, calls, queries of one product). The schema is
derived from `shuniu.v1.UsageRecord` (usage.proto), column for field in field-number
order, so that the two cannot drift apart: strings stay strings, int64/int32 stay so, and
enums (Tier, JobKind, PurposeCategory, ComputeClass) become int8 holding the enum numbers.

Records travel in Arrow IPC streams, one batch per stream entry; the batch id is not a
column but the entry's `batch_id` field (`UsageBatch.batch_id`), also written into the
IPC schema metadata under BATCH_ID_METADATA by `batch_to_ipc`.

On the wire (and in the spool) a node may send the low-cardinality string columns
(DICTIONARY_COLUMNS) dictionary-encoded: a batch names one node, center and site and a few
jobs, grants, buyers, products and purposes, so each value travels once per batch and the
biller resolves it once (`string_codes`). It may also send an int64 column as int32 when every
value of the batch fits: quantities rarely need more than 31 bits, and LZ4 then has a quarter
fewer bytes to compress on the node and to decompress in the biller. The two times
(TIME_COLUMNS) travel as int32 milliseconds after a base, the batch's earliest, which the field's
metadata holds under BASE_METADATA (`column_base`): a batch spans seconds to minutes, far inside
the 24.8 days int32 milliseconds reach. Validation accepts every form; `to_wire` encodes, and
`batch_from_ipc` gives int32 columns back as int64 (base added), so a reader sees USAGE_SCHEMA's
integer types and values whatever the sender chose. The biller alone reads the wire form as it came
(`widen=False`): its rating kernels stream narrow columns faster (market/rating/batch.py).

This module is a leaf: it imports numpy, pyarrow and the generated usage_pb2, nothing else (and Numba
when a large batch's record ids are first checked).
"""

from __future__ import annotations

import collections
import functools
import threading

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
from google.protobuf.descriptor import FieldDescriptor

from shuniu.protos.v1 import usage_pb2

__all__ = [
    "BASE_METADATA",
    "BATCH_ID_METADATA",
    "DEAD_LETTER_COUNTS",
    "DEAD_LETTER_STREAM",
    "DICTIONARY_COLUMNS",
    "MAX_COMPUTE_QUANTITY",
    "MAX_DATA_UNITS",
    "MAX_IPC_BYTES",
    "NARROWABLE_COLUMNS",
    "QUANTITY_COLUMNS",
    "RATED_QUANTITY_LIMITS",
    "TIME_COLUMNS",
    "USAGE_SCHEMA",
    "USAGE_STREAM",
    "UsageSchemaError",
    "after_base",
    "batch_from_ipc",
    "batch_to_ipc",
    "column_base",
    "dictionary_encoded",
    "narrowed_int64",
    "string_codes",
    "to_wire",
    "validate_usage_batch",
    "widened",
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
# String columns that may travel dictionary-encoded (dictionary<int32, string>); record_id is unique per record.
DICTIONARY_COLUMNS = ("job_id", "grant_id", "buyer_id", "node_id", "compute_center", "product_id", "site", "purpose")
_DICTIONARY_TYPE = pa.dictionary(pa.int32(), pa.string())
# int64 columns that may travel as int32 (every value of the batch within int32, or after a base for the times).
NARROWABLE_COLUMNS = tuple(f.name for f in USAGE_SCHEMA if f.type == pa.int64())
TIME_COLUMNS = ("start_unix_ms", "end_unix_ms")
BASE_METADATA = b"shuniu.base"  # field metadata of an int32 time column: the int64 its values are after
_MAX_BASE = 2**62  # a base and an int32 after it stay inside int64

QUANTITY_COLUMNS = ("cpu_ms", "memory_mb_s", "gpu_ms", "rows", "bytes", "calls", "queries", "peak_memory_mb", "output_bytes")
# The most one record may report of each rated quantity: with the rating's price limits
# (market/rating/tables.py) every rated line stays below 2^62 milli-fen, so a valid record is always
# rated. Compute: 2^40 ms is 305,000 core-hours (1,000 cores for 12.7 days); data: 33.5 million
# rows, calls or queries, at up to 1,000,000 yuan each.
MAX_COMPUTE_QUANTITY = 2**40
MAX_DATA_UNITS = 2**25
RATED_QUANTITY_LIMITS = {"cpu_ms": MAX_COMPUTE_QUANTITY, "memory_mb_s": MAX_COMPUTE_QUANTITY, "gpu_ms": MAX_COMPUTE_QUANTITY,
                         "rows": MAX_DATA_UNITS, "calls": MAX_DATA_UNITS, "queries": MAX_DATA_UNITS}

# Ranges follow shuniu.v1.Tier (T1..T4), JobKind, PurposeCategory and ComputeClass (general, AI, HPC).
_RANGES = {"tier": (1, 4), "kind": (1, 4), "purpose_category": (1, 3), "compute_class": (1, 3)}
_NON_EMPTY = ("record_id", "job_id", "grant_id", "buyer_id", "node_id", "compute_center", "site")
_MAX_ERRORS = 10  # a report names at most this many problems
MAX_IPC_BYTES = 8 * 1024 * 1024  # UsageBatch.arrow_ipc: at most 8 MiB
# Decompressed on the reading thread: Arrow's thread pool doubles the CPU of an LZ4 batch this size.
_READ_OPTIONS = ipc.IpcReadOptions(use_threads=False)


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


def batch_from_ipc(data: bytes, widen: bool = True) -> tuple[pa.RecordBatch, str]:
    """(batch, batch id from the metadata or "") of an IPC stream; raise UsageSchemaError if unreadable.

    With `widen`, the columns a sender narrowed to int32 come back as int64; without, as they came."""
    if len(data) > MAX_IPC_BYTES:
        raise UsageSchemaError([f"Arrow IPC payload is {len(data):,} bytes; at most {MAX_IPC_BYTES:,} allowed"])
    try:
        reader = ipc.open_stream(pa.py_buffer(data), options=_READ_OPTIONS)
        batches = list(reader)  # a node writes one batch per stream: then no copy is made
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as err:
        raise UsageSchemaError([f"payload is not an Arrow IPC stream: {err}"]) from None
    batch_id = (reader.schema.metadata or {}).get(BATCH_ID_METADATA, b"").decode(errors="replace")
    if len(batches) == 1:
        batch = batches[0]
    else:
        merged = pa.Table.from_batches(batches, reader.schema).combine_chunks().to_batches()
        batch = merged[0] if merged else pa.RecordBatch.from_pylist([], reader.schema)
    batch = batch.replace_schema_metadata(None)
    if not widen:
        return batch, batch_id
    problems = _base_problems(batch.schema)  # a base must be read right before it is added
    if problems:
        raise UsageSchemaError(problems)
    return widened(batch), batch_id


def widened(batch: pa.RecordBatch, keep: tuple[str, ...] = ()) -> pa.RecordBatch:
    """The batch with the NARROWABLE_COLUMNS a sender narrowed to int32, except those in `keep`, back in
    int64 with their base added (as it is without any)."""
    narrowed = {i for i, f in enumerate(batch.schema) if f.type == pa.int32() and f.name in NARROWABLE_COLUMNS and f.name not in keep}
    if not narrowed:
        return batch
    # A widened column's field loses its metadata (_with_columns), and with it the base just added.
    return _with_columns(batch, [_wide(batch.schema.field(i), batch.column(i)) if i in narrowed else batch.column(i)
                                 for i in range(batch.num_columns)])


def column_base(field: pa.Field) -> int:
    """The base a valid narrowed time column's values are after (0 for any other column)."""
    raw = (field.metadata or {}).get(BASE_METADATA)
    return 0 if raw is None else int(raw)


def _wide(field: pa.Field, column: pa.Array) -> pa.Array:
    wide = column.cast(pa.int64())
    base = column_base(field)
    return pc.add(wide, pa.scalar(base, pa.int64())) if base else wide


def validate_usage_batch(batch: pa.RecordBatch | pa.Table, *, unique_record_ids: bool = True) -> None:
    """Raise UsageSchemaError naming every problem (up to ten) of a usage batch; return None if it is valid.

    `unique_record_ids=False`: a record id repeated within the batch is no problem (the biller bills it once)."""
    if not isinstance(batch, (pa.RecordBatch, pa.Table)):
        raise UsageSchemaError([f"expected a pyarrow RecordBatch or Table, got {type(batch).__name__}"])
    problems = _schema_problems(batch.schema)
    if problems:
        raise UsageSchemaError(problems[:_MAX_ERRORS])
    problems = _value_problems(batch, unique_record_ids)
    if problems:
        raise UsageSchemaError(problems[:_MAX_ERRORS])


def _schema_problems(schema: pa.Schema) -> list[str]:
    problems = []
    expected_names = USAGE_SCHEMA.names
    got_types = dict(zip(schema.names, schema.types))
    missing = [n for n in expected_names if n not in got_types]
    extra = [n for n in got_types if n not in _EXPECTED_TYPES]
    if missing:
        problems.append(f"missing columns {missing}")
    if extra:
        problems.append(f"unexpected columns {extra}; expected exactly {expected_names}")
    for name, expected in _EXPECTED_TYPES.items():
        got = got_types.get(name)
        if got is None or got == expected or (name in DICTIONARY_COLUMNS and got == _DICTIONARY_TYPE) \
                or (name in NARROWABLE_COLUMNS and got == pa.int32()):
            continue
        also = f" (or {_DICTIONARY_TYPE})" if name in DICTIONARY_COLUMNS else " (or int32)" if name in NARROWABLE_COLUMNS else ""
        problems.append(f"column {name!r} has type {got}; expected {expected}{also}")
    problems += _base_problems(schema)
    if not problems and schema.names != expected_names:
        problems.append(f"columns are in the order {schema.names}; expected {expected_names}")
    return problems


def _base_problems(schema: pa.Schema) -> list[str]:
    problems = []
    for field in schema:
        raw = (field.metadata or {}).get(BASE_METADATA)
        if raw is None:
            continue
        if field.name not in TIME_COLUMNS or field.type != pa.int32():
            problems.append(f"column {field.name!r} ({field.type}) carries a base; only int32 {' and '.join(TIME_COLUMNS)} may")
        elif not raw.isascii() or not raw.lstrip(b"-").isdigit() or not -_MAX_BASE <= int(raw) <= _MAX_BASE:
            problems.append(f"column {field.name!r} has base {raw[:40]!r}; expected an integer within ±{_MAX_BASE}")
    return problems


_EXPECTED_TYPES = dict(zip(USAGE_SCHEMA.names, USAGE_SCHEMA.types))


def _value_problems(batch: pa.RecordBatch | pa.Table, unique_record_ids: bool = True) -> list[str]:
    problems = _null_problems(batch)
    if problems or batch.num_rows == 0:
        return problems
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0]
    record_ids = batch.column("record_id")
    numeric = {name: batch.column(name).to_numpy(zero_copy_only=True) for name in _NUMERIC_CHECKED}
    for name in TIME_COLUMNS:  # checked as the values they stand for
        base = column_base(batch.schema.field(name))
        if base:
            numeric[name] = numeric[name].astype(np.int64) + base

    def first_bad(mask: np.ndarray) -> str:
        index = int(np.argmax(mask))
        return f"{int(mask.sum())} records, first {record_ids[index].as_py()!r}"

    # Fast checks over the Arrow buffers; the message is built only for a column that fails.
    for name in _NON_EMPTY:
        empty = _empty_strings(batch.column(name))
        if empty is None:
            problems.append(f"column {name!r} has dictionary indices outside its dictionary; expected 0..len(dictionary) - 1")
        elif empty.any():
            problems.append(f"column {name!r} is empty in {first_bad(empty)}; it must be non-empty")
    for name in set(DICTIONARY_COLUMNS) - set(_NON_EMPTY):
        if _empty_strings(batch.column(name)) is None:
            problems.append(f"column {name!r} has dictionary indices outside its dictionary; expected 0..len(dictionary) - 1")
    for name, (lo, hi) in _RANGES.items():
        column = numeric[name]
        if column.min() < lo or column.max() > hi:
            problems.append(f"column {name!r} is outside {lo}..{hi} in {first_bad((column < lo) | (column > hi))}")
    for name in (*QUANTITY_COLUMNS, "start_unix_ms", "price_version", "attempt"):
        if numeric[name].min() < 0:
            problems.append(f"column {name!r} is negative in {first_bad(numeric[name] < 0)}; expected >= 0")
    for name, most in RATED_QUANTITY_LIMITS.items():
        if (numeric[name].dtype != np.int32 or most < 2**31 - 1) and numeric[name].max() > most:
            problems.append(f"column {name!r} is above {most:,} in {first_bad(numeric[name] > most)}; one record reports "
                            "at most that much (report more use in several records)")
    late = numeric["end_unix_ms"] < numeric["start_unix_ms"]
    if late.any():
        problems.append(f"end_unix_ms is before start_unix_ms in {first_bad(late)}")
    repeat = _first_repeat_of(record_ids) if unique_record_ids else -1
    if repeat >= 0:
        problems.append(f"record_id values repeat within the batch, first {record_ids[repeat].as_py()!r}; "
                        "each record needs its own id")
    return problems


def _null_problems(batch: pa.RecordBatch | pa.Table) -> list[str]:
    problems = []
    for name in USAGE_SCHEMA.names:
        column = batch.column(name)
        nulls = column.null_count
        if not nulls and pa.types.is_dictionary(column.type):
            chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
            nulls = sum(chunk.dictionary.null_count for chunk in chunks)
        if nulls:
            problems.append(f"column {name!r} has {nulls} null values; nulls are not allowed")
    return problems


def _string_buffers(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(int32 offsets, uint8 data) of a plain string array, without copies."""
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)[column.offset:][: len(column) + 1]
    data = column.buffers()[2]
    return offsets, np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)


def _empty_strings(column: pa.Array) -> np.ndarray | None:
    """Per record: is the string empty; None when a dictionary index points outside the dictionary."""
    if not pa.types.is_dictionary(column.type):
        return np.diff(_string_buffers(column)[0]) == 0
    codes = column.indices.to_numpy(zero_copy_only=False)
    dictionary = column.dictionary
    if len(codes) and (codes.min() < 0 or codes.max() >= len(dictionary)):
        return None
    empty = np.diff(_string_buffers(dictionary)[0]) == 0
    return empty[codes] if empty.any() else empty[:0]  # per record only when some value is empty


def _first_repeat_of(record_ids: pa.Array) -> int:
    """Index of the first record id equal to an earlier one, or -1."""
    if len(record_ids) < _KERNEL_FROM_RECORDS:  # a runner's few records: not worth loading the kernel for
        first = pc.index_in(record_ids, value_set=pc.unique(record_ids)).to_numpy()
        repeats = np.flatnonzero(first != np.arange(len(first)))
        return int(repeats[0]) if repeats.size else -1
    return _first_repeat_kernel()(*_string_buffers(record_ids))


_KERNEL_FROM_RECORDS = 2048


@functools.cache
def _first_repeat_kernel():
    # Numba loads on first use: the usage schema is imported by processes (the control plane's
    # readers, the CLI) that never check a large batch, and Numba takes a sixth of a second to import.
    from numba import njit

    return njit(cache=True, nogil=True)(_first_repeat)


def _first_repeat(offsets: np.ndarray, data: np.ndarray) -> int:
    """Index of the first string equal to an earlier one, or -1: one pass, an open-addressing hash set."""
    n = len(offsets) - 1
    size = 16
    while size < 2 * n:
        size *= 2
    slots = np.full(size, -1, np.int64)
    hashes = np.zeros(size, np.uint64)
    for i in range(n):
        lo, hi = offsets[i], offsets[i + 1]
        h = np.uint64(14695981039346656037)  # FNV-1a
        for j in range(lo, hi):
            h = (h ^ np.uint64(data[j])) * np.uint64(1099511628211)
        at = np.int64(h & np.uint64(size - 1))
        while slots[at] >= 0:
            k = slots[at]
            if hashes[at] == h and offsets[k + 1] - offsets[k] == hi - lo:
                same = True
                for t in range(hi - lo):
                    if data[offsets[k] + t] != data[lo + t]:
                        same = False
                        break
                if same:
                    return i
            at = (at + 1) & (size - 1)
        slots[at] = i
        hashes[at] = h
    return -1


_NUMERIC_CHECKED = (*_RANGES, *QUANTITY_COLUMNS, "start_unix_ms", "end_unix_ms", "price_version", "attempt")


def string_codes(column: pa.Array) -> tuple[list[str], np.ndarray]:
    """(distinct values, int32 code per record) of a valid string column, plain or dictionary-encoded.

    A dictionary sent by a node may hold values no record uses (a slice keeps its parent's dictionary)
    or a value twice: those are dropped and merged, so that every value returned is used, once."""
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
        return column.dictionary.to_pylist(), column.indices.to_numpy(zero_copy_only=False)
    key = _column_key(column)
    with _CODES_LOCK:
        found = _CODES.get(key)
    if found is None:
        found = (column, *_dictionary_codes(column))  # the column kept: its buffers cannot be freed and reused
        with _CODES_LOCK:
            _CODES[key] = found
            while len(_CODES) > _CODES_KEPT:
                _CODES.popitem(last=False)
    return list(found[1]), found[2]


# The biller resolves each string column of a batch several times (its reads, price book, provenance,
# rating, split plans): resolved once, found again by the column's buffers, for the batches in hand.
_CODES: collections.OrderedDict[tuple, tuple] = collections.OrderedDict()
_CODES_LOCK = threading.Lock()
_CODES_KEPT = 24  # a round's reads resolve three columns of each of its eight batches; a kept column keeps its buffers


def _column_key(column: pa.DictionaryArray) -> tuple:
    return (column.offset, len(column), *(b.address if b is not None else 0 for b in column.indices.buffers()),
            *(b.address if b is not None else 0 for b in column.dictionary.buffers()), column.dictionary.offset,
            len(column.dictionary))


def _dictionary_codes(column: pa.DictionaryArray) -> tuple[list[str], np.ndarray]:
    codes = column.indices.to_numpy(zero_copy_only=False)
    codes.flags.writeable = False  # shared by every caller of string_codes
    values = column.dictionary.to_pylist()
    used = np.bincount(codes, minlength=len(values)) > 0
    distinct = list(dict.fromkeys(v for v, u in zip(values, used.tolist()) if u))
    if len(distinct) == len(values):
        return values, codes
    code_of = {v: k for k, v in enumerate(distinct)}
    merged = np.array([code_of.get(v, -1) for v in values], dtype=np.int32)[codes]
    merged.flags.writeable = False
    return distinct, merged


def dictionary_encoded(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with its DICTIONARY_COLUMNS dictionary-encoded (those already encoded kept as they are)."""
    return _with_columns(batch, [
        pc.dictionary_encode(batch.column(i)) if name in DICTIONARY_COLUMNS and not pa.types.is_dictionary(batch.schema.field(i).type)
        else batch.column(i) for i, name in enumerate(batch.schema.names)])


def to_wire(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch as a node sends it: DICTIONARY_COLUMNS dictionary-encoded, each of the TIME_COLUMNS as int32
    after the batch's earliest value when the batch spans less than 2^31 ms, and each other of the
    NARROWABLE_COLUMNS as int32 when all its values fit (forms already taken are kept)."""
    batch = dictionary_encoded(batch)
    fields, columns = [], []
    for field, column in zip(batch.schema, batch.columns):
        base = 0
        if field.name in TIME_COLUMNS:
            column, base = after_base(column)
        elif field.name in NARROWABLE_COLUMNS:
            column = narrowed_int64(column)
        metadata = {**(field.metadata or {}), BASE_METADATA: str(base).encode()} if base else field.metadata
        fields.append(pa.field(field.name, column.type, nullable=field.nullable, metadata=metadata))
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields, metadata=batch.schema.metadata))


_INT32 = np.iinfo(np.int32)


def narrowed_int64(column: pa.Array) -> pa.Array:
    """An int64 column as int32 when every value fits (any other column as it is)."""
    values = _int64_values(column)
    if values is None or values.min() < _INT32.min or values.max() > _INT32.max:
        return column
    return pa.array(values.astype(np.int32))


def after_base(column: pa.Array) -> tuple[pa.Array, int]:
    """(int32 values after the base, base) of an int64 column whose values span less than 2^31 from a
    smallest within ±2^62; (the column, 0) for any other column."""
    values = _int64_values(column)
    if values is None:
        return column, 0
    base = int(values.min())
    if int(values.max()) - base > _INT32.max or abs(base) > _MAX_BASE:
        return column, 0
    return pa.array((values - base).astype(np.int32)), base


def _int64_values(column: pa.Array) -> np.ndarray | None:
    """The values of a non-empty int64 column without nulls, the only kind that narrows."""
    return column.to_numpy() if column.type == pa.int64() and not column.null_count and len(column) else None


def _with_columns(batch: pa.RecordBatch, columns: list[pa.Array]) -> pa.RecordBatch:
    fields = [pa.field(f.name, c.type, nullable=f.nullable, metadata=f.metadata if c.type == f.type else None)
              for f, c in zip(batch.schema, columns)]
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields, metadata=batch.schema.metadata))


# Redis keys of the usage path, shared by the node's sender (writer) and the biller (reader).
USAGE_STREAM = "shuniu:usage"  # one entry per batch: batch_id, node_id, arrow_ipc, record_count, created_unix_ms
BILLER_GROUP = "billers"  # the consumer group billers read USAGE_STREAM in; billing lag is measured against it
DEAD_LETTER_STREAM = "shuniu:usage:dead"  # batches the biller refused, with the reason
DEAD_LETTER_COUNTS = "shuniu:usage:dead:counts"  # hash reason -> batches refused
