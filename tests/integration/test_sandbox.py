"""The sandbox runner against real bubblewrap: confinement, limits, job kinds, egress, pool."""

from __future__ import annotations

import os
import pathlib
import socket
import statistics
import textwrap
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shuniu.nodes.sandbox import (
    EgressPolicy,
    SandboxLimits,
    SandboxPool,
    SandboxRunner,
    SandboxStatus,
    SandboxUnavailableError,
    aggregate_job,
    custom_job,
    read_granted_columns,
    sandbox_available,
    verify_job,
)
from shuniu.nodes.sandbox import _launch

pytestmark = pytest.mark.skipif(not sandbox_available(), reason="bubblewrap cannot run here")

LABEL_PREFIX = f"shuniu-sandbox-{os.getpid()}-"
OPEN = EgressPolicy(min_group_rows=1, max_rows=100_000)
FAST = SandboxLimits(cpu_s=5, wall_timeout_s=8.0)


def _sandbox_pids() -> list[int]:
    pids = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if LABEL_PREFIX.encode() in cmdline:
            pids.append(int(entry.name))
    return pids


@pytest.fixture(autouse=True)
def no_leftover_children():
    yield
    deadline = time.monotonic() + 2.0
    while _sandbox_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sandbox_pids() == [], "a sandbox process outlived its test"


@pytest.fixture(scope="module")
def runner() -> SandboxRunner:
    return SandboxRunner(FAST)


@pytest.fixture(scope="module")
def electricity() -> pa.Table:
    cities = ["Zhengzhou", "Luoyang", "Kaifeng"]
    n = 300
    return pa.table({
        "enterprise_id": [f"EID{i:08d}" for i in range(n)],
        "city": [cities[i % 3] for i in range(n)],
        "kwh": [float(1000 + i) for i in range(n)],
        "legal_person_phone": [f"1380000{i:04d}" for i in range(n)],
    })  # fmt: skip


def _custom(runner: SandboxRunner, body: str, table: pa.Table | None = None):
    code = "import pyarrow as pa\n" + textwrap.dedent(body)
    return runner.run(custom_job(code), table if table is not None else pa.table({"x": [1]}), OPEN)


def _single_value(outcome) -> str:
    assert outcome.status is SandboxStatus.OK, outcome.reason
    return outcome.table.column(0)[0].as_py()


def test_child_cannot_reach_the_network(runner):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        outcome = _custom(runner, f"""
            import socket
            def run(table):
                results = []
                for host in ("127.0.0.1", "1.1.1.1"):
                    try:
                        socket.create_connection((host, {port}), timeout=1).close()
                        results.append("connected")
                    except OSError as exc:
                        results.append(type(exc).__name__)
                return pa.table({{"result": [",".join(results)]}})
        """)
    finally:
        listener.close()
    assert "connected" not in _single_value(outcome)


@pytest.mark.parametrize(
    "path",
    ["/root", "/root/.ray", "/work/main", "/work/main/.venv", "/etc/passwd", "/run"],
    ids=["home", "ray-token-dir", "repo", "venv", "passwd", "run"],
)
def test_child_cannot_see_host_paths(runner, path):
    outcome = _custom(runner, f"""
        import os
        def run(table):
            seen = os.path.exists({path!r}) and os.listdir({path!r}) != [".pyenv"]
            return pa.table({{"seen": [str(seen)]}})
    """)
    assert _single_value(outcome) == "False"


def test_child_cannot_read_the_data_files(runner, tmp_path):
    data_file = tmp_path / "claims.parquet"
    pq.write_table(pa.table({"x": [1]}), data_file)
    outcome = _custom(runner, f"""
        def run(table):
            try:
                open({str(data_file)!r}, "rb").read()
                return pa.table({{"read": ["yes"]}})
            except OSError as exc:
                return pa.table({{"read": [type(exc).__name__]}})
    """)
    assert _single_value(outcome) == "FileNotFoundError"


def test_child_sees_a_scrubbed_environment(runner, monkeypatch):
    monkeypatch.setenv("SHUNIU_TEST_SECRET", "s3cr3t-token-value")
    outcome = _custom(runner, """
        import os
        def run(table):
            names = sorted(os.environ)
            with open("/proc/1/environ", "rb") as handle:
                pid1 = handle.read().decode()
            return pa.table({"env": [",".join(names) + "|" + pid1]})
    """)
    seen = _single_value(outcome)
    assert "SHUNIU_TEST_SECRET" not in seen and "s3cr3t" not in seen
    assert set(seen.split("|")[0].split(",")) <= {"PATH", "LANG", "HOME", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "LC_CTYPE", "PWD"}


