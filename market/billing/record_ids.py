"""Each record_id billed once, whatever batch carries it: keyed 64-bit hashes of record ids, per usage period.

usage.proto promises that a record_id is rated and billed exactly once. The ledger keeps, per usage
period (the CST month a record's use ended in), a log of the 8-byte SipHash-2-4 of every record_id
it billed (`shuniu:ledger:records:<period>`, a Redis string), appended by the posting script in the
same atomic step as the postings (post_batch.lua), so a crash neither loses nor doubles a record.
The biller checks each batch's hashes against its index of those logs (record_index.py): a record
whose hash is there, or in a posting in flight, or earlier in its own batch, is a repeat: it is left
out of the batch, and the rest is billed.

The hash is keyed with 16 random bytes the exchange keeps in its Redis (never sent to a node), so
that nobody outside can make two record ids collide on purpose; by chance, two of a billion ids
in one period collide with a probability under 3 %, and the one collision would be left unbilled
(the buyer's favour) and audited like any repeat.

Retention: a period's log is kept until `retention_ms` after settlement closed the period, then
forgotten; from then on a record of that period is refused as too late (left out, counted, audited)
rather than billed a second time unnoticed. Redis holds 8 bytes a record, each biller ~16-32 in its
index, for the periods still open or closed within the retention.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import redis

from shuniu.market.ledger import ledger_key
from shuniu.market.ledger.periods import month_name, periods_of_ms
from shuniu.market.ledger.store import records_key
from shuniu.protos.usage_schema import column_base

__all__ = ["RECORD_KEY", "RECORD_RETENTION_MS", "REFUSAL_REASONS", "RecordClaims", "claim_records", "expired_periods",
           "forget_expired", "record_hashes", "record_key", "siphash24"]

RECORD_RETENTION_MS = 31 * 86_400_000  # a period's record ids are kept this long after settlement closed it
RECORD_KEY = ledger_key("record_key")  # 16 random bytes: the key of the record-id hash, made once
_MASK = (1 << 64) - 1
REFUSAL_REASONS = ("repeat", "too_late")  # why a record is left out of its batch (a metric label, an audit action)
MAX_NAMED_IDS = 20  # record ids a batch's summary names per reason (the count is always exact)


@dataclass(frozen=True, eq=False)
class RecordClaims:
    """Which records of a batch are billed: per record its hash, usage period and whether it is left out, and why."""

    record_ids: pa.Array
    hashes: np.ndarray  # uint64 per record
    period_code: np.ndarray  # per record: index into `periods`
    periods: list[str]  # the usage periods ("YYYY-MM") the batch's records fall in
    repeat: np.ndarray  # bool per record: its record_id was billed before, is in a posting in flight, or came earlier in the batch
    late: np.ndarray  # bool per record: its period's record log is forgotten

    @functools.cached_property
    def keep(self) -> np.ndarray | None:
        """bool per record, None when every record is kept."""
        out = self.repeat | self.late
        return ~out if out.any() else None

    @property
    def kept(self) -> int:
        return len(self.hashes) if self.keep is None else int(self.keep.sum())

    @property
    def refused(self) -> dict[str, int]:
        """reason -> records left out, for the reasons that left any out."""
        counts = {"repeat": int(self.repeat.sum()), "too_late": int(self.late.sum())} if self.keep is not None else {}
        return {reason: n for reason, n in counts.items() if n}

    def summary(self) -> dict:
        """What the batch's ledger summary (and so its audit entry) says of the records left out."""
        out = {}
        for reason, mask in (("repeat", self.repeat), ("too_late", self.late)):
            if self.keep is not None and mask.any():
                out[f"{reason}_records"] = int(mask.sum())
                out[f"{reason}_record_ids"] = self.record_ids.filter(pa.array(mask)).slice(0, MAX_NAMED_IDS).to_pylist()
        return out

    def logs(self) -> list[tuple[str, bytes]]:
        """(period, the kept records' hashes as 8-byte big-endian words) per period with a kept record."""
        if len(self.periods) == 1 and self.keep is None:
            return [(self.periods[0], self.hashes.astype(">u8").tobytes())]
        keep = np.ones(len(self.hashes), np.bool_) if self.keep is None else self.keep
        out = [(p, self.hashes[keep & (self.period_code == k)].astype(">u8").tobytes()) for k, p in enumerate(self.periods)]
        return [(p, blob) for p, blob in out if blob]

    def again(self, tails: Mapping[str, np.ndarray], expired: Collection[str]) -> RecordClaims:
        """The claims once the records in `tails` (per period: hashes other billers appended since) are found billed
        and the periods in `expired` forgotten."""
        keep = ~(self.repeat | self.late)
        repeat, late = self.repeat.copy(), self.late.copy()
        for k, period in enumerate(self.periods):
            mine = keep & (self.period_code == k)
            if period in expired:
                late |= mine
            elif len(tails.get(period, ())):
                repeat |= mine & np.isin(self.hashes, tails[period])
        return RecordClaims(self.record_ids, self.hashes, self.period_code, self.periods, repeat, late)


def claim_records(batch: pa.RecordBatch, key: tuple[int, int], index, expired: Collection[str] = ()) -> RecordClaims:
    """The records of a batch to bill, checked against (and added to) `index` (record_index.RecordIndex): not one
    billed before or in a posting in flight, nor the second of a record id within the batch, nor one with usage
    in an `expired` period."""
    ids = batch.column("record_id")
    hashes = record_hashes(ids, key)
    end = batch.column("end_unix_ms").to_numpy().astype(np.int64) + column_base(batch.schema.field("end_unix_ms"))
    months = periods_of_ms(end)
    if len(months) and months.min() == months.max():  # the usual batch: one month
        values, code = months[:1], np.zeros(len(months), np.int64)
    else:
        values, code = np.unique(months, return_inverse=True)
    periods = [month_name(int(m)) for m in values]
    repeat, late = np.zeros(len(hashes), np.bool_), np.zeros(len(hashes), np.bool_)
    for k, period in enumerate(periods):
        mine = slice(None) if len(periods) == 1 else code == k
        if period in expired:
            late[mine] = True
        else:
            repeat[mine] = index.claim(period, hashes[mine])
    return RecordClaims(ids, hashes, code, periods, repeat, late)


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


@functools.cache
def _kernels():
    # Numba loads on first use, as for the other kernels the biller compiles (usage_schema's).
    from numba import njit

    return (njit(cache=True, nogil=True)(_siphash_all),)
