"""The leak check behind the contract: raw values hidden in positions, types, names and transforms (pure, fast)."""

from __future__ import annotations

import base64
import datetime
import decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shuniu.nodes.sandbox.egress import (
    ALLOWED,
    DENY_DISGUISED_VALUE,
    DENY_OUTPUT_COLUMNS,
    DENY_RAW_VALUE,
    EgressPolicy,
    check_egress,
)
from shuniu.nodes.sandbox.profile import profile_input

_RNG = np.random.default_rng(18)
N = 120
IDS = [f"EID{v:08d}" for v in _RNG.choice(10**8, N, replace=False)]
ID_NUMBERS = [int(v) for v in _RNG.integers(410100190001010000, 419999201012319999, N)]
PHONES = [f"13{v:09d}" for v in _RNG.choice(10**9, N, replace=False)]
AMOUNTS = _RNG.integers(10**5, 10**9, N)  # fen: irregular, as real amounts are
INPUT = pa.table({"enterprise_id": IDS, "id_number": ID_NUMBERS, "phone": PHONES, "amount_fen": AMOUNTS,
                  "city": [["Zhengzhou", "Luoyang", "Kaifeng"][i % 3] for i in range(N)]})
PROFILE = profile_input(INPUT, ["id_number", "phone", "amount_fen"], ["enterprise_id"])
OPEN = EgressPolicy(min_group_rows=1, max_rows=1000)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


