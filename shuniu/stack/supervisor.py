"""Keeps the local stack's processes up: a component that exits is started again, after a capped backoff.

A crash of one component (the biller, the fleet, the control plane) must not take the stack down:
operators expect it back, and the rest keeps serving meanwhile. Each exit is said in one line (which
component, its exit code, when, and when it restarts). A component that keeps crashing is still
retried, waiting twice as long each time up to the cap; once it has stayed up past `steady_s`, the
next exit starts again from the base delay. Only the stack's owner stops it (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shuniu.stack.processes import ManagedProcess

__all__ = ["Backoff", "Supervisor", "restart_delay_s"]


@dataclass(frozen=True)
class Backoff:
    """First wait after an exit, the most any wait grows to, and the uptime after which a component counts as steady."""

    base_s: float = 1.0
    cap_s: float = 30.0
    steady_s: float = 60.0

    def __post_init__(self) -> None:
        assert 0 < self.base_s <= self.cap_s, f"backoff base {self.base_s} s must be > 0 and at most the cap {self.cap_s} s"
        assert self.steady_s >= 0, f"steady_s {self.steady_s} must be >= 0"


def restart_delay_s(exits_in_a_row: int, backoff: Backoff) -> float:
    """The wait before restart number `exits_in_a_row` (1, 2, …): base, 2×base, 4×base, … never above the cap."""
    assert exits_in_a_row >= 1, exits_in_a_row
    # 2**64 × any positive base is past every cap: no float overflow for a component that crashes forever.
    return min(backoff.cap_s, backoff.base_s * 2.0 ** min(exits_in_a_row - 1, 64))


@dataclass
class _Watch:
    proc: ManagedProcess
    started_at: float
    exits_in_a_row: int = 0
    restart_at: float | None = None  # set while the component is down and waiting for its restart


class Supervisor:
    """Watches ManagedProcesses; `tick` restarts the ones that exited once their backoff has passed."""

    def __init__(self, say: Callable[[str], None], backoff: Backoff = Backoff(),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.say = say
        self.backoff = backoff
        self.clock = clock
        self._watched: list[_Watch] = []

    def watch(self, proc: ManagedProcess) -> ManagedProcess:
        """Supervises an already started process; returns it."""
        self._watched.append(_Watch(proc, self.clock()))
        return proc

    @property
    def processes(self) -> Sequence[ManagedProcess]:
        return [w.proc for w in self._watched]

    def tick(self) -> None:
        """Notes every component that exited since the last tick and restarts those whose wait is over."""
        now = self.clock()
        for w in self._watched:
            if w.restart_at is None and not w.proc.running:
                self._exited(w, now)
            if w.restart_at is not None and now >= w.restart_at:
                w.proc.start()
                w.started_at, w.restart_at = now, None
                pid = w.proc.proc.pid if w.proc.proc is not None else None
                self.say(f"{w.proc.name} restarted (pid {pid}, restart {w.exits_in_a_row} in a row); log {w.proc.log_path}")

    def _exited(self, w: _Watch, now: float) -> None:
        if now - w.started_at >= self.backoff.steady_s:
            w.exits_in_a_row = 0  # it ran steadily: this exit is a new incident, not part of a crash loop
        w.exits_in_a_row += 1
        delay = restart_delay_s(w.exits_in_a_row, self.backoff)
        w.restart_at = now + delay
        code = w.proc.proc.returncode if w.proc.proc is not None else None
        how = f"signal {-code}" if code is not None and code < 0 else f"code {code}"
        at = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        self.say(f"{w.proc.name} exited with {how} at {at} after {now - w.started_at:.1f} s up; "
                 f"restarting in {delay:g} s (exit {w.exits_in_a_row} in a row; backoff doubles up to "
                 f"{self.backoff.cap_s:g} s); last log lines:\n{w.proc.log_tail(600)}")
