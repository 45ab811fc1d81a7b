"""Output contracts: the shape an answer may take, checked before its values (pure, no sandbox)."""

from __future__ import annotations

import datetime
import decimal

import numpy as np
import pyarrow as pa
import pytest

from shuniu.nodes.sandbox.contract import (
    DECIMAL,
    FLOAT,
    INT,
    STRING,
    Breach,
    ContractColumn,
    OutputContract,
    builtin_contract,
    conform,
)
from shuniu.nodes.sandbox.egress import (
    ALLOWED,
    DENY_OUTPUT_COLUMNS,
    DENY_OUTPUT_TYPE,
    EgressPolicy,
    check_egress,
)
from shuniu.nodes.sandbox.profile import profile_input
from shuniu.nodes.sandbox.types import aggregate_job, custom_job, model_job, verify_job

SECRET = "410102198001010000"
PROFILE = profile_input(pa.table({"id_number": [int(SECRET), 410102198001017919]}), ["id_number"], [])
OPEN = EgressPolicy(min_group_rows=1)


class _Tagged(pa.ExtensionType):
    def __init__(self) -> None:
        super().__init__(pa.string(), "shuniu.test.tagged")

    def __arrow_ext_serialize__(self) -> bytes:
        return SECRET.encode()

    @classmethod
    def __arrow_ext_deserialize__(cls, storage_type, serialized):
        return cls()


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


@pytest.mark.parametrize(
    ("column", "code"),
    [
        (pa.array([[1, 2]], pa.list_(pa.int64())), DENY_OUTPUT_TYPE),
        (pa.array([{"a": 1}]), DENY_OUTPUT_TYPE),
        (pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64())), DENY_OUTPUT_TYPE),
        (pa.array([b"x"], pa.binary()), DENY_OUTPUT_TYPE),
        (pa.array([b"x"], pa.binary(1)), DENY_OUTPUT_TYPE),
        (pa.array(["a"]).dictionary_encode(), DENY_OUTPUT_TYPE),
        (pa.ExtensionArray.from_storage(_Tagged(), pa.array(["a"])), DENY_OUTPUT_TYPE),
        (pa.array([datetime.time(1, 2)], pa.time64("us")), DENY_OUTPUT_TYPE),
        (pa.array([datetime.timedelta(1)], pa.duration("s")), DENY_OUTPUT_TYPE),
        (pa.array([True]), ALLOWED),
        (pa.array([7], pa.int8()), ALLOWED),
        (pa.array([7], pa.uint32()), ALLOWED),
        (pa.array([2**63], pa.uint64()), DENY_OUTPUT_TYPE),
        (pa.array([0.5], pa.float32()), ALLOWED),
        (pa.array([decimal.Decimal("1.25")], pa.decimal128(5, 2)), ALLOWED),
        (pa.array(["a"], pa.large_string()), ALLOWED),
        (pa.array([datetime.date(2026, 1, 1)], pa.date64()), ALLOWED),
        (pa.array([1], pa.timestamp("ns", tz="Asia/Shanghai")), ALLOWED),
        (pa.array([None, None], pa.null()), ALLOWED),
    ],
    ids=["list", "struct", "map", "binary", "fixed-size-binary", "dictionary", "extension", "time", "duration",
         "bool", "int8", "uint32", "uint64-past-int64", "float32", "decimal", "large-string", "date64",
         "timestamp-with-zone", "all-null"],
)  # fmt: skip
def test_only_flat_primitive_columns_leave(column, code):
    verdict = check_egress(pa.table({"v": column}), PROFILE, OPEN)
    assert verdict.code == code, verdict.message


@pytest.mark.parametrize(
    ("kind", "released"),
    [
        (pa.int8(), pa.int64()), (pa.uint16(), pa.int64()), (pa.float16(), pa.float64()),
        (pa.decimal256(40, 3), pa.decimal128(38, 3)), (pa.large_string(), pa.string()), (pa.date64(), pa.date32()),
        (pa.timestamp("s"), pa.timestamp("us", tz="UTC")), (pa.timestamp("ms", tz=SECRET), pa.timestamp("us", tz="UTC")),
    ],
    ids=["int8", "uint16", "float16", "decimal256", "large-string", "date64", "timestamp-naive", "timestamp-zone-as-text"],
)  # fmt: skip
def test_each_type_leaves_as_one_type_whatever_its_parameters(kind, released):
    values = {pa.types.is_floating: [np.float16(0.5)], pa.types.is_decimal: [decimal.Decimal("1.5")],
              pa.types.is_date: [datetime.date(2026, 1, 1)], pa.types.is_string: ["a"], pa.types.is_large_string: ["a"]}
    data = next((v for check, v in values.items() if check(kind)), [1])
    verdict = check_egress(pa.table({"v": pa.array(data, kind)}), PROFILE, OPEN)
    assert verdict.allowed and verdict.table.schema.field("v").type == released


def test_schema_and_field_metadata_are_stripped_and_every_field_is_nullable():
    field = pa.field("total", pa.float64(), nullable=False, metadata={b"origin": SECRET.encode()})
    table = pa.table({"total": [1.5]}, schema=pa.schema([field], metadata={SECRET.encode(): b"x"}))
    released = check_egress(table, PROFILE, OPEN).table
    assert released.schema.metadata is None and released.schema.field("total").metadata is None
    assert released.schema.field("total").nullable and SECRET.encode() not in _ipc(released)


