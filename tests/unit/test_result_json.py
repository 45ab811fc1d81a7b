"""`shuniu run --json` and `jobs result --json`: every Arrow type a result can hold prints as valid JSON."""

from __future__ import annotations

import datetime
import decimal
import json

import pyarrow as pa
import pytest

from shuniu.cli._arrow_json import json_rows

UTC = datetime.timezone.utc


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (pa.array([True, None]), [True, None]),
        (pa.array([-(2**63), 2**63 - 1], pa.int64()), [-(2**63), 2**63 - 1]),
        (pa.array([2**64 - 1], pa.uint64()), [2**64 - 1]),
        (pa.array([0.25, float("nan"), float("inf"), float("-inf")]), [0.25, "nan", "inf", "-inf"]),
        (pa.array([decimal.Decimal("12345678901234567890.12")], pa.decimal128(38, 2)), ["12345678901234567890.12"]),
        (pa.array([decimal.Decimal("-0.000001")], pa.decimal256(40, 6)), ["-0.000001"]),
        (pa.array(["郑州", ""], pa.string()), ["郑州", ""]),
        (pa.array(["x"], pa.large_string()), ["x"]),
        (pa.array([datetime.date(2026, 12, 7)], pa.date32()), ["2026-12-07"]),
        (pa.array([datetime.date(1970, 1, 1)], pa.date64()), ["1970-01-01"]),
        (pa.array([datetime.datetime(2026, 12, 7, 8, 30, 0, 123456)], pa.timestamp("us")), ["2026-12-07T08:30:00.123456"]),
        (pa.array([datetime.datetime(2026, 12, 7, 8, 30, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
         ["2026-12-07T08:30:00+00:00"]),
        (pa.array([datetime.time(23, 59, 1)], pa.time32("s")), ["23:59:01"]),
        (pa.array([datetime.timedelta(seconds=90, microseconds=5)], pa.duration("us")), ["PT90.000005S"]),
        (pa.array([b"\x00\xff"], pa.binary()), ["AP8="]),
        (pa.array([[1, 2], None], pa.list_(pa.int64())), [[1, 2], None]),
        (pa.array([{"d": datetime.date(2026, 1, 2), "n": 1}]), [{"d": "2026-01-02", "n": 1}]),
        (pa.array([[("k", decimal.Decimal("1.5"))]], pa.map_(pa.string(), pa.decimal128(4, 1))), [[["k", "1.5"]]]),
        (pa.array(["a", "b", "a"]).dictionary_encode(), ["a", "b", "a"]),
        (pa.array([None, None], pa.null()), [None, None]),
        (pa.array([pa.MonthDayNano([1, 2, 3])], pa.month_day_nano_interval()), [{"months": 1, "days": 2, "nanoseconds": 3}]),
    ],
    ids=["bool", "int64-extremes", "uint64-max", "floats-and-non-finite", "decimal128-exact", "decimal256", "string",
         "large-string", "date32", "date64", "timestamp-naive", "timestamp-utc", "time", "duration", "binary-base64",
         "list", "struct", "map", "dictionary", "null", "interval"],
)  # fmt: skip
def test_every_arrow_type_prints_as_valid_json_keeping_its_value(array, expected):
    text = json.dumps(json_rows(pa.table({"v": array})), ensure_ascii=False, allow_nan=False)
    assert [row["v"] for row in json.loads(text)] == expected
