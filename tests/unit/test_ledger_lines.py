"""Rated lines as the ledger keeps them: dictionary-encoded or plain, readers get the same plain strings."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from shuniu.market.ledger.lines import LINES_SCHEMA, lines_ipc, read_lines

_PLAIN = pa.table({
    "record_id": ["r1", "r2", "r3"], "job_id": ["j1", "j1", "j2"], "grant_id": ["g", "g", "g"], "buyer_id": ["b1", "b2", "b1"],
    "node_id": ["n", "n", "n"], "compute_center": ["cc", "cc", "cc"], "product_id": ["p1", "", "p2"], "price_version": [1, 0, 3],
    "category": ["traffic", "", "health"], "usage_period": ["2026-11", "2026-11", "2026-10"],
    "billed_period": ["2026-11", "2026-11", "2026-11"], "units": [10, 0, 7], "cpu_ms": [1, 2, 3], "memory_mb_s": [4, 5, 6],
    "gpu_ms": [0, 0, 9], "compute_millifen": [11_000, 12_400, 13], "data_millifen": [5_000, 0, 0], "cap_reduction_millifen": [1_000, 0, 0],
    "free": [False, False, True], "free_rule": ["", "", "public_interest"], "compute_rest_microfen": [0, 400, 7],
}, schema=LINES_SCHEMA)  # fmt: skip


def _columns(encode: set[str]) -> list[pa.Array]:
    return [_PLAIN.column(name).combine_chunks().dictionary_encode() if name in encode else _PLAIN.column(name).combine_chunks()
            for name in LINES_SCHEMA.names]


@pytest.mark.parametrize("encoded", [set(), {"job_id", "buyer_id", "category", "usage_period", "billed_period"},
                                     {f.name for f in LINES_SCHEMA if f.type == pa.string()}], ids=["plain", "some", "every_string"])
def test_lines_read_back_as_plain_strings_whatever_was_encoded(encoded):
    data = lines_ipc(_columns(encoded))
    assert read_lines(data).select(LINES_SCHEMA.names).equals(_PLAIN)
    stored = ipc.open_stream(pa.py_buffer(data)).schema
    assert {f.name for f in stored if pa.types.is_dictionary(f.type)} == encoded


def test_integers_that_fit_are_stored_as_int32_and_read_back_as_int64():
    big = _PLAIN.set_column(LINES_SCHEMA.get_field_index("compute_millifen"), "compute_millifen", pa.array([11, 2**31, 13], pa.int64()))
    data = lines_ipc([big.column(name).combine_chunks() for name in LINES_SCHEMA.names])
    stored = ipc.open_stream(pa.py_buffer(data)).schema
    assert {f.name for f in stored if f.type == pa.int32()} == {f.name for f in LINES_SCHEMA if f.type == pa.int64()} - {"compute_millifen"}
    assert stored.field("compute_millifen").type == pa.int64()
    assert read_lines(data).select(LINES_SCHEMA.names).equals(big)


def test_int32_columns_as_the_biller_rates_them_are_taken_and_read_back_as_int64():
    narrow = {"cpu_ms", "memory_mb_s", "gpu_ms", "price_version"}
    data = lines_ipc([c.cast(pa.int32()) if n in narrow else c for n, c in zip(LINES_SCHEMA.names, _columns(set()))])
    assert read_lines(data).select(LINES_SCHEMA.names).equals(_PLAIN)


def test_dictionary_encoding_takes_fewer_bytes_for_repeated_strings():
    many = pa.concat_tables([_PLAIN] * 2000)
    columns = lambda encode: [many.column(n).combine_chunks().dictionary_encode() if n in encode else many.column(n).combine_chunks()  # noqa: E731
                              for n in LINES_SCHEMA.names]
    repeated = {"job_id", "grant_id", "buyer_id", "node_id", "compute_center", "product_id", "category", "usage_period", "billed_period"}
    assert len(lines_ipc(columns(repeated))) < len(lines_ipc(columns(set())))


@pytest.mark.parametrize("columns, message", [
    (lambda: _columns(set())[:-1], "need the 21 columns"),
    (lambda: [pa.array([1, 2, 3]) if i == 0 else c for i, c in enumerate(_columns(set()))], "'record_id' holds int64; expected string"),
    (lambda: [c.cast(pa.int16()) if n == "units" else c for n, c in zip(LINES_SCHEMA.names, _columns(set()))], "'units' holds int16"),
], ids=["a_column_missing", "a_column_of_the_wrong_type", "an_integer_narrower_than_int32"])
def test_lines_of_the_wrong_shape_are_refused(columns, message):
    with pytest.raises(ValueError, match=message):
        lines_ipc(columns())


def test_lines_written_before_a_column_existed_still_read():
    older = _PLAIN.drop_columns(["free"])
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, older.schema) as writer:
        writer.write_table(older)
    assert read_lines(sink.getvalue().to_pybytes()).select(older.column_names).equals(older)


def test_lines_billed_in_whole_fen_read_in_milli_fen_and_milli_fen_lines_read_per_line_in_fen():
    whole = _PLAIN.drop_columns(["compute_millifen", "data_millifen", "cap_reduction_millifen", "free_rule", "compute_rest_microfen"])
    whole = whole.append_column("compute_fen", pa.array([11, 12, 13], pa.int64()))
    whole = whole.append_column("data_fen", pa.array([5, 0, 8], pa.int64()))
    whole = whole.append_column("cap_reduction_fen", pa.array([1, 0, 0], pa.int64()))
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, whole.schema) as writer:
        writer.write_table(whole)
    read = read_lines(sink.getvalue().to_pybytes())
    assert read.column("compute_millifen").to_pylist() == [11_000, 12_000, 13_000]
    assert read.column("data_millifen").to_pylist() == [5_000, 0, 8_000]
    assert read.column("compute_rest_microfen").to_pylist() == [0, 0, 0]  # lines rated before the micro-fen
    # 12,400 milli-fen is 12 fen alone; 13 milli-fen is 0 fen (the ledger accrues them, not the line).
    assert read_lines(lines_ipc(_columns(set()))).column("compute_fen").to_pylist() == [11, 12, 0]
