"""One confined child seen from the trusted side: wait until ready, feed it, read it, reap it."""

from __future__ import annotations

import dataclasses
import json
import os
import select
import signal
import subprocess
import threading
import time

import pyarrow as pa
import pyarrow.ipc as ipc

from shuniu.nodes.sandbox import _launch
from shuniu.nodes.sandbox.types import SandboxLimits

READY_BYTE = b"R"
_READ_CHUNK_BYTES = 1 << 16
_REAP_GRACE_S = 2.0
_KILL_GRACE_S = 0.5
_CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
# The job's resource limits, as the child sets them on itself (resource.setrlimit, soft = hard).
_RLIMITS = (("RLIMIT_CPU", "cpu_s"), ("RLIMIT_AS", "memory_bytes"), ("RLIMIT_NPROC", "nproc"),
            ("RLIMIT_NOFILE", "nofile"), ("RLIMIT_FSIZE", "fsize_bytes"))


def limits_line(limits: SandboxLimits) -> bytes:
    """The first line a child reads: the limits it sets on itself before it reads the job.

    A warm child was started without them (pool.py); a cold one sets the same values again.
    The runner cannot set them from outside: prlimit on another uid's process needs
    CAP_SYS_RESOURCE, which a runner may not hold. Lowering its own limits is always allowed,
    and nothing in the sandbox may raise them again (no capability there).
    """
    return (json.dumps([[name, getattr(limits, field)] for name, field in _RLIMITS]) + "\n").encode()


@dataclasses.dataclass(frozen=True)
class Exchange:
    """What came back from one child, before any parsing or egress."""

    output: bytes
    exit_code: int | None  # None when the child had to be killed
    killed_for: str | None  # "timeout" or "oversize" when the runner killed it
    rows_in: int
    bytes_in: int
    cpu_s: float  # the job's share: the child's CPU time after it was handed the job
    startup_cpu_s: float  # what the child spent before: interpreter start and imports
    peak_memory_bytes: int
    wall_s: float


class _CountingSink:
    """A write-only file for pyarrow's stream writer that counts what passes through."""

    def __init__(self, raw) -> None:
        self._raw = raw
        self.written_bytes = 0
        self.closed = False

    def write(self, data) -> int:
        view = memoryview(data)
        self._raw.write(view)
        self.written_bytes += view.nbytes
        return view.nbytes

    def flush(self) -> None:
        self._raw.flush()