def test_child_cannot_write_outside_tmp(runner):
    outcome = _custom(runner, """
        def run(table):
            results = []
            for path in ("/etc/evil", "/usr/evil", "/evil", "/tmp/ok"):
                try:
                    with open(path, "w") as handle:
                        handle.write("x")
                    results.append("wrote")
                except OSError:
                    results.append("refused")
            return pa.table({"result": [",".join(results)]})
    """)
    assert _single_value(outcome) == "refused,refused,refused,wrote"


def test_seccomp_refuses_new_namespaces_and_ptrace(runner):
    outcome = _custom(runner, """
        import ctypes
        def run(table):
            libc = ctypes.CDLL(None, use_errno=True)
            unshare = libc.syscall(272, 0x10000000)  # unshare(CLONE_NEWUSER)
            ptrace = libc.syscall(101, 16, 1, 0, 0)  # ptrace(PTRACE_ATTACH, 1)
            return pa.table({"result": [f"{unshare},{ptrace}"]})
    """)
    assert _single_value(outcome) == "-1,-1"


def test_wall_timeout_kills_the_child():
    runner = SandboxRunner(SandboxLimits(wall_timeout_s=1.5))
    outcome = _custom(runner, """
        import time
        def run(table):
            time.sleep(60)
    """)
    assert outcome.status is SandboxStatus.TIMEOUT
    assert outcome.metrics.wall_s < 3.0


def test_cpu_limit_kills_the_child():
    runner = SandboxRunner(SandboxLimits(cpu_s=1, wall_timeout_s=10.0))
    outcome = _custom(runner, """
        def run(table):
            while True:
                pass
    """)
    assert outcome.status is SandboxStatus.KILLED
    assert outcome.reason.startswith("cpu_limit")
    assert outcome.metrics.cpu_s + outcome.metrics.startup_cpu_s >= 0.9  # RLIMIT_CPU counts the whole life


def test_memory_limit_is_enforced():
    runner = SandboxRunner(SandboxLimits(memory_bytes=768 << 20, wall_timeout_s=10.0))
    outcome = _custom(runner, """
        def run(table):
            hoard = bytearray(1 << 30)
            return pa.table({"n": [len(hoard)]})
    """)
    assert outcome.status is SandboxStatus.KILLED
    assert outcome.reason.startswith("memory_limit")


def test_oversize_output_is_refused():
    runner = SandboxRunner(SandboxLimits(max_output_bytes=1 << 20, wall_timeout_s=8.0))
    outcome = _custom(runner, """
        def run(table):
            return pa.table({"blob": ["x" * 1000] * 5000})
    """)
    assert outcome.status is SandboxStatus.OVERSIZE
    assert outcome.table is None


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("x = 1\n", "no_run"),
        ("def run(table):\n    raise ValueError('EID00000001')\n", "user_error"),
        ("def run(table):\n    return 42\n", "bad_result"),
    ],
    ids=["no-run-defined", "run-raises", "run-returns-non-table"],
)
def test_bad_custom_code_ends_in_error_without_its_message(runner, code, reason):
    outcome = runner.run(custom_job(code), pa.table({"x": [1]}), OPEN)
    assert outcome.status is SandboxStatus.ERROR
    assert outcome.reason.startswith(reason)
    assert "EID" not in outcome.reason


def test_aggregate_groups_and_meters_the_run(runner, electricity):
    job = aggregate_job(["city"], [("kwh", "sum"), ("kwh", "mean"), ("kwh", "count")])
    outcome = runner.run(job, electricity, EgressPolicy(min_group_rows=50), identifier_columns=["enterprise_id"])
    assert outcome.status is SandboxStatus.OK, outcome.reason
    rows = {r["city"]: r for r in outcome.table.to_pylist()}
    assert rows["Zhengzhou"]["kwh_count"] == 100
    assert rows["Zhengzhou"]["kwh_sum"] == sum(1000.0 + i for i in range(0, 300, 3))
    assert "__group_rows" not in outcome.table.column_names
    m = outcome.metrics
    assert (m.rows_in, m.rows_out) == (300, 3)
    assert m.bytes_in > 0 and m.bytes_out > 0 and m.cpu_s > 0 and m.peak_memory_bytes > 10 << 20
    assert 0 < m.startup_s < m.wall_s + m.startup_s


