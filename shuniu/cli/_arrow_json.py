"""A released Arrow table as plain JSON rows, whatever its column types.

`table.to_pylist()` gives dates, timestamps, decimals, bytes and NaN, which `json` cannot
write (or writes as invalid JSON). Each becomes a JSON value that keeps its meaning exactly.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import math
from typing import Any

import pyarrow as pa


def _duration(value: datetime.timedelta) -> str:
    """ISO 8601 seconds, exact to the microsecond: "PT90.000005S", "-PT1S"."""
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    whole, fraction = divmod(abs(micros), 1_000_000)
    digits = f".{fraction:06d}".rstrip("0") if fraction else ""
    return f"{'-' if micros < 0 else ''}PT{whole}{digits}S"


def _plain(value: Any) -> Any:
    """One value as JSON can hold it: ISO 8601 text for times, exact text for decimals, base64 for bytes."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # "nan", "inf", "-inf": JSON has no such number
    if isinstance(value, decimal.Decimal):
        return str(value)  # exact: a float would round the fen
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return _duration(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, pa.MonthDayNano):
        return {"months": value.months, "days": value.days, "nanoseconds": value.nanoseconds}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)  # a type Arrow may add later: its text, never a crash


def json_rows(table: pa.Table) -> list[dict[str, Any]]:
    """The table's rows as dicts of plain JSON values."""
    return [{name: _plain(v) for name, v in row.items()} for row in table.to_pylist()]
