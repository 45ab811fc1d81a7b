"""Build the bubblewrap command line for one child, probe that it works, and spawn it."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import pathlib
import shutil
import subprocess
import sys
import threading

from shuniu.nodes.sandbox import _runtime, seccomp
from shuniu.nodes.sandbox.cpu_group import join_argv
from shuniu.nodes.sandbox.types import SandboxLimits, SandboxUnavailableError

SANDBOX_SITE_DIR = _runtime.SITE_DIR
SANDBOX_UID = 65534  # the uid inside a user namespace, when the runner is not root
# When the runner is root, each child runs under its own kernel uid, unused by any account:
# RLIMIT_NPROC does not bind uid 0, and a uid per sandbox gives each its own process budget.
SANDBOX_UID_BASE = 1_800_000_000
_UIDS_PER_RUNNER = 1000
_uid_serials = itertools.count()
_CHILD_SOURCE = (pathlib.Path(__file__).with_name("_child.py")).read_text()
_PROBE_TIMEOUT_S = 10.0


@dataclasses.dataclass(frozen=True)
class Runtime:
    """The staged tree a child sees as its whole filesystem (_runtime.py), and the host tools that start it."""

    root: str  # bound read-only as the sandbox's /
    python_executable: str  # inside the sandbox
    prlimit: str
    bwrap: str
    nice: str
    setpriv: str | None  # inside the sandbox; drops root to the sandbox's uid, needed only when the runner is root


@functools.cache
def host_runtime() -> Runtime:
    """Locate the host tools and stage the child's runtime (once per runtime); raise if something is missing."""
    needed = ("bwrap", "prlimit", "nice", "setpriv") if os.geteuid() == 0 else ("bwrap", "prlimit", "nice")
    tools = {name: shutil.which(name) for name in needed}
    missing = [name for name, path in tools.items() if path is None]
    if missing:
        raise SandboxUnavailableError(f"{', '.join(missing)} not found on PATH; install bubblewrap and util-linux")
    try:
        root = _runtime.staged_runtime(tools.get("setpriv"))
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxUnavailableError(f"the sandbox runtime could not be staged: {exc}") from exc
    executable = f"{_runtime.PYTHON_PREFIX}/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    return Runtime(str(root), executable, tools["prlimit"], tools["bwrap"], tools["nice"],
                   _runtime.SETPRIV if tools.get("setpriv") else None)


def next_sandbox_uid() -> int:
    """The kernel uid of the next child: its own when the runner is root, else the runner's."""
    if os.geteuid() != 0:
        return os.geteuid()
    return SANDBOX_UID_BASE + (os.getpid() % 1_000_000) * _UIDS_PER_RUNNER + next(_uid_serials) % _UIDS_PER_RUNNER


