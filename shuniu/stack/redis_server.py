"""A local `redis-server` with append-only persistence, for the stack and the tests."""

from __future__ import annotations

import pathlib
import shutil
import socket
import subprocess
import time

import hiredis
import redis


def bulk_client(url: str, **kwargs) -> redis.Redis:
    """A client for commands that carry megabytes (usage batches, rated lines) beside many small arguments
    (a posting script's accounts and volume counters): see _BulkPacker."""
    return redis.Redis.from_url(url, command_packer=_BulkPacker(), **kwargs)


_SEPARATE_FROM_BYTES = 6000  # redis-py's own cut-off: values this long are written apart, not copied


class _BulkPacker:
    """Packs a command's small arguments with hiredis (C) and sends each value over _SEPARATE_FROM_BYTES as it is.

    redis-py packs with hiredis when it is installed, which copies every argument into one buffer:
    4.2 ms of CPU for a 1.3 MB usage batch here, against 0.006 ms for redis-py's own packer, which
    sends a large value as a separate write; but that packer costs ~0.5 us an argument in Python,
    ~1 ms for a posting script's ~1,800 (hiredis: 0.16 ms). Measured per command, 100 repeats."""

    def pack(self, *args) -> list[bytes | memoryview]:
        if isinstance(args[0], str) and " " in args[0]:  # "SCRIPT LOAD": words of a command name, as redis-py sends them
            args = (*args[0].split(), *args[1:])
        out: list[bytes | memoryview] = []
        head = b"*%d\r\n" % len(args)  # written with the small arguments that follow it
        small: list = []
        for arg in args:
            if isinstance(arg, (bytes, memoryview)) and len(arg) > _SEPARATE_FROM_BYTES:  # bytes long, as they are
                out.append(head + _packed_arguments(small) + b"$%d\r\n" % len(arg))
                out.append(arg)
                head, small = b"\r\n", []
            else:
                small.append(bytes(arg) if isinstance(arg, (memoryview, bytearray)) else arg)
        out.append(head + _packed_arguments(small))
        return out


def _packed_arguments(args: list) -> bytes:
    """RESP bulk strings of `args`, without the array header hiredis puts in front of them."""
    if not args:
        return b""
    packed = hiredis.pack_command(tuple(args))
    return packed[packed.index(b"\r\n") + 2:]


class RedisUnavailableError(RuntimeError):
    """redis-server is not installed or did not come up."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalRedis:
    """Runs Debian's redis-server on loopback with its data (AOF) under `data_dir`.

    Restarting on the same directory replays the append-only file, so state survives.
    """

    def __init__(self, data_dir: pathlib.Path, port: int | None = None) -> None:
        self.data_dir = pathlib.Path(data_dir)
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> "LocalRedis":
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisUnavailableError(
                "redis-server not found; run ./dev (it installs Debian's redis-server) or set REDIS_URL"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            # fsync every write: the store is the system of record and must survive a crash.
            "--appendfsync", "always",
            # An AOF rewrite forks and writes the whole dataset out on one of the two cores. Billing appends
            # ~100 MB of AOF per million records (each batch's IPC, then its rated lines), so Redis's default
            # (rewrite past 64 MB, then whenever the file doubles) forked a rewrite in the middle of every
            # `bench billing --records 1000000`: 768 k against 879 k records/s without it. Past 1 GB a
            # rewrite comes every ~10 M records, and the file still stays within twice what it holds.
            "--auto-aof-rewrite-min-size", "1gb",
            "--save", "",
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--logfile", str(self.data_dir / "redis.log"),
        ]
        self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        client = redis.Redis.from_url(self.url)
        try:
            while True:
                if self._proc.poll() is not None:
                    log = (self.data_dir / "redis.log").read_text(errors="replace")[-2000:]
                    raise RedisUnavailableError(f"redis-server exited with {self._proc.returncode}: {log}")
                try:
                    if client.ping():
                        # Ping answers while the AOF is still loading; wait for it.
                        if client.info("persistence").get("loading", 0) == 0:
                            return self
                except (redis.ConnectionError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RedisUnavailableError(f"redis-server did not answer on {self.url} within {timeout_s} s")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def kill(self) -> None:
        """Kills the server with SIGKILL, as a crash would."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def __enter__(self) -> "LocalRedis":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
