"""Each record_id billed once, whatever batch carries it: keyed 64-bit hashes of record ids, per usage period.

usage.proto promises that a record_id is rated and billed exactly once. The ledger keeps, per usage
period (the CST month a record's use ended in), a Redis set of the 8-byte SipHash-2-4 of every
record_id it billed (`shuniu:ledger:records:<period>`); the posting script checks a batch's hashes
against it and adds them in the same atomic step as the postings (post_batch.lua), so a crash
neither loses nor doubles a record. A record whose hash is already there, or that repeats an
earlier record of its own batch, is a repeat: it is left out of the batch, and the rest is billed.

The hash is keyed with 16 random bytes the exchange keeps in its Redis (never sent to a node), so
that nobody outside can make two record ids collide on purpose; by chance, two of a billion ids
in one period collide with a probability under 3 %, and the one collision would be left unbilled
(the buyer's favour) and audited like any repeat.

Retention: a period's hashes are kept until `retention_ms` after settlement closed the period,
then forgotten; from then on a record of that period is refused as too late (left out, counted,
audited) rather than billed a second time unnoticed. Memory is ~60 bytes a record for the periods
still open or closed within the retention.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import redis

from shuniu.market.ledger import ledger_key
from shuniu.market.ledger.periods import month_name, parse_period, periods_of_ms
from shuniu.market.ledger.store import records_key
from shuniu.protos.usage_schema import column_base

__all__ = ["RECORD_KEY", "RECORD_RETENTION_MS", "REFUSAL_REASONS", "RecordClaims", "claim_records", "expired_periods",
           "first_occurrences", "forget_expired", "hashes_by_period", "record_hashes", "record_key", "siphash24"]

RECORD_RETENTION_MS = 31 * 86_400_000  # a period's record ids are kept this long after settlement closed it
RECORD_KEY = ledger_key("record_key")  # 16 random bytes: the key of the record-id hash, made once
_MASK = (1 << 64) - 1
REFUSAL_REASONS = ("repeat", "too_late")  # why a record is left out of its batch (a metric label, an audit action)
MAX_NAMED_IDS = 20  # record ids a batch's summary names per reason (the count is always exact)


@dataclass(frozen=True)
class RecordClaims:
    """Which records of a batch are billed, the hash of each of them, and what was left out."""

    keep: np.ndarray | None  # bool per record, None when every record is kept
    hashes: np.ndarray  # uint64 per kept record, in record order
    refused: dict[str, int] = field(default_factory=dict)  # reason -> records left out
    named: dict[str, list[str]] = field(default_factory=dict)  # reason -> the first MAX_NAMED_IDS of their ids

    @property
    def kept(self) -> int:
        return len(self.hashes)

    def summary(self) -> dict:
        """What the batch's ledger summary (and so its audit entry) says of the records left out."""
        out = {}
        for reason, count in self.refused.items():
            out[f"{reason}_records"] = count
            out[f"{reason}_record_ids"] = self.named[reason]
        return out


def claim_records(batch: pa.RecordBatch, key: tuple[int, int], billed_before: np.ndarray = np.zeros(0, np.uint64),
                  expired: Collection[str] = ()) -> RecordClaims:
    """The records of a batch to bill: not the second and later of a record id within the batch, nor one whose
    hash is in `billed_before` (the posting script found it billed), nor one with usage in an `expired` period."""
    ids = batch.column("record_id")
    hashes = record_hashes(ids, key)
    repeat = ~first_occurrences(hashes)
    if len(billed_before):
        repeat |= np.isin(hashes, billed_before)
    late = np.zeros(len(hashes), np.bool_)
    if expired:
        field_ = batch.schema.field("end_unix_ms")
        months = periods_of_ms(batch.column("end_unix_ms").to_numpy().astype(np.int64) + column_base(field_))
        late = np.isin(months, [parse_period(p) for p in expired]) & ~repeat
    if not (repeat.any() or late.any()):
        return RecordClaims(None, hashes)
    refused = {reason: mask for reason, mask in zip(REFUSAL_REASONS, (repeat, late)) if mask.any()}
    named = {reason: ids.filter(pa.array(mask)).slice(0, MAX_NAMED_IDS).to_pylist() for reason, mask in refused.items()}
    keep = ~(repeat | late)
    return RecordClaims(keep, hashes[keep], {r: int(m.sum()) for r, m in refused.items()}, named)


def record_key(client: redis.Redis) -> tuple[int, int]:
    """(k0, k1) of the record-id hash: made once by whichever biller asks first, the same for all after."""
    client.set(RECORD_KEY, secrets.token_bytes(16), nx=True)
    raw = client.get(RECORD_KEY)
    assert raw is not None and len(raw) == 16, f"{RECORD_KEY} holds {raw!r}; expected 16 bytes"
    return int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")


def expired_periods(closed: Mapping[str, int], now_ms: int, retention_ms: int) -> set[str]:
    """Periods whose record ids are forgotten by `now_ms`: closed at least `retention_ms` before it."""
    return {period for period, closed_ms in closed.items() if now_ms >= closed_ms + retention_ms}


def forget_expired(client: redis.Redis, closed: Mapping[str, int], now_ms: int, retention_ms: int,
                   margin_ms: int = 86_400_000) -> int:
    """Drop the record-id sets of periods expired a `margin_ms` ago (the posting script refuses their records
    from the moment they expire; the margin covers billers whose clocks differ); return how many were dropped."""
    keys = [records_key(p) for p in sorted(expired_periods(closed, now_ms - margin_ms, retention_ms))]
    return int(client.unlink(*keys)) if keys else 0


