"""An analysis's declared parameters and output contract, and a job's parameter values. Pure.

Parameters are keyword arguments of `run(table, **params)`, so their names are Python
identifiers. Every declared parameter is required: an approved analysis runs only with values
its approver saw the bounds of. Output columns are flat primitive types (no nested, binary,
dictionary or extension types): the contract the sandbox holds every output to.
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Mapping, Sequence

from shuniu.market.analyses.errors import AnalysisRefusal, INVALID, invalid
from shuniu.protos.v1 import analyses_pb2

A = analyses_pb2
PARAMETER_TYPE_NAMES = {A.PARAMETER_TYPE_BOOL: "bool", A.PARAMETER_TYPE_INT64: "int64",
                        A.PARAMETER_TYPE_FLOAT64: "float64", A.PARAMETER_TYPE_STRING: "string"}
# The types an output leaves as (nodes/sandbox/contract.py releases every integer as int64, every float as
# float64): what an approval declares is what the buyer receives.
OUTPUT_TYPES = ("bool", "int64", "float64", "string", "date32")
MAX_PARAMETERS = 32
MAX_OUTPUT_COLUMNS = 256
MAX_CHOICES = 64
MAX_STRING_CHARS = 256
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
_PARAMETER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_INTEGER = re.compile(r"^[+-]?[0-9]{1,19}$")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def check_output_schema(columns: Sequence[analyses_pb2.OutputColumn]) -> None:
    if not 0 < len(columns) <= MAX_OUTPUT_COLUMNS:
        raise invalid("output_schema", f"output_schema has {len(columns)} columns; expected 1-{MAX_OUTPUT_COLUMNS} "
                      "flat columns, e.g. city:string,households:int64")
    seen: set[str] = set()
    for i, column in enumerate(columns):
        if not _COLUMN.match(column.name):
            raise invalid("output_schema", f"output_schema[{i}].name {column.name!r} is malformed; expected 1-63 "
                          "letters, digits or '_', not starting with a digit")
        if column.name in seen:
            raise invalid("output_schema", f"output_schema names {column.name!r} twice; expected each column once")
        seen.add(column.name)
        if column.arrow_type not in OUTPUT_TYPES:
            raise invalid("output_schema", f"output_schema[{i}] {column.name!r} has type {column.arrow_type!r}; "
                          f"expected a flat primitive type, one of {', '.join(OUTPUT_TYPES)}")


def _bound(declared: analyses_pb2.ParameterDeclaration, side: str) -> int | float | None:
    text = getattr(declared, side).strip()
    if not text:
        return None
    value = _number(declared.type, text)
    if value is None:
        raise invalid("parameters", f"parameter {declared.name!r}: {side} {text!r} is not a "
                      f"{PARAMETER_TYPE_NAMES[declared.type]}; expected a number of that type, or empty")
    return value


def _number(kind: int, text: str) -> int | float | None:
    text = text.strip()
    if kind == A.PARAMETER_TYPE_INT64:
        if not _INTEGER.match(text) or not INT64_MIN <= int(text) <= INT64_MAX:
            return None
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def check_declarations(declared: Sequence[analyses_pb2.ParameterDeclaration]) -> None:
    if len(declared) > MAX_PARAMETERS:
        raise invalid("parameters", f"{len(declared)} parameters; expected at most {MAX_PARAMETERS}")
    seen: set[str] = set()
    for d in declared:
        if not _PARAMETER.match(d.name) or keyword.iskeyword(d.name) or d.name == "table":
            raise invalid("parameters", f"parameter name {d.name!r} is malformed; expected a lower-case Python "
                          "identifier (not a keyword, not 'table'), passed as run(table, name=value)")
        if d.name in seen:
            raise invalid("parameters", f"parameter {d.name!r} is declared twice")
        seen.add(d.name)
        if d.type not in PARAMETER_TYPE_NAMES:
            raise invalid("parameters", f"parameter {d.name!r} has type {d.type}; expected one of "
                          f"{', '.join(PARAMETER_TYPE_NAMES.values())}")
        numeric = d.type in (A.PARAMETER_TYPE_INT64, A.PARAMETER_TYPE_FLOAT64)
        if not numeric and (d.min or d.max):
            raise invalid("parameters", f"parameter {d.name!r} ({PARAMETER_TYPE_NAMES[d.type]}) has a min or max; "
                          "only int64 and float64 parameters take a range")
        if d.type != A.PARAMETER_TYPE_STRING and d.choices:
            raise invalid("parameters", f"parameter {d.name!r} has choices; only string parameters take them")
        low, high = (_bound(d, "min"), _bound(d, "max")) if numeric else (None, None)
        if low is not None and high is not None and low > high:
            raise invalid("parameters", f"parameter {d.name!r}: min {d.min} is above max {d.max}")
        if len(d.choices) > MAX_CHOICES or len(set(d.choices)) != len(d.choices) \
                or any(len(c) > MAX_STRING_CHARS for c in d.choices):
            raise invalid("parameters", f"parameter {d.name!r}: expected at most {MAX_CHOICES} distinct choices of "
                          f"at most {MAX_STRING_CHARS} characters")


def describe(d: analyses_pb2.ParameterDeclaration) -> str:
    """'min_households:int64[5..500]', 'region:string{north|south}': how the CLI and messages show one."""
    text = f"{d.name}:{PARAMETER_TYPE_NAMES.get(d.type, '?')}"
    if d.min or d.max:
        text += f"[{d.min}..{d.max}]"
    if d.choices:
        text += "{" + "|".join(d.choices) + "}"
    return text


def parse_values(declared: Sequence[analyses_pb2.ParameterDeclaration], given: Mapping[str, str]
                 ) -> list[analyses_pb2.ParameterValue]:
    """The job's values typed by the declarations, in declaration order; refuses a missing, unknown or
    out-of-range value naming the parameter and what it allows."""
    names = {d.name for d in declared}
    unknown = sorted(set(given) - names)
    if unknown:
        raise _bad(f"parameter {unknown[0]!r} is not declared by the analysis; it takes "
                   f"{', '.join(describe(d) for d in declared) or 'no parameters'}")
    values = []
    for d in declared:
        if d.name not in given:
            raise _bad(f"parameter {d.name!r} is missing; expected a value for {describe(d)}")
        values.append(_value(d, given[d.name]))
    return values


def _bad(message: str) -> AnalysisRefusal:
    return AnalysisRefusal(INVALID, "parameter", message)


def _value(d: analyses_pb2.ParameterDeclaration, text: str) -> analyses_pb2.ParameterValue:
    value = analyses_pb2.ParameterValue(name=d.name)
    if d.type == A.PARAMETER_TYPE_BOOL:
        lowered = text.strip().lower()
        if lowered not in _TRUE + _FALSE:
            raise _bad(f"parameter {d.name!r} is {text!r}; expected true or false")
        value.bool_value = lowered in _TRUE
    elif d.type == A.PARAMETER_TYPE_STRING:
        if len(text) > MAX_STRING_CHARS or (d.choices and text not in d.choices):
            raise _bad(f"parameter {d.name!r} is not allowed; expected "
                       + (f"one of {', '.join(d.choices)}" if d.choices else f"at most {MAX_STRING_CHARS} characters"))
        value.string_value = text
    else:
        number = _number(d.type, text)
        low, high = _bound(d, "min"), _bound(d, "max")
        if number is None or (low is not None and number < low) or (high is not None and number > high):
            raise _bad(f"parameter {d.name!r} is {text!r}; expected {describe(d)}")
        if d.type == A.PARAMETER_TYPE_INT64:
            value.int64_value = int(number)
        else:
            value.float64_value = float(number)
    return value


def as_python(values: Sequence[analyses_pb2.ParameterValue]) -> dict[str, bool | int | float | str]:
    """The keyword arguments of run(table, **params)."""
    return {v.name: getattr(v, v.WhichOneof("value")) for v in values}
