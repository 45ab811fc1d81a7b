"""A real `shuniu up` stack in a state directory of its own, for the tests that run the whole local stack."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest


@contextlib.contextmanager
def local_stack(state: pathlib.Path, *, nodes: int, duration_s: int, up_within_s: float,
                ready: Callable[[], bool] = lambda: True) -> Iterator[tuple[dict, subprocess.Popen]]:
    """Runs `shuniu up` (its own session, output in `state`/up.log) until it wrote stack.json and `ready()` holds,
    and yields (stack.json, the process). After: SIGTERM unless it already ended, SIGKILL if it will not stop."""
    env = {**os.environ, "SHUNIU_STATE_DIR": str(state), "REDIS_URL": "", "COLUMNS": "200"}
    with open(state / "up.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "shuniu.cli", "up", "--nodes", str(nodes), "--port", "0",
                                 "--interval", "0.5", "--duration", str(duration_s)], stdout=log,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            yield _wait_up(state, proc, up_within_s, ready), proc
        finally:
            if proc.poll() is None:  # a test may have stopped it already
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(120)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def _wait_up(state: pathlib.Path, proc: subprocess.Popen, within_s: float, ready: Callable[[], bool]) -> dict:
    deadline = time.monotonic() + within_s
    info = None
    while info is None or not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):  # what is left of its process group
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"stack did not come up:\n{(state / 'up.log').read_text(errors='replace')[-3000:]}")
        try:
            info = json.loads((state / "stack.json").read_text())
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.2)
    return info