def test_verify_answers_claims_with_booleans_only(runner, electricity):
    job = verify_job([
        [("enterprise_id", "==", "EID00000007")],
        [("enterprise_id", "==", "EID99999999")],
        [("city", "==", "Luoyang"), ("kwh", ">=", 1290.0)],
    ])  # fmt: skip
    outcome = runner.run(job, electricity, OPEN, identifier_columns=["enterprise_id"])
    assert outcome.status is SandboxStatus.OK, outcome.reason
    assert outcome.table.schema == pa.schema([("holds", pa.bool_())])
    assert outcome.table.column("holds").to_pylist() == [True, False, True]


def test_custom_code_runs_over_the_table(runner, electricity):
    outcome = runner.run(
        custom_job("import pyarrow.compute as pc\ndef run(table):\n    return table.group_by('city').aggregate([('kwh', 'max')])\n"),
        electricity.select(["city", "kwh"]),
        OPEN,
    )
    assert outcome.status is SandboxStatus.OK, outcome.reason
    assert sorted(outcome.table.column("kwh_max").to_pylist()) == [1297.0, 1298.0, 1299.0]


@pytest.mark.parametrize(
    ("job", "policy", "code"),
    [
        (aggregate_job(["enterprise_id"], [("kwh", "sum")]), EgressPolicy(min_group_rows=5), "SMALL_GROUP"),
        (custom_job("def run(t):\n    return t.select(['legal_person_phone'])"), OPEN, "SENSITIVE_COLUMN"),
        (custom_job("def run(t):\n    return t.select(['enterprise_id']).rename_columns(['name'])"), OPEN, "RAW_VALUE_LEAK"),
        (custom_job("import pyarrow as pa\ndef run(t):\n    return pa.table({'v': t.column('legal_person_phone').cast(pa.int64()).cast(pa.float64())})"), OPEN, "RAW_VALUE_LEAK"),
        (custom_job("def run(t):\n    return t.select(['city'])"), EgressPolicy(max_rows=100), "TOO_MANY_ROWS"),
    ],
    ids=["group-of-one", "sensitive-column", "identifier-renamed", "phone-cast-to-float", "too-many-rows"],
)
def test_egress_withholds_unsafe_output(runner, electricity, job, policy, code):
    outcome = runner.run(
        job, electricity, policy, sensitive_columns=["legal_person_phone"], identifier_columns=["enterprise_id"]
    )
    assert outcome.status is SandboxStatus.EGRESS_DENIED
    assert outcome.verdict.code == code
    assert outcome.table is None


def test_refuses_to_run_when_bubblewrap_is_unavailable(monkeypatch):
    monkeypatch.setattr(_launch, "_probe_result", "bwrap exited 1: no user namespaces")
    with pytest.raises(SandboxUnavailableError, match="refusing to run job code unconfined"):
        SandboxRunner()
    with pytest.raises(SandboxUnavailableError):
        SandboxPool(1)


def test_read_granted_columns_projects_and_caps_rows(tmp_path, electricity):
    for i in range(2):
        pq.write_table(electricity, tmp_path / f"part-{i}.parquet")
    paths = sorted(tmp_path.glob("*.parquet"))
    table = read_granted_columns(paths, ["city", "kwh"], max_rows=450)
    assert table.column_names == ["city", "kwh"] and table.num_rows == 450
    with pytest.raises(ValueError, match="not in the data"):
        read_granted_columns(paths, ["salary"], max_rows=10)


def test_warm_pool_starts_faster_than_cold(electricity):
    job = aggregate_job(["city"], [("kwh", "sum")])
    cold = SandboxRunner(FAST)
    cold_startups = [cold.run(job, electricity, OPEN).metrics.startup_s for _ in range(3)]
    with SandboxPool(2, FAST) as pool:
        assert pool.wait_full(10.0)
        warm = SandboxRunner(pool=pool)
        warm_startups = []
        for _ in range(3):
            assert pool.wait_full(10.0)
            outcome = warm.run(job, electricity, OPEN)
            assert outcome.status is SandboxStatus.OK, outcome.reason
            warm_startups.append(outcome.metrics.startup_s)
    assert max(warm_startups) < 0.1
    assert statistics.median(warm_startups) < statistics.median(cold_startups)
