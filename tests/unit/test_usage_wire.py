"""The usage batch on the wire: dictionary-encoded string columns, their validation, and resolving them once."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shuniu.market.billing.charge import _dense_codes
from shuniu.market.ledger.periods import periods_of_ms
from shuniu.protos.usage_schema import (BASE_METADATA, DICTIONARY_COLUMNS, NARROWABLE_COLUMNS, USAGE_SCHEMA, UsageSchemaError,
                                        batch_from_ipc, batch_to_ipc, column_base, dictionary_encoded, string_codes, to_wire,
                                        validate_usage_batch, widened)


def _batch(n: int, record_ids: list[str] | None = None) -> pa.RecordBatch:
    rng = np.random.default_rng(n)
    columns = {}
    for field in USAGE_SCHEMA:
        if pa.types.is_string(field.type):
            values = [f"{field.name}-{k % 3}" for k in range(n)]
            columns[field.name] = pa.array(record_ids or [f"r-{k}" for k in range(n)] if field.name == "record_id" else values)
        elif field.name in ("tier", "kind", "compute_class"):
            columns[field.name] = pa.array(np.ones(n, np.int8))
        elif field.name == "purpose_category":
            columns[field.name] = pa.array(np.full(n, 3, np.int8))
        elif field.name == "end_unix_ms":
            columns[field.name] = pa.array(columns["start_unix_ms"].to_numpy() + 1000)
        else:
            columns[field.name] = pa.array(rng.integers(0, 1000, n).astype(field.type.to_pandas_dtype()), field.type)
    return pa.RecordBatch.from_arrays([columns[f.name] for f in USAGE_SCHEMA], schema=USAGE_SCHEMA)


def _with_column(batch: pa.RecordBatch, name: str, column: pa.Array) -> pa.RecordBatch:
    i = batch.schema.get_field_index(name)
    return pa.RecordBatch.from_arrays([column if k == i else batch.column(k) for k in range(batch.num_columns)],
                                      names=batch.schema.names)


@pytest.mark.parametrize("form", ["plain", "dictionary"])
def test_both_string_forms_validate(form):
    batch = _batch(100)
    validate_usage_batch(batch if form == "plain" else to_wire(batch))


def test_to_wire_encodes_exactly_the_low_cardinality_columns_and_keeps_values():
    batch = _batch(50)
    wire = to_wire(batch)
    encoded = {f.name for f in wire.schema if pa.types.is_dictionary(f.type)}
    assert encoded == set(DICTIONARY_COLUMNS)
    assert widened(wire).to_pylist() == batch.to_pylist()
    assert to_wire(wire).schema == wire.schema  # already encoded: kept


def test_to_wire_narrows_the_int64_columns_whose_values_fit_and_readers_get_int64_back():
    batch = _with_column(_batch(50), "cpu_ms", pa.array(np.arange(50, dtype=np.int64) + 2**31))  # one past int32
    wire = to_wire(batch)
    narrowed = {f.name for f in wire.schema if f.type == pa.int32() and USAGE_SCHEMA.field(f.name).type == pa.int64()}
    assert narrowed == set(NARROWABLE_COLUMNS) - {"cpu_ms"}
    assert wire.schema.field("cpu_ms").type == pa.int64()
    validate_usage_batch(wire)
    assert to_wire(wire).schema == wire.schema
    read, batch_id = batch_from_ipc(batch_to_ipc(wire, "b-1"))
    assert batch_id == "b-1"
    assert [read.schema.field(f.name).type for f in USAGE_SCHEMA if f.name not in DICTIONARY_COLUMNS] == \
        [f.type for f in USAGE_SCHEMA if f.name not in DICTIONARY_COLUMNS]
    assert read.to_pylist() == batch.to_pylist()
    as_sent, _ = batch_from_ipc(batch_to_ipc(wire, "b-1"), widen=False)  # the biller's read
    assert as_sent.schema == wire.schema and widened(as_sent).to_pylist() == batch.to_pylist()


def test_times_travel_as_int32_after_the_batch_s_earliest_and_come_back_as_they_were():
    start = 1_793_462_400_000 + np.arange(50, dtype=np.int64)[::-1] * 60_000  # earliest last
    batch = _with_column(_with_column(_batch(50), "start_unix_ms", pa.array(start)), "end_unix_ms", pa.array(start + 2**31 - 60_000))
    wire = to_wire(batch)
    for name, base in (("start_unix_ms", start.min()), ("end_unix_ms", start.min() + 2**31 - 60_000)):
        assert wire.schema.field(name).type == pa.int32()
        assert column_base(wire.schema.field(name)) == base
        assert wire.column(name).to_pylist() == (batch.column(name).to_numpy() - base).tolist()
    validate_usage_batch(wire)
    as_sent, _ = batch_from_ipc(batch_to_ipc(wire, "b-1"), widen=False)  # the bases travel in the IPC schema
    assert column_base(as_sent.schema.field("start_unix_ms")) == start.min()
    assert column_base(dictionary_encoded(as_sent).schema.field("start_unix_ms")) == start.min()  # the biller re-encodes
    assert batch_from_ipc(batch_to_ipc(wire, "b-1"))[0].to_pylist() == batch.to_pylist()


def test_a_batch_spanning_2_31_ms_or_more_keeps_its_times_in_int64():
    start = np.array([0, 2**31], dtype=np.int64) + 1_793_462_400_000
    wire = to_wire(_with_column(_with_column(_batch(2), "start_unix_ms", pa.array(start)), "end_unix_ms", pa.array(start)))
    assert wire.schema.field("start_unix_ms").type == pa.int64() and column_base(wire.schema.field("start_unix_ms")) == 0
    assert wire.column("start_unix_ms").to_pylist() == start.tolist()


def _with_base(batch: pa.RecordBatch, name: str, base: bytes, values: pa.Array | None = None) -> pa.RecordBatch:
    fields = [pa.field(f.name, pa.int32() if values is not None and f.name == name else f.type, metadata={BASE_METADATA: base})
              if f.name == name else f for f in batch.schema]
    columns = [values if values is not None and f.name == name else batch.column(i) for i, f in enumerate(batch.schema)]
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields))


@pytest.mark.parametrize(("name", "base", "values", "message"), [
    ("rows", b"5", pa.array([1, 2], pa.int32()), "column 'rows' \\(int32\\) carries a base; only int32 start_unix_ms and end_unix_ms may"),
    ("start_unix_ms", b"5", None, "column 'start_unix_ms' \\(int64\\) carries a base"),
    ("start_unix_ms", b"12x", pa.array([1, 2], pa.int32()), "column 'start_unix_ms' has base b'12x'; expected an integer"),
    ("start_unix_ms", str(2**62 + 1).encode(), pa.array([1, 2], pa.int32()), "expected an integer within"),
    ("start_unix_ms", b"-5000", pa.array([1, 2], pa.int32()), "column 'start_unix_ms' is negative in 2 records"),
    ("start_unix_ms", b"1000", pa.array([1, 2], pa.int32()), "end_unix_ms is before start_unix_ms in 2 records"),  # ends at 1000
], ids=["base_on_a_quantity", "base_on_int64", "not_an_integer", "past_2_62", "negative_start", "end_before_start"])
def test_a_bad_base_or_what_it_makes_of_the_times_is_refused(name, base, values, message):
    batch = _batch(2)
    if name != "rows":
        batch = _with_column(_with_column(batch, "start_unix_ms", pa.array([0, 0])), "end_unix_ms", pa.array([1000, 1000]))
    with pytest.raises(UsageSchemaError, match=message):
        validate_usage_batch(_with_base(batch, name, base, values))


def test_a_reader_is_told_of_a_bad_base_before_adding_it():
    batch = _with_base(_batch(2), "start_unix_ms", b"12x", pa.array([1, 2], pa.int32()))
    with pytest.raises(UsageSchemaError, match="has base b'12x'"):
        batch_from_ipc(batch_to_ipc(batch, "b-1"))
    assert batch_from_ipc(batch_to_ipc(batch, "b-1"), widen=False)[0].column("start_unix_ms").to_pylist() == [1, 2]  # validated next


def test_int32_is_accepted_for_int64_columns_only():
    batch = _batch(20)
    validate_usage_batch(_with_column(batch, "rows", batch.column("rows").cast(pa.int32())))
    with pytest.raises(UsageSchemaError, match="column 'rows' has type int16; expected int64 \\(or int32\\)"):
        validate_usage_batch(_with_column(batch, "rows", batch.column("rows").cast(pa.int16())))
    with pytest.raises(UsageSchemaError, match="column 'tier' has type int32; expected int8$"):
        validate_usage_batch(_with_column(batch, "tier", batch.column("tier").cast(pa.int32())))


@pytest.mark.parametrize("records", [10, 5000], ids=["few-records", "kernel-sized"])
@pytest.mark.parametrize("at", [1, -1], ids=["early", "last"])
def test_repeated_record_id_is_refused_and_named(records, at):
    ids = [f"r-{k}" for k in range(records)]
    ids[at] = "r-0"
    with pytest.raises(UsageSchemaError, match="record_id values repeat.*'r-0'"):
        validate_usage_batch(to_wire(_batch(records, ids)))


@pytest.mark.parametrize("records", [10, 5000], ids=["few-records", "kernel-sized"])
def test_distinct_record_ids_pass_even_when_one_is_a_prefix_of_another(records):
    ids = [f"r-{k}" for k in range(records)]
    ids[0], ids[1] = "r-1", "r-"  # same prefix, different lengths
    validate_usage_batch(_batch(records, ids))


@pytest.mark.parametrize("case, indices, dictionary, message", [
    ("index past the dictionary", [0, 5], ["a", "b"], "indices outside its dictionary"),
    ("negative index", [0, -1], ["a", "b"], "indices outside its dictionary"),
    ("empty value used", [0, 1], ["a", ""], "is empty in 1 records"),
    ("null in the dictionary", [0, 1], ["a", None], "null values"),
], ids=lambda v: v if isinstance(v, str) and " " in v else "")
def test_bad_dictionary_is_refused(case, indices, dictionary, message):
    # As a node could send it over IPC: built without Arrow's own bounds check.
    column = pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), pa.array(dictionary, pa.string()), safe=False)
    batch = _with_column(to_wire(_batch(2)), "job_id", column)
    with pytest.raises(UsageSchemaError, match=message):
        validate_usage_batch(batch)


def test_an_unused_empty_dictionary_value_is_accepted():
    column = pa.DictionaryArray.from_arrays(pa.array([0, 0], pa.int32()), pa.array(["a", ""], pa.string()))
    validate_usage_batch(_with_column(to_wire(_batch(2)), "job_id", column))


def test_other_dictionary_types_are_refused_naming_what_is_accepted():
    column = pa.DictionaryArray.from_arrays(pa.array([0, 0], pa.int8()), pa.array(["a"], pa.string()))
    with pytest.raises(UsageSchemaError, match=r"'job_id' has type .*int8.*expected string \(or dictionary<values=string, indices=int32"):
        validate_usage_batch(_with_column(_batch(2), "job_id", column))
    with pytest.raises(UsageSchemaError, match="'record_id' has type dictionary"):
        validate_usage_batch(_with_column(_batch(2), "record_id", pa.array(["a", "b"]).dictionary_encode()))


@given(st.lists(st.sampled_from(["a", "b", "c", "dd", ""]), min_size=0, max_size=40), st.integers(0, 3), st.randoms())
@settings(max_examples=200, deadline=None)
def test_string_codes_give_each_used_value_once(values, extra, rnd):
    """A node's dictionary may hold unused or repeated values (a slice keeps its parent's): codes still decode to the records."""
    plain_values, plain_codes = string_codes(pa.array(values, pa.string()))
    dictionary = sorted(set(values)) + ["unused"] * extra + list(set(values))[:extra]  # unused and repeated entries
    rnd.shuffle(dictionary)
    indices = [dictionary.index(v) for v in values]
    names, codes = string_codes(pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), pa.array(dictionary, pa.string())))
    for got_names, got_codes in ((plain_values, plain_codes), (names, codes)):
        assert [got_names[c] for c in got_codes.tolist()] == values
        assert sorted(got_names) == sorted(set(values))


def test_string_codes_of_a_column_are_resolved_once_and_never_mixed_up_with_another():
    # Resolved once per column (found again by its buffers) and shared read-only; columns made and freed one
    # after another, whose buffers land where a freed one's were, each get their own values.
    column = pa.array(["x", "y", "x"]).dictionary_encode()
    names, codes = string_codes(column)
    assert string_codes(column)[1] is codes and not codes.flags.writeable
    names.append("changed by a caller")
    assert string_codes(column)[0] == ["x", "y"]
    for k in range(500):
        made = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0], pa.int32()), pa.array([f"v{k}", f"w{k}"]))
        got_names, got_codes = string_codes(made)
        assert [got_names[c] for c in got_codes.tolist()] == [f"v{k}", f"w{k}", f"v{k}"]
        del made
    sliced = pa.array(["a", "b", "c", "d"]).dictionary_encode()
    assert string_codes(sliced.slice(2))[0] == ["c", "d"] and string_codes(sliced.slice(0, 2))[0] == ["a", "b"]
    merged = pa.DictionaryArray.from_arrays(pa.array([2, 0], pa.int32()), pa.array(["p", "unused", "p"]))
    names, codes = string_codes(merged)
    assert names == ["p"] and codes.tolist() == [0, 0] and not codes.flags.writeable


_MONTH_STARTS_MS = np.arange(np.datetime64("2026-01"), np.datetime64("2028-01")).astype("datetime64[ms]").astype(np.int64) - 8 * 3_600_000


@given(st.lists(st.one_of(st.integers(-2**40, 2**42), st.sampled_from(_MONTH_STARTS_MS.tolist()),
                          st.sampled_from((_MONTH_STARTS_MS - 1).tolist())), min_size=0, max_size=60))
@settings(max_examples=300, deadline=None)
def test_periods_of_ms_equal_the_calendar(times):
    unix_ms = np.array(times, dtype=np.int64)
    expected = (unix_ms + 8 * 3_600_000).astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)
    assert periods_of_ms(unix_ms).tolist() == expected.tolist()


@given(st.lists(st.integers(-50, 50), max_size=80) | st.lists(st.integers(-2**60, 2**60), max_size=20))
@settings(max_examples=300, deadline=None)
def test_dense_codes_equal_numpy_unique(values):
    array = np.array(values, dtype=np.int64)
    distinct, code = _dense_codes(array)
    expected, inverse = np.unique(array, return_inverse=True)
    assert distinct.tolist() == expected.tolist() and code.tolist() == inverse.reshape(-1).tolist()
