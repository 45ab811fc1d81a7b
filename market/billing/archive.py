"""The usage archive: billed stream entries kept on disk, so the usage stream can be trimmed.

The usage stream is the exchange's inbox, not its record. Once a batch is posted or
dead-lettered and the audit chainer has read it, its entry only costs Redis memory (a
signed Arrow IPC batch: kilobytes each). Before the biller handles a read, it appends the
entries to the day's segment file and fsyncs, so an entry is on disk before it is
acknowledged. `trim_billed` then drops the entries that no one still needs: every entry
before the oldest one pending, not yet delivered, or not yet chained into the audit log.

A segment (`usage-YYYYMMDD.seg`) is a run of frames: u32 body length, u32 CRC-32 of the
body, then the body: the entry id and each field as (u16 name length, name, u32 value
length, value). A crash mid-write leaves a torn last frame; readers stop at it, and the
entry, never acknowledged, is archived again on redelivery. Readers therefore keep the
first copy of each batch id.
"""

from __future__ import annotations

import os
import pathlib
import struct
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence

import redis

from shuniu.security.audit_chain import AUDIT_CURSORS_KEY

__all__ = ["UsageArchive", "trim_billed", "trim_floor"]

_HEAD = struct.Struct("<II")
_NAME = struct.Struct("<H")
_VALUE = struct.Struct("<I")
Entry = tuple[str, Mapping[bytes, bytes]]


def _frame(entry_id: str, fields: Mapping[bytes, bytes]) -> list[bytes]:
    """One entry's frame as a list of parts (header first), so that no batch is copied to build it."""
    parts = [_NAME.pack(len(entry_id)), entry_id.encode()]
    for name, value in fields.items():
        parts += [_NAME.pack(len(name)), name, _VALUE.pack(len(value)), value]
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    return [_HEAD.pack(sum(map(len, parts)), crc), *parts]


def _write_all(fd: int, parts: list[bytes]) -> None:
    """Writes the parts in order with writev (at most IOV_MAX at a time), finishing any short write."""
    limit, at = os.sysconf("SC_IOV_MAX"), 0
    while at < len(parts):
        written = os.writev(fd, parts[at:at + limit])
        while at < len(parts) and written >= len(parts[at]):
            written -= len(parts[at])
            at += 1
        if written:
            parts[at] = memoryview(parts[at])[written:]


def _decode(body: bytes) -> Entry:
    view, at = memoryview(body), 0

    def take(width: struct.Struct) -> bytes:
        nonlocal at
        (size,) = width.unpack_from(view, at)
        at += width.size + size
        return bytes(view[at - size:at])

    entry_id = take(_NAME).decode()
    fields = {}
    while at < len(body):
        name = take(_NAME)
        fields[name] = take(_VALUE)
    return entry_id, fields


class UsageArchive:
    """Append-only day segments of usage stream entries under `directory`."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def append(self, entries: Sequence[Entry]) -> None:
        """Writes `entries` to today's segment (one writev, no copy of the batches) and fsyncs before returning."""
        if not entries:
            return
        path = self.directory / f"usage-{time.strftime('%Y%m%d', time.gmtime())}.seg"
        parts = [part for entry_id, fields in entries for part in _frame(entry_id, fields)]
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            _write_all(fd, parts)
            os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self) -> Iterator[Entry]:
        """Every archived entry, segment by segment in day order, stopping at a torn frame's tail."""
        for path in sorted(self.directory.glob("usage-*.seg")):
            data, at = path.read_bytes(), 0
            while at + _HEAD.size <= len(data):
                size, crc = _HEAD.unpack_from(data, at)
                body = data[at + _HEAD.size:at + _HEAD.size + size]
                if len(body) < size or zlib.crc32(body) != crc:
                    break  # torn by a crash mid-write; never acknowledged, so archived again later
                yield _decode(body)
                at += _HEAD.size + size


def _after(entry_id: str) -> str:
    """The smallest stream id greater than `entry_id`."""
    ms, seq = entry_id.split("-")
    return f"{ms}-{int(seq) + 1}"


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


def trim_floor(client: redis.Redis, stream: str, group: str, chainer_source: str = "usage") -> str | None:
    """The oldest entry id someone still needs (pending, undelivered or unchained); None: keep everything."""
    chained = client.hget(AUDIT_CURSORS_KEY, chainer_source)
    if not chained:
        return None  # no audit chainer has read the stream yet
    try:
        groups = {g["name"].decode() if isinstance(g["name"], bytes) else g["name"]: g for g in client.xinfo_groups(stream)}
    except redis.ResponseError:
        return None
    if group not in groups:
        return None
    delivered = groups[group]["last-delivered-id"]
    floors = [_after(chained.decode()), _after(delivered.decode() if isinstance(delivered, bytes) else delivered)]
    pending = client.xpending(stream, group)
    if pending["pending"]:
        oldest = pending["min"]
        floors.append(oldest.decode() if isinstance(oldest, bytes) else oldest)
    return min(floors, key=_id_key)


def trim_billed(client: redis.Redis, stream: str, group: str) -> int:
    """Drops the entries before `trim_floor`; returns how many went. Call only once they are archived."""
    floor = trim_floor(client, stream, group)
    if floor is None or floor == "0-1":
        return 0
    return int(client.xtrim(stream, minid=floor, approximate=False))