@pytest.mark.parametrize(
    ("output", "code"),
    [
        (pa.table({"x": [IDS[3][::-1]]}), DENY_DISGUISED_VALUE),
        (pa.table({"x": [_b64(IDS[3])]}), DENY_DISGUISED_VALUE),
        (pa.table({"x": [base64.urlsafe_b64encode(PHONES[4].encode()).decode().rstrip("=")]}), DENY_DISGUISED_VALUE),
        (pa.table({"x": [IDS[5].encode().hex().upper()]}), DENY_DISGUISED_VALUE),
        (pa.table({"x": [hex(ID_NUMBERS[6])]}), DENY_DISGUISED_VALUE),
        (pa.table({"x": [base64.b64encode(ID_NUMBERS[6].to_bytes(8, "big")).decode()]}), DENY_DISGUISED_VALUE),
        (pa.table({"a": [IDS[7][:4], "x"], "n": [1.5, 2.5], "b": [IDS[7][4:], "y"]}), DENY_DISGUISED_VALUE),
        (pa.table({"a": ["x", PHONES[8][:5], PHONES[8][5:], "y"]}), DENY_DISGUISED_VALUE),
        (pa.table({"hi": [ID_NUMBERS[9] // 10**9], "lo": [ID_NUMBERS[9] % 10**9]}), DENY_DISGUISED_VALUE),
        (pa.table({"note": [f"holder {IDS[10]} ok"]}), DENY_DISGUISED_VALUE),
        (pa.table({"note": [str(ID_NUMBERS)]}), DENY_DISGUISED_VALUE),
        (pa.table({f"c_{IDS[11]}": [1.5]}), DENY_DISGUISED_VALUE),
        (pa.table({IDS[11]: [1.5]}), DENY_RAW_VALUE),
        (pa.table({IDS[11][::-1]: [1.5]}), DENY_OUTPUT_COLUMNS),
        (pa.table({"x": AMOUNTS + 12_345}), DENY_DISGUISED_VALUE),
        (pa.table({"x": 99_999 - AMOUNTS}), DENY_DISGUISED_VALUE),
        (pa.table({"x": AMOUNTS * 3}), DENY_DISGUISED_VALUE),
        (pa.table({"x": AMOUNTS / 100.0}), DENY_DISGUISED_VALUE),
        (pa.table({"x": AMOUNTS * 2.5 + 17.25}), DENY_DISGUISED_VALUE),
        (pa.table({"x": (np.sort(AMOUNTS)[40:44] + 7).astype(str)}), DENY_DISGUISED_VALUE),
    ],
    ids=["id-reversed", "id-base64", "phone-base64-urlsafe-unpadded", "id-hex-upper", "id-number-in-base-16",
         "id-number-bytes-base64", "id-split-across-columns", "phone-split-across-rows", "id-number-split-in-two-integers",
         "id-inside-a-sentence", "every-id-number-in-one-cell", "id-inside-a-column-name", "id-as-a-column-name",
         "reversed-id-as-a-column-name", "amounts-shifted", "amounts-negated-and-shifted", "amounts-scaled",
         "amounts-in-yuan", "amounts-affine", "four-neighbouring-amounts-shifted-as-text"],
)  # fmt: skip
def test_each_disguise_is_refused_without_saying_what(output, code):
    verdict = check_egress(output, PROFILE, OPEN)
    assert verdict.code == code, verdict.message
    assert not any(v in verdict.message for v in [*IDS, *PHONES, *map(str, ID_NUMBERS), *map(str, AMOUNTS)])


@pytest.mark.parametrize(
    "output",
    [
        pa.table({"city": ["Zhengzhou", "Luoyang"], "kwh_sum": [123456.75, 98765.5], "n": [40, 80]}),
        pa.table({"year": [2019, 2020, 2021, 2022, 2023]}),
        pa.table({"n": list(range(1000, 1200))}),
        pa.table({"total_fen": list(range(10**6, 10**6 + 7919 * 50, 7919))}),
        pa.table({"day": [datetime.date(2026, 1, d) for d in range(1, 29)]}),
        pa.table({"fen": pa.array([decimal.Decimal("1234.56"), decimal.Decimal("99.01")], pa.decimal128(10, 2))}),
        pa.table({"note": ["Zhengzhou has 1234 firms", "growth 12.5% in 2024", "eid unknown"]}),
        pa.table({"code": ["deadbeef", "cafe", "Zm9vYmFy", "SGVsbG8="]}),
        pa.table({"share": list(np.linspace(0.01, 0.99, 60))}),
    ],
    ids=["aggregate", "years", "consecutive-counts", "a-progression", "dates", "decimals", "sentences",
         "hex-and-base64-of-other-text", "shares"],
)
def test_ordinary_answers_pass_the_disguise_checks(output):
    verdict = check_egress(output, PROFILE, OPEN)
    assert verdict.code == ALLOWED, verdict.message


# ---- property: a raw value hidden anywhere is never released ------------------------------

_TEXT_TRANSFORMS = {
    "same": lambda v: v, "upper": str.upper, "padded": lambda v: f"  {v} ", "reversed": lambda v: v[::-1],
    "base64": _b64, "base64-urlsafe-unpadded": lambda v: base64.urlsafe_b64encode(v.encode()).decode().rstrip("="),
    "hex": lambda v: v.encode().hex(), "hex-upper": lambda v: v.encode().hex().upper(),
}
_CARRIERS = ["cell", "embedded", "name", "list", "struct", "dictionary", "binary", "split-columns", "split-rows",
             "schema-metadata", "field-metadata"]
_STRIPPED = {"schema-metadata", "field-metadata"}  # released, but without the metadata
_fillers = st.lists(st.sampled_from(["ok", "Zhengzhou", "n/a", "2024", "east"]), min_size=0, max_size=6)


def _carry(carrier: str, text: str, fillers: list[str], at: int, cut: int) -> pa.Table:
    rows = fillers[:at] + [text] + fillers[at:]
    other = pa.array(np.linspace(0.1, 0.9, len(rows)))
    if carrier == "cell":
        return pa.table({"note": rows, "share": other})
    if carrier == "embedded":
        return pa.table({"note": [f"{r}:{r}" for r in rows[:at]] + [f"id={text};"] + rows[at + 1 :]})
    if carrier == "name":
        return pa.table({text: [0.5]})
    if carrier in ("list", "struct", "dictionary", "binary"):
        array = {"list": lambda: pa.array([rows], pa.list_(pa.string())), "struct": lambda: pa.array([{"a": text}]),
                 "dictionary": lambda: pa.array(rows).dictionary_encode(),
                 "binary": lambda: pa.array([r.encode() for r in rows], pa.binary())}[carrier]()
        return pa.table({"v": array})
    left, right = text[:cut], text[cut:]
    if carrier == "split-columns":
        return pa.table({"b": fillers[:at] + [right] + fillers[at:], "share": other, "a": fillers[:at] + [left] + fillers[at:]})
    if carrier == "split-rows":
        return pa.table({"note": fillers[:at] + [left, right] + fillers[at:]})
    field = pa.field("share", pa.float64(), metadata={b"k": text.encode()} if carrier == "field-metadata" else None)
    schema = pa.schema([field], metadata={b"k": text.encode()} if carrier == "schema-metadata" else None)
    return pa.table({"share": other}, schema=schema)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(IDS + PHONES + [str(v) for v in ID_NUMBERS]), st.sampled_from(sorted(_TEXT_TRANSFORMS)),
       st.sampled_from(_CARRIERS), _fillers, st.data())
def test_a_raw_value_hidden_in_any_position_type_name_or_transform_is_never_released(value, transform, carrier,
                                                                                    fillers, data):
    text = _TEXT_TRANSFORMS[transform](value)
    at = data.draw(st.integers(0, len(fillers)), label="row")
    cut = data.draw(st.integers(1, len(text) - 1), label="split at")
    verdict = check_egress(_carry(carrier, text, fillers, at, cut), PROFILE, OPEN)
    secrets = {value, text, text.strip()}
    assert not any(s in verdict.message for s in secrets), "a refusal repeated the value"
    if carrier in _STRIPPED:
        assert verdict.allowed and not any(s.encode() in _ipc(verdict.table) for s in secrets)
    else:
        assert not verdict.allowed, f"released {value} as {transform} in {carrier}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["shift", "scale", "affine", "negate"]), st.sampled_from(["int64", "float64", "decimal", "string"]),
       st.integers(-10**9, 10**9), st.floats(0.01, 1000.0), st.integers(3, N), st.data())
def test_sensitive_amounts_shifted_or_scaled_across_a_column_are_never_released(how, kind, offset, factor, count, data):
    count = max(count, 4) if how == "affine" else count  # a·x + b needs four neighbours, the others three
    start = data.draw(st.integers(0, N - count), label="first of the neighbouring amounts")
    chosen = np.sort(AMOUNTS)[start : start + count]  # neighbours in the input's order: what a range query returns
    if how in ("scale", "affine") and kind in ("int64", "decimal", "string"):
        factor = float(max(2, round(factor)))  # integers stay integers
    values = {"shift": chosen + offset, "negate": offset - chosen, "scale": chosen * factor,
              "affine": chosen * factor + offset}[how]
    values = data.draw(st.permutations(list(values)), label="row order")
    array = {"int64": lambda: pa.array(np.asarray(values, np.float64).round().astype(np.int64)),
             "float64": lambda: pa.array(np.asarray(values, np.float64)),
             "decimal": lambda: pa.array([decimal.Decimal(int(round(v))) for v in values], pa.decimal128(20, 0)),
             "string": lambda: pa.array([str(int(round(v))) for v in values])}[kind]()
    verdict = check_egress(pa.table({"score": array}), PROFILE, OPEN)
    assert not verdict.allowed, f"released {count} amounts {how} as {kind}"
    assert not any(str(a) in verdict.message for a in chosen)