def test_values_hidden_under_nulls_or_past_a_column_end_are_not_carried():
    hidden = int(SECRET).to_bytes(8, "little")
    validity = pa.py_buffer(np.packbits(np.array([1, 0] + [0] * 6, bool), bitorder="little").tobytes())
    numbers = pa.Array.from_buffers(pa.int64(), 2, [validity, pa.py_buffer(np.array([5, int(SECRET), 7]).tobytes())])
    offsets = pa.py_buffer(np.array([0, 2, 4], np.int32).tobytes())
    text = pa.Array.from_buffers(pa.string(), 2, [None, offsets, pa.py_buffer(b"okok" + SECRET.encode())])
    output = pa.table({"n": numbers, "s": pa.chunked_array([text])})
    assert hidden in _ipc(output) and SECRET.encode() in _ipc(output)  # what the job's own bytes would carry
    released = check_egress(output, PROFILE, OPEN).table
    assert hidden not in _ipc(released) and SECRET.encode() not in _ipc(released)


def test_row_batches_are_joined_so_their_sizes_carry_nothing():
    chunks = pa.chunked_array([[1.5] * 4, [2.5] * 10, [3.5] * 1])
    released = check_egress(pa.table({"v": chunks}), PROFILE, OPEN).table
    assert [c.num_chunks for c in released.columns] == [1]


@pytest.mark.parametrize(
    ("output", "code"),
    [
        (pa.table({"city": ["a"], "kwh_sum": [1.5]}), ALLOWED),
        (pa.table({"kwh_sum": [1.5], "city": ["a"]}), ALLOWED),
        (pa.table({"city": ["a"], "kwh_sum": [1.5], "extra": [1]}), DENY_OUTPUT_COLUMNS),
        (pa.table({"city": ["a"]}), DENY_OUTPUT_COLUMNS),
        (pa.table({"city": ["a"], "kwh_sum": ["1.5"]}), DENY_OUTPUT_TYPE),
        (pa.table({"city": [1], "kwh_sum": [1.5]}), DENY_OUTPUT_TYPE),
        (pa.table({"city": ["a"], "kwh_sum": [1.5], "__group_rows": [9]}), ALLOWED),
        (pa.table({"city": ["a"], "kwh_sum": [1.5], "__group_rows": ["9"]}), DENY_OUTPUT_TYPE),
    ],
    ids=["as-declared", "any-order", "extra-column", "missing-column", "wrong-type", "wrong-key-type",
         "group-rows-allowed", "group-rows-as-text"],
)  # fmt: skip
def test_a_declared_contract_fixes_names_and_types(output, code):
    contract = OutputContract.of([("city", STRING), ("kwh_sum", FLOAT)])
    verdict = check_egress(output, PROFILE, OPEN, contract)
    assert verdict.code == code, verdict.message
    if verdict.allowed:
        assert verdict.table.column_names == ["city", "kwh_sum"]


@pytest.mark.parametrize(
    "names",
    [["ok", "ok"], ["1st"], ["a b"], ["x" * 65], ["a"] * 0, [f"c{i}" for i in range(65)]],
    ids=["duplicate", "starts-with-digit", "space", "too-long", "no-column", "too-many"],
)
def test_names_custom_code_chooses_must_look_like_names(names):
    table = pa.Table.from_arrays([pa.array([1.5])] * len(names), names=names) if names else pa.table({})
    assert check_egress(table, PROFILE, OPEN).code == DENY_OUTPUT_COLUMNS


def test_built_in_kinds_fix_their_names_and_types():
    schema = pa.schema([("city", pa.string()), ("kwh", pa.float64()), ("fen", pa.decimal128(12, 2))])
    agg = builtin_contract(aggregate_job(["city"], [("kwh", "sum"), ("kwh", "p90"), ("fen", "mean"), ("kwh", "count")]),
                           schema)
    assert [(c.name, c.type) for c in agg.columns] == [
        ("city", None), ("kwh_sum", None), ("kwh_p90", FLOAT), ("fen_mean", None), ("kwh_count", INT)]
    assert builtin_contract(verify_job([[("kwh", ">", 1.0)]]), schema).names == ("holds",)
    assert builtin_contract(model_job("linear", ["kwh"], "fen"), schema).names == ("name", "role", "value")
    assert builtin_contract(custom_job("def run(t): return t"), schema) is None


@pytest.mark.parametrize(
    ("text", "column"),
    [("int32", ContractColumn("a", INT)), ("float32", ContractColumn("a", FLOAT)),
     ("decimal128(10, 2)", ContractColumn("a", DECIMAL, 2)), ("string", ContractColumn("a", STRING))],
    ids=["int32", "float32", "decimal", "string"],
)  # fmt: skip
def test_an_approved_analysis_declares_arrow_types(text, column):
    assert OutputContract.from_arrow_types([("a", text)]).columns == (column,)


@pytest.mark.parametrize("text", ["list<item: int64>", "binary", "dictionary", "nonsense"])
def test_an_approved_analysis_cannot_declare_other_types(text):
    with pytest.raises(ValueError, match="flat primitive"):
        OutputContract.from_arrow_types([("a", text)])


def test_a_declared_decimal_scale_is_kept_and_digits_past_it_refused():
    contract = OutputContract((ContractColumn("fen", DECIMAL, 2),))
    fits = conform(pa.table({"fen": pa.array([decimal.Decimal("1.5")], pa.decimal128(4, 1))}), contract)
    assert fits[0].schema.field("fen").type == pa.decimal128(38, 2)
    lost = conform(pa.table({"fen": pa.array([decimal.Decimal("1.125")], pa.decimal128(5, 3))}), contract)
    assert isinstance(lost, Breach) and lost.code == DENY_OUTPUT_TYPE
