"""Output contracts: the shape an answer may take, checked before any of its values is looked at. Pure.

A leak check that looks for raw values can never list every transform; the first line is
what an answer may be. Every job kind has a contract: flat columns of declared primitive
types with names the contract fixes (the built-in kind's, or the approved analysis's).
Custom code on a public product, which has no approved analysis, gets a contract derived
from what it returned, held to the same types. What leaves is rebuilt from its values
alone: one chunk, fresh buffers (nothing hidden under a null or past a column's end), no
schema or field metadata, every field nullable.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:  # types imports egress, which imports this module
    from shuniu.nodes.sandbox.types import SandboxJob

GROUP_ROWS_COLUMN = "__group_rows"  # egress.GROUP_ROWS_COLUMN: egress imports this module

BOOL, INT, FLOAT, DECIMAL, STRING, DATE, TIMESTAMP = "bool", "int64", "float64", "decimal", "string", "date", "timestamp"
CONTRACT_TYPES = (BOOL, INT, FLOAT, DECIMAL, STRING, DATE, TIMESTAMP)
MAX_COLUMNS = 64
MAX_DECIMAL_SCALE = 18
MAX_NAME_CHARS = 128
# A name the job chose (custom code on a public product) must look like a name; names a
# request or an approval fixed may be any text (a product's column may be called 城市).
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

_DECIMAL_TEXT = re.compile(r"^decimal(?:128)?\((\d+),(\d+)\)$")
OUTPUT_TYPE = "OUTPUT_TYPE"
OUTPUT_COLUMNS = "OUTPUT_COLUMNS"


@dataclasses.dataclass(frozen=True)
class ContractColumn:
    """One released column. `type` None: any of the primitive types (a built-in column whose type follows the input's)."""

    name: str
    type: str | None
    scale: int | None = None  # decimals only: the scale released; None keeps the output's

    def __post_init__(self) -> None:
        if not 0 < len(self.name) <= MAX_NAME_CHARS or self.name == GROUP_ROWS_COLUMN:
            raise ValueError(f"contract column name {self.name!r} must be 1..{MAX_NAME_CHARS} characters and not {GROUP_ROWS_COLUMN}")
        if self.type is not None and self.type not in CONTRACT_TYPES:
            raise ValueError(f"contract type {self.type!r} of {self.name!r} unknown; expected one of {', '.join(CONTRACT_TYPES)}")
        if self.scale is not None and (self.type != DECIMAL or not 0 <= self.scale <= MAX_DECIMAL_SCALE):
            raise ValueError(f"scale is for decimal columns only, 0..{MAX_DECIMAL_SCALE}; got {self.scale!r} on {self.name!r}")


@dataclasses.dataclass(frozen=True)
class OutputContract:
    """The columns an answer has, in order: what an approved analysis declares and a built-in kind fixes."""

    columns: tuple[ContractColumn, ...]
    derived: bool = False  # names and types were taken from the job's own output

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if not names or len(names) > MAX_COLUMNS or len(set(names)) != len(names):
            raise ValueError(f"a contract has 1..{MAX_COLUMNS} columns with distinct names, got {names}")

    @classmethod
    def of(cls, columns: Iterable[tuple[str, str | None]]) -> OutputContract:
        """A contract from (name, type) pairs, e.g. OutputContract.of([("city", "string"), ("kwh_sum", "float64")])."""
        return cls(tuple(ContractColumn(name, kind) for name, kind in columns))

    @classmethod
    def from_arrow_types(cls, columns: Iterable[tuple[str, str]]) -> OutputContract:
        """A contract from (name, Arrow type text) pairs as an approved analysis declares them ("int64", "timestamp[ms]")."""
        return cls(tuple(_declared(name, text) for name, text in columns))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclasses.dataclass(frozen=True)
class Breach:
    """Why an output does not fit its contract: a category and a fixed text, never a name or value of the output."""

    code: str
    message: str


def type_of(kind: pa.DataType) -> str | None:
    """The contract type an Arrow type releases as; None for nested, binary, dictionary, extension and the rest."""
    if isinstance(kind, pa.ExtensionType) or pa.types.is_dictionary(kind):
        return None
    checks = ((pa.types.is_boolean, BOOL), (pa.types.is_integer, INT), (pa.types.is_floating, FLOAT),
              (pa.types.is_decimal, DECIMAL), (pa.types.is_date, DATE), (pa.types.is_timestamp, TIMESTAMP))
    for check, name in checks:
        if check(kind):
            return name
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or kind == pa.string_view():
        return STRING
    return None


def _declared(name: str, text: str) -> ContractColumn:
    decimal = _DECIMAL_TEXT.match(text.replace(" ", ""))
    try:
        kind = pa.decimal128(int(decimal[1]), int(decimal[2])) if decimal else pa.type_for_alias(text)
    except (ValueError, KeyError):
        kind = None
    family = type_of(kind) if kind is not None else None
    if family is None:
        raise ValueError(f"output column {name!r} has type {text!r}; expected a flat primitive Arrow type "
                         f"({', '.join(CONTRACT_TYPES)})")
    return ContractColumn(name, family, kind.scale if family == DECIMAL else None)


def _release_type(name: str, kind: pa.DataType, scale: int | None) -> pa.DataType:
    """The one Arrow type each contract type leaves as: a type's parameters (a time zone, a precision) are job-chosen text and numbers too."""
    if name == DECIMAL:
        return pa.decimal128(38, kind.scale if scale is None else scale)
    return {BOOL: pa.bool_(), INT: pa.int64(), FLOAT: pa.float64(), STRING: pa.string(), DATE: pa.date32(),
            TIMESTAMP: pa.timestamp("us", tz="UTC")}[name]


def derived_contract(schema: pa.Schema) -> OutputContract | Breach:
    """The contract of custom code on a public product: its own names, which must look like names, and types."""
    names = [n for n in schema.names if n != GROUP_ROWS_COLUMN]
    if not names or len(names) > MAX_COLUMNS or len(set(names)) != len(names) or not all(NAME.match(n) for n in names):
        return Breach(OUTPUT_COLUMNS, f"column names must be 1..{MAX_COLUMNS} distinct names matching {NAME.pattern}")
    return OutputContract(tuple(ContractColumn(n, type_of(schema.field(n).type)) for n in names), derived=True)


def _fresh(column: pa.ChunkedArray, kind: pa.DataType) -> pa.Array:
    """The column cast to its release type in new buffers: a gather copies only the values its slots hold."""
    # Safe casts: a value that does not fit raises. Nanoseconds to microseconds only truncates.
    truncating = pa.types.is_timestamp(column.type) and column.type.unit == "ns"
    array = column.cast(kind, safe=not truncating).combine_chunks()
    return array.take(pa.array(np.arange(len(array), dtype=np.int64)))


def conform(output: pa.Table, contract: OutputContract | None) -> tuple[pa.Table, OutputContract] | Breach:
    """The output as its contract releases it (and the contract used), or why it does not fit."""
    # A column of nulls only (an empty list's type) holds nothing: it takes its declared type, or string.
    kinds = {field.name: STRING if pa.types.is_null(field.type) else type_of(field.type) for field in output.schema}
    if output.num_columns > MAX_COLUMNS + 1 or len(kinds) != output.num_columns:
        return Breach(OUTPUT_COLUMNS, f"an output has at most {MAX_COLUMNS} columns, each name once")
    if any(kind is None for kind in kinds.values()):
        return Breach(OUTPUT_TYPE, "a column is not a flat column of bool, int64, float64, decimal, string, date or timestamp")
    if contract is None:
        contract = derived_contract(output.schema)
        if isinstance(contract, Breach):
            return contract
    if set(kinds) - {GROUP_ROWS_COLUMN} != set(contract.names):
        return Breach(OUTPUT_COLUMNS, "the output's columns are not the ones its contract names")
    if kinds.get(GROUP_ROWS_COLUMN, INT) != INT:
        return Breach(OUTPUT_TYPE, f"{GROUP_ROWS_COLUMN} must be an integer column")
    nulls = {f.name for f in output.schema if pa.types.is_null(f.type)}
    released = [c for c in contract.columns if c.type is not None and kinds[c.name] != c.type and c.name not in nulls]
    if released:
        return Breach(OUTPUT_TYPE, "a column's type is not the type its contract declares")
    names = list(contract.names) + ([GROUP_ROWS_COLUMN] if GROUP_ROWS_COLUMN in kinds else [])
    declared = {c.name: c for c in contract.columns}
    arrays = []
    try:
        for name in names:
            column = output.column(name)
            scale = declared[name].scale if name in declared else None
            kind = declared[name].type if name in nulls and declared[name].type else kinds[name]
            if name in nulls and scale is None:
                scale = 0  # a null column has no scale of its own to keep
            arrays.append(_fresh(column, _release_type(kind, column.type, scale)))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return Breach(OUTPUT_TYPE, "a column's values do not fit its contract type (overflow or lost digits)")
    return pa.Table.from_arrays(arrays, names=names), contract


def _aggregate_contract(args: dict, schema: pa.Schema) -> OutputContract:
    columns = [ContractColumn(key, None) for key in args["keys"]]
    for column, function in args["aggregations"]:
        source = type_of(schema.field(column).type) if column in schema.names else None
        if function == "count":
            kind = INT
        elif function in ("sum", "min", "max") or (function == "mean" and source == DECIMAL):
            kind = None  # the input's type: an integer sum, a decimal, a date
        else:
            kind = FLOAT  # a percentile, a mean of numbers
        columns.append(ContractColumn(f"{column}_{function}", kind))
    return OutputContract(tuple(columns))


def builtin_contract(job: SandboxJob, schema: pa.Schema) -> OutputContract | None:
    """The contract a built-in kind fixes (None for custom code: the approved analysis's, or derived)."""
    if job.kind == "aggregate":
        return _aggregate_contract(job.args, schema)
    if job.kind == "verify":
        return OutputContract.of([("holds", BOOL)])
    if job.kind == "model":
        return OutputContract.of([("name", STRING), ("role", STRING), ("value", FLOAT)])
    return None