def record_hashes(record_ids: pa.Array, key: tuple[int, int]) -> np.ndarray:
    """uint64 SipHash-2-4 of each record id (a plain string array) under `key`."""
    offsets = np.frombuffer(record_ids.buffers()[1], dtype=np.int32)[record_ids.offset:][: len(record_ids) + 1]
    data = record_ids.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    return _kernels()[0](offsets, data, np.uint64(key[0]), np.uint64(key[1]))


def first_occurrences(hashes: np.ndarray) -> np.ndarray:
    """Per record: is its hash the first of its value in `hashes` (False for a repeat within the batch)."""
    return _kernels()[1](hashes)


def hashes_by_period(hashes: np.ndarray, month_code: np.ndarray, month_values: np.ndarray) -> list[tuple[str, bytes]]:
    """(period, the hashes of its records as 8-byte big-endian words) per period a batch's records fall in."""
    if len(month_values) == 1:
        return [(month_name(int(month_values[0])), hashes.astype(">u8").tobytes())]
    return [(month_name(int(m)), hashes[month_code == k].astype(">u8").tobytes()) for k, m in enumerate(month_values.tolist())]


# The kernels and their plain-Python twins ---------------------------------------------------------

def siphash24(message: bytes, k0: int, k1: int) -> int:
    """SipHash-2-4 of `message` (Aumasson and Bernstein, 2012): the plain-Python twin of the kernel."""
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]

    def rounds(n: int) -> None:
        for _ in range(n):
            v[0] = (v[0] + v[1]) & _MASK; v[1] = _rotl(v[1], 13) ^ v[0]; v[0] = _rotl(v[0], 32)  # noqa: E702
            v[2] = (v[2] + v[3]) & _MASK; v[3] = _rotl(v[3], 16) ^ v[2]  # noqa: E702
            v[0] = (v[0] + v[3]) & _MASK; v[3] = _rotl(v[3], 21) ^ v[0]  # noqa: E702
            v[2] = (v[2] + v[1]) & _MASK; v[1] = _rotl(v[1], 17) ^ v[2]; v[2] = _rotl(v[2], 32)  # noqa: E702

    tail = len(message) % 8
    words = [int.from_bytes(message[i:i + 8], "little") for i in range(0, len(message) - tail, 8)]
    words.append(((len(message) & 0xFF) << 56) | int.from_bytes(message[len(message) - tail:], "little"))
    for m in words:
        v[3] ^= m
        rounds(2)
        v[0] ^= m
    v[2] ^= 0xFF
    rounds(4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _MASK


def _siphash_all(offsets, data, k0, k1):
    """SipHash-2-4 of each string of an Arrow string array's (offsets, data) buffers."""
    n = len(offsets) - 1
    out = np.empty(n, np.uint64)
    r13, r16, r17, r21, r32 = np.uint64(13), np.uint64(16), np.uint64(17), np.uint64(21), np.uint64(32)
    r51, r48, r47, r43 = np.uint64(51), np.uint64(48), np.uint64(47), np.uint64(43)
    for i in range(n):
        lo, hi = offsets[i], offsets[i + 1]
        v0 = k0 ^ np.uint64(0x736F6D6570736575)
        v1 = k1 ^ np.uint64(0x646F72616E646F6D)
        v2 = k0 ^ np.uint64(0x6C7967656E657261)
        v3 = k1 ^ np.uint64(0x7465646279746573)
        words = (hi - lo) // 8 + 1  # the last holds the tail bytes and the length
        m = np.uint64(0)
        for w in range(words + 1):  # each word (2 rounds), then the finalisation (4 rounds)
            if w < words:
                m = np.uint64(0)
                at = lo + 8 * w
                for b in range(min(8, hi - at)):
                    m |= np.uint64(data[at + b]) << np.uint64(8 * b)
                if w == words - 1:
                    m |= np.uint64((hi - lo) & 0xFF) << np.uint64(56)
                v3 ^= m
                rounds = 2
            else:
                v2 ^= np.uint64(0xFF)
                rounds = 4
            for _ in range(rounds):
                v0 += v1
                v1 = ((v1 << r13) | (v1 >> r51)) ^ v0
                v0 = (v0 << r32) | (v0 >> r32)
                v2 += v3
                v3 = ((v3 << r16) | (v3 >> r48)) ^ v2
                v0 += v3
                v3 = ((v3 << r21) | (v3 >> r43)) ^ v0
                v2 += v1
                v1 = ((v1 << r17) | (v1 >> r47)) ^ v2
                v2 = (v2 << r32) | (v2 >> r32)
            if w < words:
                v0 ^= m
        out[i] = v0 ^ v1 ^ v2 ^ v3
    return out


def _first_of(hashes):
    """First occurrence of each value: one pass over an open-addressing set sized to twice the input."""
    n = len(hashes)
    size = 16
    while size < 2 * n:
        size *= 2
    used = np.zeros(size, np.bool_)
    seen = np.zeros(size, np.uint64)
    first = np.zeros(n, np.bool_)
    for i in range(n):
        h = hashes[i]
        at = np.int64((h ^ (h >> np.uint64(29))) & np.uint64(size - 1))
        while used[at] and seen[at] != h:
            at = (at + 1) & (size - 1)
        if not used[at]:
            used[at] = True
            seen[at] = h
            first[i] = True
    return first


@functools.cache
def _kernels():
    # Numba loads on first use, as for the other kernels the biller compiles (usage_schema's).
    from numba import njit

    jit = njit(cache=True, nogil=True)
    return jit(_siphash_all), jit(_first_of)
