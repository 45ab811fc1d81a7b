"""The local stack's supervisor: capped exponential backoff, and a real process restarted after it exits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shuniu.stack import ManagedProcess
from shuniu.stack.supervisor import Backoff, Supervisor, restart_delay_s


@given(exits=st.integers(1, 10_000), base_ms=st.integers(1, 60_000), extra_ms=st.integers(0, 600_000))
def test_the_wait_doubles_from_the_base_and_never_passes_the_cap(exits, base_ms, extra_ms):
    backoff = Backoff(base_s=base_ms / 1000, cap_s=(base_ms + extra_ms) / 1000)
    expected_ms = base_ms + extra_ms  # the reference: double in integers until the cap is reached
    wait_ms = base_ms
    for _ in range(exits - 1):
        if wait_ms >= expected_ms:
            break
        wait_ms *= 2
    assert restart_delay_s(exits, backoff) == pytest.approx(min(wait_ms, expected_ms) / 1000)


@pytest.mark.parametrize("base_s, cap_s, steady_s", [(0, 1, 1), (2, 1, 1), (1, 2, -1)],
                         ids=["zero-base", "base-above-cap", "negative-steady"])
def test_a_backoff_that_makes_no_sense_is_refused(base_s, cap_s, steady_s):
    with pytest.raises(AssertionError):
        Backoff(base_s, cap_s, steady_s)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_component_that_keeps_exiting_is_restarted_each_time_after_a_growing_wait(tmp_path):
    """`shuniu --help` exits at once with code 0: a crash loop as fast as one can be."""
    clock, said = Clock(), []
    supervisor = Supervisor(said.append, Backoff(base_s=1, cap_s=4, steady_s=100), clock)
    proc = supervisor.watch(ManagedProcess("quick", ["--help"], tmp_path).start())
    pids = [proc.proc.pid]
    waits = []
    for _ in range(4):
        proc.proc.wait()
        supervisor.tick()  # notes the exit and schedules the restart
        assert not proc.running and "quick exited with code 0" in said[-1]
        waits.append(float(said[-1].split("restarting in ")[1].split(" s")[0]))
        clock.now += waits[-1] - 0.5
        supervisor.tick()  # too early: still waiting
        assert proc.proc.pid == pids[-1]
        clock.now += 0.5
        supervisor.tick()
        assert proc.proc.pid != pids[-1] and said[-1].startswith(f"quick restarted (pid {proc.proc.pid}")
        pids.append(proc.proc.pid)
    assert waits == [1, 2, 4, 4]
    proc.stop()


def test_a_component_that_ran_steadily_starts_again_from_the_base_wait(tmp_path):
    clock, said = Clock(), []
    supervisor = Supervisor(said.append, Backoff(base_s=1, cap_s=8, steady_s=10), clock)
    proc = supervisor.watch(ManagedProcess("quick", ["--help"], tmp_path).start())
    for expected in ("restarting in 1 s", "restarting in 2 s"):
        proc.proc.wait()
        supervisor.tick()
        assert expected in said[-1]
        clock.now += 2
        supervisor.tick()
    clock.now += 10  # up for longer than steady_s before this exit
    proc.proc.wait()
    supervisor.tick()
    assert "restarting in 1 s (exit 1 in a row" in said[-1]
    proc.stop()
