"""The cold stores of the control plane: finished jobs and sealed audit entries in SQLite files.

Two files per Redis data set (see market/ledger/cold.py for where they live and why SQLite):

  jobs.sqlite   jobs(job_id, submitted_ms, buyer_id, grant_id, job, result, request_id,
                request_fp, request_resp): a finished job's record, its released output and
                the idempotency record of the submit that made it, indexed as Redis indexed
                it (newest first, by buyer, by grant)
  audit.sqlite  entries(seq, entry): the sealed prefix of the hash chain, as stored in Redis;
                refs(ref, seq): the per-subject index of those entries

Rows are written with INSERT OR REPLACE of the bytes read from Redis, so moving a thing twice
(a mover killed after its commit, before its Redis delete) stores it once.
`ColdStores` is the asynchronous face the control plane uses: one thread owns the
connections, so SQLite's fsync never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import pathlib
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import redis.asyncio as aioredis
from shuniu.market.ledger.cold import (
    COLD_DATASET_KEY,
    LedgerCold,
    connect,
    dataset_directory,
    new_dataset_id,
)

__all__ = ["ColdAudit", "ColdJobs", "ColdStores", "IndexKey", "JobRow"]

T = TypeVar("T")
# (job_id, submitted_ms, buyer_id, grant_id, job bytes, result bytes | None, request_id, fp | None, response | None)
JobRow = tuple[str, int, str, str, bytes, bytes | None, str, bytes | None, bytes | None]
# A place in a listing, newest first: (submitted ms, job id); listing goes on strictly after it.
IndexKey = tuple[int, str]

_JOBS_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, submitted_ms INTEGER NOT NULL, buyer_id TEXT NOT NULL,
    grant_id TEXT NOT NULL, job BLOB NOT NULL, result BLOB, request_id TEXT NOT NULL, request_fp BLOB, request_resp BLOB);
CREATE INDEX IF NOT EXISTS jobs_by_time ON jobs (submitted_ms, job_id);
CREATE INDEX IF NOT EXISTS jobs_by_buyer ON jobs (buyer_id, submitted_ms, job_id);
CREATE INDEX IF NOT EXISTS jobs_by_grant ON jobs (grant_id, submitted_ms, job_id);
"""
_AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (seq INTEGER PRIMARY KEY, entry BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS refs (ref TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (ref, seq)) WITHOUT ROWID;
"""
_INDEX_COLUMN = {"buyer": "buyer_id", "grant": "grant_id"}
_READ_CHUNK = 500  # SQLite's bound on host parameters is 32,766; stay far below


def _write(conn: sqlite3.Connection, sql: str, rows: Iterable[tuple]) -> None:
    """One durable transaction (fsync at commit, synchronous=FULL)."""
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows)


def _in_chunks(conn: sqlite3.Connection, sql: str, values: Sequence) -> list[tuple]:
    """Runs `sql` (with one `{}` for the placeholders of an IN list) over `values` a chunk at a time."""
    found: list[tuple] = []
    for start in range(0, len(values), _READ_CHUNK):
        chunk = values[start:start + _READ_CHUNK]
        found += conn.execute(sql.format(",".join("?" * len(chunk))), chunk).fetchall()
    return found


class ColdJobs:
    """Finished jobs moved out of Redis."""

    def __init__(self, path: pathlib.Path) -> None:
        self.conn = connect(path)
        self.conn.executescript(_JOBS_SCHEMA)

    def put_many(self, rows: Sequence[JobRow]) -> None:
        _write(self.conn, "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def jobs(self, job_ids: Sequence[str]) -> dict[str, bytes]:
        """Job id -> serialized Job of those held here."""
        rows = _in_chunks(self.conn, "SELECT job_id, job FROM jobs WHERE job_id IN ({})", list(job_ids))
        return {job_id: bytes(raw) for job_id, raw in rows}

    def result(self, job_id: str) -> bytes | None:
        row = self.conn.execute("SELECT result FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def requests(self, job_ids: Sequence[str]) -> dict[str, tuple[bytes | None, bytes | None, bytes]]:
        """Job id -> (fingerprint, response, job) of the submits that made these jobs (the first two are
        None when the idempotency record had expired before the move)."""
        rows = _in_chunks(self.conn, "SELECT job_id, request_fp, request_resp, job FROM jobs WHERE job_id IN ({})",
                          list(job_ids))
        return {r[0]: (None if r[1] is None else bytes(r[1]), None if r[2] is None else bytes(r[2]), bytes(r[3]))
                for r in rows}

    def _where(self, index: tuple[str, str] | None) -> tuple[str, list]:
        if index is None:
            return "", []
        kind, value = index
        return f"{_INDEX_COLUMN[kind]} = ? AND ", [value]

    def page(self, index: tuple[str, str] | None, after: IndexKey | None, count: int) -> list[IndexKey]:
        """Up to `count` (submitted ms, job id) of an index (None: every job), newest first, strictly after `after`."""
        where, args = self._where(index)
        if after is not None:
            where += "(submitted_ms < ? OR (submitted_ms = ? AND job_id < ?)) AND "
            args += [after[0], after[0], after[1]]
        sql = f"SELECT submitted_ms, job_id FROM jobs WHERE {where}1 ORDER BY submitted_ms DESC, job_id DESC LIMIT ?"
        return [(int(ms), job_id) for ms, job_id in self.conn.execute(sql, [*args, count])]

    def count(self, index: tuple[str, str] | None) -> int:
        where, args = self._where(index)
        return self.conn.execute(f"SELECT count(*) FROM jobs WHERE {where}1", args).fetchone()[0]

    def all_ids(self) -> set[str]:
        return {row[0] for row in self.conn.execute("SELECT job_id FROM jobs")}


class ColdAudit:
    """The sealed prefix of the audit chain and its per-subject index."""

    def __init__(self, path: pathlib.Path) -> None:
        self.conn = connect(path)
        self.conn.executescript(_AUDIT_SCHEMA)

    def put_entries(self, rows: Sequence[tuple[int, bytes]]) -> None:
        _write(self.conn, "INSERT OR REPLACE INTO entries VALUES (?, ?)", rows)

    def put_refs(self, rows: Sequence[tuple[str, int]]) -> None:
        _write(self.conn, "INSERT OR IGNORE INTO refs VALUES (?, ?)", rows)

    def entries(self, from_seq: int, to_seq: int) -> list[bytes]:
        """Stored entries with from_seq ≤ seq ≤ to_seq, by seq (a removed one is simply absent)."""
        rows = self.conn.execute("SELECT entry FROM entries WHERE seq BETWEEN ? AND ? ORDER BY seq",
                                 (from_seq, to_seq))
        return [bytes(r[0]) for r in rows]

    def entries_at(self, seqs: Sequence[int]) -> list[bytes]:
        return [bytes(r[1]) for r in sorted(_in_chunks(self.conn, "SELECT seq, entry FROM entries WHERE seq IN ({})",
                                                       list(seqs)))]

    def refs(self, ref: str) -> list[int]:
        return [r[0] for r in self.conn.execute("SELECT seq FROM refs WHERE ref = ? ORDER BY seq", (ref,))]


class ColdStores:
    """The cold files of the data set `client` holds, opened on first use; every call runs on one thread."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client
        self._directory: pathlib.Path | None = None
        self._opened: dict[str, object] = {}
        self._opening = asyncio.Lock()  # one connection per file, whoever asks first
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="cold-store")

    async def directory(self, create: bool = False) -> pathlib.Path | None:
        """The data set's cold directory; with `create`, one is named if there is none yet."""
        if self._directory is None:
            raw = await self.redis.get(COLD_DATASET_KEY)
            if raw is None and create:
                await self.redis.set(COLD_DATASET_KEY, new_dataset_id(), nx=True)
                raw = await self.redis.get(COLD_DATASET_KEY)
            self._directory = dataset_directory(raw)
        return self._directory

    async def _open(self, name: str, opener: Callable[[pathlib.Path], T], create: bool) -> T | None:
        if name in self._opened:
            return self._opened[name]  # type: ignore[return-value]
        async with self._opening:
            if name not in self._opened:
                directory = await self.directory(create)
                if directory is None or not (create or (directory / name).exists()):
                    return None
                self._opened[name] = await self.run(opener, directory / name)
        return self._opened[name]  # type: ignore[return-value]

    async def jobs(self, create: bool = False) -> ColdJobs | None:
        return await self._open("jobs.sqlite", ColdJobs, create)

    async def audit(self, create: bool = False) -> ColdAudit | None:
        return await self._open("audit.sqlite", ColdAudit, create)

    async def ledger(self, create: bool = False) -> LedgerCold | None:
        return await self._open("ledger.sqlite", LedgerCold, create)

    async def run(self, fn: Callable[..., T], *args) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        for store in self._opened.values():
            store.conn.close()  # type: ignore[attr-defined]
        self._opened.clear()


def open_cold_jobs(dataset_id: bytes | str | None) -> ColdJobs | None:
    """The cold jobs of a data set for a synchronous reader (the soak's audit, the owner lookup); None if none."""
    directory = dataset_directory(dataset_id)
    if directory is None or not (directory / "jobs.sqlite").exists():
        return None
    return ColdJobs(directory / "jobs.sqlite")
