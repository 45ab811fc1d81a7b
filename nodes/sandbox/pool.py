"""Pre-started, single-use sandboxes: children that already imported pyarrow, waiting on stdin."""

from __future__ import annotations

import collections
import threading

from shuniu.nodes.sandbox import _launch
from shuniu.nodes.sandbox._process import SandboxProcess
from shuniu.nodes.sandbox.runner import new_label
from shuniu.nodes.sandbox.types import SandboxLimits

MAX_POOL_SIZE = 64


class SandboxPool:
    """Keeps `size` warm children; each is handed out once and never reused.

    A background thread refills the pool after each hand-out. When the pool is empty,
    `acquire` starts a child on the spot (a cold start) rather than wait for the refill.
    """

    def __init__(self, size: int, limits: SandboxLimits | None = None) -> None:
        if not 1 <= size <= MAX_POOL_SIZE:
            raise ValueError(f"pool size {size} out of range; expected 1..{MAX_POOL_SIZE}")
        _launch.require_sandbox()
        self.size = size
        self.limits = limits or SandboxLimits()
        self._idle: collections.deque[SandboxProcess] = collections.deque()
        self._lock = threading.Condition()
        self._closed = False
        self._refiller = threading.Thread(target=self._refill_loop, name="sandbox-pool-refill", daemon=True)
        self._refiller.start()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _refill_loop(self) -> None:
        while True:
            with self._lock:
                while not self._closed and len(self._idle) >= self.size:
                    self._lock.wait()
                if self._closed:
                    return
            child = SandboxProcess(self.limits, new_label())
            with self._lock:
                if self._closed:
                    child.discard()
                    return
                self._idle.append(child)
                self._lock.notify_all()

    def idle_count(self) -> int:
        with self._lock:
            return len(self._idle)

    def wait_full(self, timeout_s: float) -> bool:
        """Block until `size` children are started and have imported pyarrow."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._idle) >= self.size or self._closed, timeout_s):
                return False
            children = list(self._idle)
        return all(child.wait_ready(timeout_s) for child in children)

    def acquire(self) -> SandboxProcess:
        """Take one child out of the pool (or start one if the pool is empty); it is the caller's now."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the sandbox pool is closed")
            child = self._idle.popleft() if self._idle else None
            self._lock.notify_all()
        return child if child is not None else SandboxProcess(self.limits, new_label())

    def close(self) -> None:
        """Stop refilling and kill every idle child."""
        with self._lock:
            self._closed = True
            idle, self._idle = list(self._idle), collections.deque()
            self._lock.notify_all()
        self._refiller.join(timeout=10.0)
        for child in idle:
            child.discard()
