"""The biller's index of the record ids billed, per usage period: what the ledger's record logs hold, in memory.

The ledger keeps, per period, one Redis string: the 8-byte hashes of the records billed, appended by the
posting script with each batch (8 bytes a record; a Redis set would take ~50 and cost Redis ~1.5 µs a
record to grow). Checking a batch's records against the log happens here, in an open-addressing table
(~20-60 ns a record); the posting script appends only if the log still has the length this index read
and the postings in flight will leave, so a record another biller appended meanwhile is never missed:
the write is refused as stale, the index reads the log's new tail, and the batch is claimed again.
"""

from __future__ import annotations

import functools

import numpy as np
import redis

from shuniu.market.ledger.store import records_key

__all__ = ["RecordIndex"]

_MIN_SLOTS = 1 << 20  # 8 MB a period to start with: growing from small doubled the index's cost (measured)


class _Table:
    """An open-addressing set of uint64 values; an empty slot holds 0, and the value 0 is kept apart (`zero[0]`):
    one array to probe, one cache miss a lookup in a table far larger than the caches."""

    def __init__(self, slots: int = _MIN_SLOTS) -> None:
        self.values = np.zeros(slots, np.uint64)
        self.zero = np.zeros(1, np.bool_)
        self.count = 0

    def add(self, hashes: np.ndarray) -> np.ndarray:
        """Insert each hash; return per hash whether it was there already (an earlier one of `hashes` included)."""
        if 2 * (self.count + len(hashes)) > len(self.values):
            self._grow(self.count + len(hashes))
        found = np.zeros(len(hashes), np.bool_)
        self.count += _kernel()(self.values, self.zero, np.ascontiguousarray(hashes, dtype=np.uint64), found)
        return found

    def _grow(self, at_least: int) -> None:
        slots = len(self.values)
        while slots < 2 * at_least:
            slots *= 2
        old = self.values[self.values != 0]
        self.values, self.count = np.zeros(slots, np.uint64), int(self.zero[0])
        self.count += _kernel()(self.values, np.zeros(1, np.bool_), old, np.zeros(len(old), np.bool_))


class RecordIndex:
    """Per period: the hashes of the records billed (and of those in postings submitted), and the log length read."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._tables: dict[str, _Table] = {}
        self.known_len: dict[str, int] = {}  # bytes of the period's log this index holds, by the ledger's count

    def claim(self, period: str, hashes: np.ndarray) -> np.ndarray:
        """Add a batch's hashes of `period` to the index (reading its log the first time); return per hash whether
        it was billed before, or is in a posting submitted, or repeats an earlier hash of `hashes`."""
        table = self._tables.get(period)
        if table is None:
            raw = self.client.get(records_key(period)) or b""
            table = self._tables[period] = _Table()
            table.add(np.frombuffer(raw, dtype=">u8").astype(np.uint64))
            self.known_len[period] = len(raw)
        return table.add(hashes)

    def read_tail(self, period: str) -> np.ndarray:
        """The hashes appended to the period's log since this index last read it (another biller's), added to it."""
        if period not in self._tables:
            self.claim(period, np.zeros(0, np.uint64))
            return np.zeros(0, np.uint64)
        raw = self.client.getrange(records_key(period), self.known_len[period], -1)
        assert len(raw) % 8 == 0, f"the record log of {period} grew by {len(raw)} bytes, not whole 8-byte hashes"
        tail = np.frombuffer(raw, dtype=">u8").astype(np.uint64)
        self._tables[period].add(tail)
        self.known_len[period] += 8 * len(tail)
        return tail

    def landed(self, period: str, before: int, appended: int) -> None:
        """A posting of this biller appended `appended` bytes to the log at length `before`."""
        if period in self.known_len and before == self.known_len[period]:
            self.known_len[period] = before + appended

    def forget(self, periods=None) -> None:
        """Drop what is held (of `periods`, or all): read from Redis again when next needed."""
        for period in list(self._tables) if periods is None else periods:
            self._tables.pop(period, None)
            self.known_len.pop(period, None)


def _probe_add(values, zero, hashes, found):
    """Linear probing from the hash's own bits (keyed SipHash outputs: uniform already); returns how many were inserted."""
    mask = np.int64(len(values) - 1)
    added = 0
    for i in range(len(hashes)):
        h = hashes[i]
        if h == 0:
            found[i] = zero[0]
            added += 0 if zero[0] else 1
            zero[0] = True
            continue
        at = np.int64(h >> np.uint64(1)) & mask
        while values[at] != 0 and values[at] != h:
            at = (at + 1) & mask
        if values[at] == h:
            found[i] = True
        else:
            values[at] = h
            added += 1
    return added


@functools.cache
def _kernel():
    from numba import njit

    return njit(cache=True, nogil=True)(_probe_add)