class SandboxProcess:
    """A started child. Single use: `exchange` once, then it is gone."""

    def __init__(self, limits: SandboxLimits, label: str, job_rlimits: bool = True) -> None:
        """Start the child; without `job_rlimits` it waits for `hand_off` to set a job's limits."""
        self.limits = limits
        self.label = label
        self.spawned_at = time.perf_counter()
        self.uid = _launch.next_sandbox_uid()  # the kernel uid every process of this sandbox runs as
        self._popen: subprocess.Popen = _launch.spawn(limits, label, self.uid, job_rlimits)
        self.pid = self._popen.pid
        self._ready = False
        self._reaped = False
        self._used = False

    def wait_ready(self, timeout_s: float) -> bool:
        """Block until the child has imported pyarrow and says so; False if it died or is late."""
        if self._ready:
            return True
        stdout = self._popen.stdout.fileno()
        readable, _, _ = select.select([stdout], [], [], max(timeout_s, 0.0))
        if readable and os.read(stdout, 1) == READY_BYTE:
            self._ready = True
        return self._ready

    def is_ready_now(self) -> bool:
        return self.wait_ready(0.0)

    def hand_off(self, limits: SandboxLimits) -> None:
        """Give a warm child a job's limits: it sets them on itself before it reads the job (`exchange`)."""
        assert not self._used, "a sandbox is single use"
        self.limits = limits

    def exchange(self, header: bytes, table: pa.Table, deadline: float) -> Exchange:
        """Send the header and the table, read at most max_output_bytes back, reap the child."""
        assert not self._used, "a sandbox is single use"
        self._used = True
        started = time.perf_counter()
        startup_cpu_s = self._inner_cpu_s()
        sink = _CountingSink(self._popen.stdin)
        feeder = threading.Thread(target=self._feed, args=(sink, header, table), daemon=True)
        drainer = threading.Thread(target=self._drain_stderr, daemon=True)
        feeder.start()
        drainer.start()
        output, killed_for = self._read_output(deadline)
        status, usage = self._reap(deadline if killed_for is None else time.perf_counter())
        if status is None and killed_for is None:
            killed_for = "timeout"
        feeder.join(_REAP_GRACE_S)
        drainer.join(_REAP_GRACE_S)
        self._close_pipes()
        lifetime_cpu_s = (usage.ru_utime + usage.ru_stime) if usage else 0.0
        exit_code = None if killed_for or status is None else os.waitstatus_to_exitcode(status)
        return Exchange(
            output=output,
            exit_code=exit_code,
            killed_for=killed_for,
            rows_in=table.num_rows,
            bytes_in=sink.written_bytes,
            cpu_s=max(lifetime_cpu_s - startup_cpu_s, 0.0),
            startup_cpu_s=min(startup_cpu_s, lifetime_cpu_s),
            peak_memory_bytes=(usage.ru_maxrss * 1024) if usage else 0,  # Linux reports KiB
            wall_s=time.perf_counter() - started,
        )

    def _inner_pids(self) -> list[int]:
        try:
            with open(f"/proc/{self.pid}/task/{self.pid}/children") as handle:
                return [int(p) for p in handle.read().split()]
        except OSError:
            return []

    def _inner_cpu_s(self) -> float:
        """CPU seconds the confined child (all its threads) has used so far, from /proc."""
        total = 0.0
        for pid in self._inner_pids():
            try:
                with open(f"/proc/{pid}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS_PER_S  # utime, stime
        return total

    def _feed(self, sink: _CountingSink, header: bytes, table: pa.Table) -> None:
        try:
            self._popen.stdin.write(limits_line(self.limits))  # not the job's input: not metered
            sink.write(header)
            with ipc.new_stream(sink, table.schema) as writer:
                for batch in table.to_batches(max_chunksize=64 * 1024):
                    writer.write_batch(batch)
        except (BrokenPipeError, OSError, pa.ArrowException):
            pass  # the child died or stopped reading; its exit status tells why
        finally:
            try:
                self._popen.stdin.close()
            except OSError:
                pass

    def _drain_stderr(self) -> None:
        # Read and drop: what a job prints may be raw rows, so none of it is kept.
        stream = self._popen.stderr
        try:
            while stream.read(_READ_CHUNK_BYTES):
                pass
        except (OSError, ValueError):
            pass

    def _read_output(self, deadline: float) -> tuple[bytes, str | None]:
        stdout = self._popen.stdout.fileno()
        chunks: list[bytes] = []
        total = 0
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                self.kill()
                return b"", "timeout"
            readable, _, _ = select.select([stdout], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(stdout, _READ_CHUNK_BYTES)
            if not chunk:
                return b"".join(chunks), None
            total += len(chunk)
            if total > self.limits.max_output_bytes:
                self.kill()
                return b"", "oversize"
            chunks.append(chunk)

    def _reap(self, deadline: float):
        """wait4 the outer bwrap (its rusage covers the confined child); kill it at the deadline."""
        pidfd = os.pidfd_open(self.pid)
        try:
            remaining = deadline - time.perf_counter()
            readable, _, _ = select.select([pidfd], [], [], max(remaining, 0.0))
            if not readable:
                self.kill()
                select.select([pidfd], [], [], _REAP_GRACE_S)
                _, status, usage = os.wait4(self.pid, 0)
                self._mark_reaped(status)
                return None, usage
            _, status, usage = os.wait4(self.pid, 0)
            self._mark_reaped(status)
            return status, usage
        finally:
            os.close(pidfd)

    def _mark_reaped(self, status: int) -> None:
        self._reaped = True
        self._popen.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again

    def kill(self) -> None:
        """Kill the sandbox's pid-1 first (the kernel then kills its namespace), then the group."""
        if self._reaped:
            return
        inner = self._inner_pids()
        for pid in inner:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if inner:
            # Give bwrap a moment to reap its pid-1, so wait4 still sees the child's usage.
            pidfd = os.pidfd_open(self.pid)
            try:
                select.select([pidfd], [], [], _KILL_GRACE_S)
            finally:
                os.close(pidfd)
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def discard(self) -> None:
        """Kill and reap a child that will not be used (pool shutdown, failed start)."""
        self._used = True
        if not self._reaped:
            self.kill()
            _, status, _ = os.wait4(self.pid, 0)
            self._mark_reaped(status)
        self._close_pipes()

    def _close_pipes(self) -> None:
        for stream in (self._popen.stdin, self._popen.stdout, self._popen.stderr):
            try:
                stream.close()
            except OSError:
                pass