def _identity_argv(uid: int) -> tuple[list[str], list[str]]:
    """bwrap options and the command prefix that make the child run as `uid`, with no capability."""
    if os.geteuid() != 0:
        # Unprivileged runner: a user namespace maps the child to the runner's own (non-zero) uid.
        return ["--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL",
                "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)], []  # fmt: skip
    # Root runner: no user namespace (it would map the child back to kuid 0); setpriv keeps
    # CAP_SETUID/SETGID only to switch uid, and the switch itself clears every capability.
    namespaces = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    caps = ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    setpriv = [host_runtime().setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
    return namespaces + caps, setpriv


def _prlimit_argv(runtime: Runtime, limits: SandboxLimits, job_rlimits: bool) -> list[str]:
    # The child runs as pid 1 of its namespace, which ignores SIGXCPU: soft = hard means SIGKILL.
    # Niced, a workload yields the CPU to the node's own processes (agent, runner, metering).
    # A warm child (job_rlimits False) gets the job's limits when it is handed the job (pool.py).
    # It still starts under the pool's address-space limit as its soft limit: allocators size their
    # reservations by it, and unlimited, the imports reserved ~1.4 GiB instead of ~0.55 GiB, so
    # every job of 1 GiB handed to a warm child failed at its first allocation. The hard limit
    # stays open so that a job may be given more; the child sets both before it reads the job.
    rlimits = [
        f"--cpu={limits.cpu_s}:{limits.cpu_s}",
        f"--as={limits.memory_bytes}",
        f"--nproc={limits.nproc}",
        f"--nofile={limits.nofile}",
        f"--fsize={limits.fsize_bytes}",
    ] if job_rlimits else [f"--as={limits.memory_bytes}:unlimited"]
    return [runtime.nice, "-n", str(limits.nice), runtime.prlimit, *rlimits, "--core=0", "--"]


def _bwrap_argv(runtime: Runtime, limits: SandboxLimits, seccomp_fd: int | None, identity: list[str]) -> list[str]:
    argv = [
        runtime.bwrap, *identity,
        # pid 1 is the child itself, so bwrap wait4s it and its rusage reaches us; when it
        # dies the kernel kills every other process of its pid namespace.
        "--as-pid-1",
        "--die-with-parent", "--new-session", "--hostname", "sandbox",
        "--clearenv",
        "--setenv", "PATH", "/usr/bin", "--setenv", "LANG", "C.UTF-8", "--setenv", "HOME", "/tmp",
        "--setenv", "OPENBLAS_NUM_THREADS", "1", "--setenv", "OMP_NUM_THREADS", "1",
        # The staged runtime is the whole filesystem: no host /usr, prefix or environment.
        "--ro-bind", runtime.root, "/",
        "--proc", "/proc", "--dev", "/dev",
        "--perms", "1777", "--size", str(limits.tmpfs_bytes), "--tmpfs", "/tmp",
        "--chdir", "/tmp",
    ]  # fmt: skip
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    return argv


def sandbox_argv(runtime: Runtime, limits: SandboxLimits, label: str, seccomp_fd: int | None, uid: int,
                 job_rlimits: bool = True) -> list[str]:
    """The whole command: rlimits, then bubblewrap, then (as `uid`) the child program with its arguments."""
    identity, become = _identity_argv(uid)
    child = [runtime.python_executable, "-I", "-S", "-c", _CHILD_SOURCE]
    child += [SANDBOX_SITE_DIR, label, str(limits.max_header_bytes)]
    return (join_argv(limits.nice) + _prlimit_argv(runtime, limits, job_rlimits) + _bwrap_argv(runtime, limits, seccomp_fd, identity)
            + become + child)


def _seccomp_pipe() -> int | None:
    program = seccomp.build_filter()
    if program is None:
        return None
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, program)  # a few hundred bytes: far below the pipe buffer
    finally:
        os.close(write_fd)
    return read_fd


def spawn(limits: SandboxLimits, label: str, uid: int, job_rlimits: bool = True) -> subprocess.Popen:
    """Start one confined child under kernel uid `uid`; it imports pyarrow and then waits on stdin.

    Without `job_rlimits` the child starts with none of the job's resource limits: the pool
    sets them when it hands the child a job, before the child reads any of it.
    """
    runtime = host_runtime()
    seccomp_fd = _seccomp_pipe()
    pass_fds = () if seccomp_fd is None else (seccomp_fd,)
    try:
        return subprocess.Popen(
            sandbox_argv(runtime, limits, label, seccomp_fd, uid, job_rlimits),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={},  # bubblewrap itself sees no variable of ours, so /proc/1/environ inside is empty
            cwd="/",
            close_fds=True,
            pass_fds=pass_fds,
            start_new_session=True,
            bufsize=0,
        )
    finally:
        if seccomp_fd is not None:
            os.close(seccomp_fd)


_probe_lock = threading.Lock()
_probe_result: str | None = None  # "" when the probe passed, else why it failed


def _probe() -> str:
    try:
        runtime = host_runtime()
    except SandboxUnavailableError as exc:
        return str(exc)
    identity, become = _identity_argv(next_sandbox_uid())
    # The staged runtime's interpreter, started as a job's would be: a runtime that cannot start is refused here.
    argv = [runtime.bwrap, *identity, "--die-with-parent", "--new-session", "--clearenv"]
    argv += ["--ro-bind", runtime.root, "/", "--proc", "/proc", "--dev", "/dev"]
    argv += [*become, runtime.python_executable, "-I", "-S", "-c", "pass"]
    try:
        done = subprocess.run(argv, env={}, cwd="/", capture_output=True, timeout=_PROBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap did not run: {exc}"
    if done.returncode != 0:
        return f"bwrap exited {done.returncode}: {done.stderr.decode(errors='replace').strip()[:500]}"
    return ""


def require_sandbox() -> None:
    """Raise SandboxUnavailableError unless bubblewrap can confine a child here (probed once)."""
    global _probe_result
    with _probe_lock:
        if _probe_result is None:
            _probe_result = _probe()
    if _probe_result:
        raise SandboxUnavailableError(f"sandbox unavailable, refusing to run job code unconfined: {_probe_result}")


def sandbox_available() -> bool:
    try:
        require_sandbox()
    except SandboxUnavailableError:
        return False
    return True
