"""Child processes of the local stack and of the tests, started and stopped cleanly."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Sequence


class ManagedProcess:
    """A `python -m shuniu.cli …` child in its own process group, logged to a file."""

    def __init__(self, name: str, args: Sequence[str], log_dir: pathlib.Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.args = [sys.executable, "-m", "shuniu.cli", *args]
        self.log_path = pathlib.Path(log_dir) / f"{name}.log"
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "ManagedProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=self.env, start_new_session=True,
        )
        log.close()
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.running:
            assert self.proc is not None
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout_s`; returns the exit code."""
        if self.proc is None:
            return None
        if self.running:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL to the whole group, as a crash would."""
        if self.running:
            self.signal(signal.SIGKILL)
            assert self.proc is not None
            self.proc.wait()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def wait_for(self, predicate, timeout_s: float = 20.0, what: str = "ready") -> None:
        """Polls `predicate()` until true; fails with the log tail when the process dies or time runs out."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if not self.running:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode if self.proc else None}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not {what} within {timeout_s} s:\n{self.log_tail()}")
            time.sleep(0.05)
