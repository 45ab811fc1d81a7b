"""Pre-started, single-use sandboxes, handed to jobs whatever their limits.

A warm child is started with the pool's spawn shape (its nice, the size of its /tmp, its
header cap: what is fixed once bubblewrap has run) and none of a job's resource limits.
When it is handed a job, it sets the job's limits (CPU, address space, processes, open
files, file size) on itself before it reads a byte of the job (_process.limits_line).
So one pool serves jobs of every limit and its idle children stay at `size`, however many
distinct limits the jobs ask; a pool per set of limits kept one more idle child for each
and never let it go. A child that cannot set its job's limits exits before it reads the job
(never a job run without its limits).
"""

from __future__ import annotations

import collections
import copy
import threading

from shuniu.monitoring import metrics as prom
from shuniu.nodes.sandbox import _launch
from shuniu.nodes.sandbox._process import SandboxProcess
from shuniu.nodes.sandbox.runner import new_label
from shuniu.nodes.sandbox.types import SandboxLimits

MAX_POOL_SIZE = 64


def spawn_shape(limits: SandboxLimits) -> tuple[int, int, int]:
    """What a started child keeps whatever job it is handed: nice, /tmp size, header cap."""
    return limits.nice, limits.tmpfs_bytes, limits.max_header_bytes


class _WarmChildren:
    """The idle children and the thread that refills them, shared by a pool and its views."""

    def __init__(self, size: int, limits: SandboxLimits) -> None:
        self.size = size
        self.limits = limits  # spawn shape from these; rlimits come with each job
        self.idle: collections.deque[SandboxProcess] = collections.deque()
        self.lock = threading.Condition()
        self.closed = False
        self._refiller = threading.Thread(target=self._refill_loop, name="sandbox-pool-refill", daemon=True)
        self._refiller.start()

    def _refill_loop(self) -> None:
        while True:
            with self.lock:
                while not self.closed and len(self.idle) >= self.size:
                    self.lock.wait()
                if self.closed:
                    return
            child = SandboxProcess(self.limits, new_label(), job_rlimits=False)
            with self.lock:
                if self.closed:
                    child.discard()
                    prom.SANDBOX_EVICTIONS.labels("closed").inc()
                    return
                self.idle.append(child)
                prom.SANDBOX_IDLE.inc()
                self.lock.notify_all()

    def take(self, fits: bool) -> SandboxProcess | None:
        """An idle child, if one `fits` the job's spawn shape and is there; refilling starts again."""
        with self.lock:
            if self.closed:
                raise RuntimeError("the sandbox pool is closed")
            child = self.idle.popleft() if fits and self.idle else None
            if child is not None:
                prom.SANDBOX_IDLE.dec()
            self.lock.notify_all()
        return child

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            idle, self.idle = list(self.idle), collections.deque()
            prom.SANDBOX_IDLE.dec(len(idle))
            self.lock.notify_all()
        self._refiller.join(timeout=10.0)
        for child in idle:
            child.discard()
            prom.SANDBOX_EVICTIONS.labels("closed").inc()


class SandboxPool:
    """Keeps `size` warm children; each is handed out once, with this pool's `limits`, and never reused.

    A background thread refills the pool after each hand-out. When the pool is empty,
    `acquire` starts a child on the spot (a cold start) rather than wait for the refill.
    `with_limits` gives a view that hands the same children out with other limits.
    """

    def __init__(self, size: int, limits: SandboxLimits | None = None) -> None:
        if not 1 <= size <= MAX_POOL_SIZE:
            raise ValueError(f"pool size {size} out of range; expected 1..{MAX_POOL_SIZE}")
        _launch.require_sandbox()
        self.size = size
        self.limits = limits or SandboxLimits()
        self._warm = _WarmChildren(size, self.limits)

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def with_limits(self, limits: SandboxLimits) -> SandboxPool:
        """This pool's children, handed out with `limits` (cold starts when their spawn shape differs)."""
        view = copy.copy(self)
        view.limits = limits
        return view

    def idle_count(self) -> int:
        with self._warm.lock:
            return len(self._warm.idle)

    def wait_full(self, timeout_s: float) -> bool:
        """Block until `size` children are started and have imported pyarrow."""
        warm = self._warm
        with warm.lock:
            if not warm.lock.wait_for(lambda: len(warm.idle) >= warm.size or warm.closed, timeout_s):
                return False
            children = list(warm.idle)
        return all(child.wait_ready(timeout_s) for child in children)

    def acquire(self) -> SandboxProcess:
        """Take one child out of the pool with this pool's limits set (or start one); it is the caller's now."""
        child = self._warm.take(spawn_shape(self.limits) == spawn_shape(self._warm.limits))
        if child is not None:
            # The runner would wait as long for a child it started itself.
            if child.wait_ready(self.limits.wall_timeout_s):
                child.hand_off(self.limits)
                return child
            child.discard()
            prom.SANDBOX_EVICTIONS.labels("not_ready").inc()
        return SandboxProcess(self.limits, new_label())

    def close(self) -> None:
        """Stop refilling and kill every idle child (of this pool and all its views)."""
        self._warm.close()
