"""The cold side of Redis: durable SQLite files under the state directory, and the ledger's rated lines in one.

Hot/cold retention moves what is finished and old out of Redis (the system of record for
what is live) into files of the control plane's state directory. Every cold file belongs to
one Redis data set: `shuniu:cold:dataset` holds a random id made by the first move, and the
files live in `$SHUNIU_STATE_DIR/cold/<id>/`. A Redis emptied or replaced by another data
set therefore never reads the cold files of the old one.

The files are SQLite in WAL mode with synchronous=FULL: a committed move is on disk (fsync)
before the mover deletes its Redis keys, and a crash mid-commit leaves the file as it was.

`ledger.sqlite` keeps the Arrow IPC of rated lines (`shuniu:ledger:lines:{batch}`), the
largest per-batch value of the ledger; `LedgerStore.lines` reads it when Redis no longer
holds a batch's lines.
"""

from __future__ import annotations

import os
import pathlib
import secrets
import sqlite3
from collections.abc import Iterable

__all__ = ["COLD_DATASET_KEY", "LedgerCold", "cold_directory", "connect", "dataset_directory"]

COLD_DATASET_KEY = "shuniu:cold:dataset"


def cold_directory() -> pathlib.Path:
    """Where cold files live: $SHUNIU_STATE_DIR/cold (else .shuniu/cold, as the local stack's state)."""
    return pathlib.Path(os.environ.get("SHUNIU_STATE_DIR", ".shuniu")).resolve() / "cold"


def dataset_directory(dataset_id: bytes | str | None) -> pathlib.Path | None:
    """The cold directory of a Redis data set (None: the data set never moved anything out)."""
    if not dataset_id:
        return None
    name = dataset_id.decode() if isinstance(dataset_id, bytes) else dataset_id
    assert name.isalnum(), f"cold data set id {name!r} is not alphanumeric"
    return cold_directory() / name


def new_dataset_id() -> str:
    return secrets.token_hex(8)


def connect(path: pathlib.Path) -> sqlite3.Connection:
    """A connection to a cold file: WAL (readers never wait for the mover), fsync on every commit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


class LedgerCold:
    """Rated lines of batches moved out of Redis, by batch id."""

    def __init__(self, path: pathlib.Path) -> None:
        self.conn = connect(path)
        self.conn.execute("CREATE TABLE IF NOT EXISTS lines (batch_id TEXT PRIMARY KEY, arrow_ipc BLOB NOT NULL)")

    @classmethod
    def of_dataset(cls, directory: pathlib.Path | None, create: bool = False) -> LedgerCold | None:
        path = directory / "ledger.sqlite" if directory is not None else None
        if path is None or not (create or path.exists()):
            return None
        return cls(path)

    def put_lines(self, rows: Iterable[tuple[str, bytes]]) -> None:
        """Stores (batch id, lines) rows in one durable transaction; storing a row again changes nothing."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany("INSERT OR REPLACE INTO lines VALUES (?, ?)", rows)

    def lines(self, batch_id: str) -> bytes | None:
        row = self.conn.execute("SELECT arrow_ipc FROM lines WHERE batch_id = ?", (batch_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM lines").fetchone()[0]

    def close(self) -> None:
        self.conn.close()
