"""The record-id hash and the repeat finder: published SipHash-2-4 vectors, the kernels against their twins."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shuniu.market.billing.record_ids import expired_periods, record_hashes, siphash24
from shuniu.market.billing.record_index import _Table

# Aumasson and Bernstein, "SipHash: a fast short-input PRF" (2012): key 00 01 … 0f, message 00 01 … (n-1).
_KEY = (int.from_bytes(bytes(range(8)), "little"), int.from_bytes(bytes(range(8, 16)), "little"))
_PUBLISHED = [(0, 0x726FDB47DD0E0E31), (1, 0x74F839C593DC67FD), (2, 0x0D6C8009D9A94F5A),
              (15, 0xA129CA6149BE45E5), (63, 0x958A324CEB064572)]


@pytest.mark.parametrize("length, expected", _PUBLISHED, ids=[f"{n}-bytes" for n, _ in _PUBLISHED])
def test_the_hash_is_siphash_2_4_as_published(length, expected):
    message = bytes(range(length))
    assert siphash24(message, *_KEY) == expected
    assert int(record_hashes(pa.array([message], pa.binary()), _KEY)[0]) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=40), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1),
       st.integers(0, 5))
def test_the_hash_kernel_equals_its_twin_on_any_bytes_and_any_key(messages, k0, k1, skip):
    array = pa.array(messages, pa.binary()).slice(min(skip, len(messages)))  # an array with an offset, as sliced batches have
    got = record_hashes(array, (k0, k1)).tolist()
    assert got == [siphash24(m, k0, k1) for m in messages[min(skip, len(messages)):]]


def test_another_key_gives_other_hashes():
    ids = pa.array([f"r-{n}" for n in range(100)])
    assert not np.intersect1d(record_hashes(ids, _KEY), record_hashes(ids, (_KEY[0] + 1, _KEY[1]))).size


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 2**64 - 1), max_size=300), max_size=30), st.integers(0, 2**64 - 1))
def test_the_index_finds_a_hash_it_was_given_before_in_any_earlier_batch_or_earlier_in_the_same(batches, common):
    table, seen = _Table(slots=16), set()  # a small table: grown many times over
    for values in [*batches, [common, common]]:
        expected = []
        for v in values:
            expected.append(v in seen)
            seen.add(v)
        assert table.add(np.array(values, dtype=np.uint64)).tolist() == expected
    assert table.count == len(seen)


_DAY = 86_400_000


@pytest.mark.parametrize("closed, now_ms, retention_ms, expected", [
    ({}, 10 * _DAY, _DAY, set()),
    ({"2026-10": 5 * _DAY}, 10 * _DAY, 6 * _DAY, set()),
    ({"2026-10": 5 * _DAY}, 11 * _DAY, 6 * _DAY, {"2026-10"}),
    ({"2026-10": 5 * _DAY, "2026-11": 9 * _DAY}, 12 * _DAY, 6 * _DAY, {"2026-10"}),
    ({"2026-11": 9 * _DAY}, 9 * _DAY, 0, {"2026-11"}),
], ids=["nothing-closed", "closed-within-retention", "closed-exactly-retention-ago", "one-of-two", "no-retention"])
def test_a_period_is_forgotten_once_closed_for_the_retention(closed, now_ms, retention_ms, expected):
    assert expired_periods(closed, now_ms, retention_ms) == expected
