"""The sandbox runner against real bubblewrap: confinement, limits, job kinds, egress, pool."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import statistics
import sys
import textwrap

import pyarrow as pa
import pyarrow.compute as pc
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
    model_job,
    sandbox_available,
    sandbox_pids,
    verify_job,
    wait_sandboxes_gone,
)
from shuniu.monitoring import metrics
from shuniu.nodes import job_runner
from shuniu.nodes.sandbox import _launch, _runtime
from shuniu.protos.v1 import common_pb2, grants_pb2, jobs_pb2, runs_pb2

pytestmark = pytest.mark.skipif(not sandbox_available(), reason="bubblewrap cannot run here")

LABEL_PREFIX = f"shuniu-sandbox-{os.getpid()}-"
OPEN = EgressPolicy(min_group_rows=1, max_rows=100_000)
# Walls far above what a job needs: on a loaded shared machine a niced child waits long for the CPU.
FAST = SandboxLimits(cpu_s=5, wall_timeout_s=60.0)


@pytest.fixture(autouse=True)
def no_leftover_children():
    yield
    assert wait_sandboxes_gone(LABEL_PREFIX, timeout_s=2.0) == [], "a sandbox process outlived its test"


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


def test_child_runs_unprivileged_under_its_own_uid(runner):
    body = """
        def run(table):
            status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
            return pa.table({"seen": [status["Uid"].split()[0] + "," + status["CapEff"].strip()]})
    """
    first, second = (_single_value(_custom(runner, body)).split(",") for _ in range(2))
    assert first[1] == second[1] == "0000000000000000"  # no capability at all
    if os.geteuid() == 0:  # a uid of its own, never 0: RLIMIT_NPROC binds, per sandbox
        assert first[0] != "0" and second[0] != "0" and first[0] != second[0]


def test_child_yields_the_cpu_to_the_node_processes(runner):
    body = """
        def run(table):
            stat = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
            try:  # its session's scheduler group too, where the kernel has them
                group = open("/proc/self/autogroup").read().split()[-1]
            except OSError:
                group = stat[16]
            return pa.table({"nice": [stat[16] + "," + group]})  # stat field 19, counted after the name
    """
    assert _single_value(_custom(runner, body)).split(",") == [str(SandboxLimits().nice)] * 2


@pytest.mark.skipif(_launch.join_argv(SandboxLimits().nice) == [], reason="no cgroup v1 cpu controller the runner can write")
def test_every_process_of_a_child_runs_in_the_sandboxes_cpu_group():
    """Niced processes in sessions of their own still take a full share each; the group holds them all to one."""
    from shuniu.nodes.sandbox.cpu_group import CPU_CGROUP_ROOT, GROUP_NAME

    group = CPU_CGROUP_ROOT / GROUP_NAME
    assert (group / "cpu.shares").read_text().strip() == "110"  # the kernel's weight of nice 10
    child = _launch.spawn(FAST, LABEL_PREFIX + "cgroup", _launch.next_sandbox_uid())
    try:
        assert child.stdout.read(1)  # ready: bwrap has forked the child and it imported pyarrow
        members = {int(pid) for pid in (group / "cgroup.procs").read_text().split()}
        parents = {int(p.name): int(open(p / "stat").read().rsplit(")", 1)[1].split()[1])
                   for p in pathlib.Path("/proc").iterdir() if p.name.isdigit() and (p / "stat").exists()}
        tree = {child.pid} | {pid for pid, parent in parents.items() if parent == child.pid}
        assert len(tree) >= 2 and tree <= members
    finally:
        child.kill()
        child.wait()
        for stream in (child.stdin, child.stdout, child.stderr):
            stream.close()


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


def test_the_child_cannot_watch_files(runner):
    """No inotify or fanotify: a watch would tell the child when the host opens or writes what it can see."""
    outcome = _custom(runner, """
        import ctypes
        def run(table):
            libc = ctypes.CDLL(None, use_errno=True)
            calls = [libc.syscall(294, 0), libc.syscall(253), libc.syscall(300, 0, 0)]  # inotify_init1, inotify_init, fanotify_init
            return pa.table({"result": [",".join(map(str, calls)) + f",errno={ctypes.get_errno()}"]})
    """)
    assert _single_value(outcome) == "-1,-1,-1,errno=1"  # EPERM


_HOST_PATHS = sorted({str(pathlib.Path(__file__).resolve().parents[2]), sys.prefix, os.path.realpath(sys.prefix),
                      sys.base_prefix, os.path.realpath(sys.base_prefix), os.path.expanduser("~"), os.getcwd()})


def test_what_proc_shows_holds_no_host_path_of_the_project_environment_or_home(runner):
    outcome = _custom(runner, """
        def run(table):
            shown = [open(name).read() for name in ("/proc/self/mountinfo", "/proc/self/maps", "/proc/mounts")]
            return pa.table({"shown": ["\\n".join(shown)]})
    """)
    shown = _single_value(outcome)
    assert "/opt/python/bin/python3" in shown  # the interpreter is mapped from the staged runtime
    leaked = [path for path in _HOST_PATHS if path != "/" and path in shown]
    assert leaked == [], f"host paths visible inside the sandbox: {leaked}"


def test_the_child_sees_only_its_runtime_not_the_hosts_usr_or_site_packages(runner):
    outcome = _custom(runner, """
        import os
        def run(table):
            tree = sorted(os.listdir("/")) + ["|"] + sorted(os.listdir("/usr")) + ["|"] + sorted(os.listdir("/opt/sandbox/site"))
            return pa.table({"tree": [" ".join(tree)]})
    """)
    root, usr, site = (part.split() for part in _single_value(outcome).split("|"))
    assert root == ["dev", "lib64", "opt", "proc", "tmp", "usr"]
    assert usr == (["bin", "lib", "lib64"] if os.geteuid() == 0 else ["lib", "lib64"])
    assert [name for name in site if not name.endswith(".libs")] == ["numpy", "pyarrow"]


@pytest.mark.parametrize("module", _runtime.CUSTOM_MODULES)
def test_custom_code_may_import_each_module_the_runtime_offers(runner, module):
    outcome = _custom(runner, f"""
        import {module}
        def run(table):
            return pa.table({{"imported": ["{module}"]}})
    """)
    assert _single_value(outcome) == module


def test_cpu_limit_kills_the_child():
    runner = SandboxRunner(SandboxLimits(cpu_s=1, wall_timeout_s=60.0))
    outcome = _custom(runner, """
        def run(table):
            while True:
                pass
    """)
    assert outcome.status is SandboxStatus.KILLED
    assert outcome.reason.startswith("cpu_limit")
    assert outcome.metrics.cpu_s + outcome.metrics.startup_cpu_s >= 0.9  # RLIMIT_CPU counts the whole life


def test_oversize_output_is_refused():
    runner = SandboxRunner(SandboxLimits(max_output_bytes=1 << 20, wall_timeout_s=60.0))
    outcome = _custom(runner, """
        def run(table):
            return pa.table({"blob": ["x" * 1000] * 5000})
    """)
    assert outcome.status is SandboxStatus.OVERSIZE
    assert outcome.table is None


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        # One reason for every way custom code fails: which one was the code's to choose (issue 18).
        ("x = 1\n", "user_error"),
        ("def run(table):\n    raise ValueError('EID00000001')\n", "user_error"),
        ("def run(table):\n    return 42\n", "user_error"),
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
    assert (m.rows_in, m.rows_out, m.rows_released, m.epsilon_spent_milli) == (300, 3, 3, 0)
    assert m.bytes_in > 0 and m.bytes_out > 0 and m.cpu_s > 0 and m.peak_memory_bytes > 10 << 20
    assert 0 < m.startup_s < m.wall_s + m.startup_s


def test_aggregate_suppresses_groups_under_k_and_reports_percentiles(runner, electricity):
    table = electricity.append_column("district", pa.array(["big"] * 297 + ["tiny"] * 3))
    job = aggregate_job(["district"], [("kwh", "p50"), ("kwh", "p90"), ("kwh", "max")])
    outcome = runner.run(job, table, EgressPolicy(min_group_rows=5), identifier_columns=["enterprise_id"])
    assert outcome.status is SandboxStatus.OK, outcome.reason
    assert outcome.table.column("district").to_pylist() == ["big"]
    row = outcome.table.to_pylist()[0]
    assert row["kwh_p50"] == pytest.approx(1148.0, abs=2.0) and row["kwh_p90"] == pytest.approx(1267.4, abs=2.0)
    assert (outcome.metrics.rows_out, outcome.metrics.rows_released) == (2, 1)


def test_aggregate_with_laplace_noise_reports_the_epsilon_spent(runner, electricity):
    policy = EgressPolicy(min_group_rows=5, dp_epsilon_milli=500, dp_columns=("kwh_sum",), dp_sensitivity={"kwh_sum": 1300.0})
    outcome = runner.run(aggregate_job(["city"], [("kwh", "sum")]), electricity, policy)
    assert outcome.status is SandboxStatus.OK, outcome.reason
    assert outcome.metrics.epsilon_spent_milli == 500 and outcome.verdict.epsilon_spent_milli == 500
    exact = {"Zhengzhou": sum(1000.0 + i for i in range(0, 300, 3))}
    assert outcome.table.filter(pc.equal(outcome.table.column("city"), "Zhengzhou")).column("kwh_sum")[0].as_py() != exact["Zhengzhou"]


def test_model_releases_only_parameters_and_metrics(runner, electricity):
    table = electricity.append_column("score", pa.array([2.0 * (1000 + i) + 5.0 for i in range(300)]))
    outcome = runner.run(model_job("linear", ["kwh"], "score"), table, EgressPolicy(min_group_rows=50),
                         sensitive_columns=["legal_person_phone"], identifier_columns=["enterprise_id"])  # fmt: skip
    assert outcome.status is SandboxStatus.OK, outcome.reason
    assert outcome.table.column_names == ["name", "role", "value"]
    values = dict(zip(outcome.table.column("name").to_pylist(), outcome.table.column("value").to_pylist()))
    assert values["kwh"] == pytest.approx(2.0) and values["n"] == 300 and values["r2"] == pytest.approx(1.0)
    assert outcome.metrics.rows_released == outcome.table.num_rows == 5
    withheld = runner.run(model_job("linear", ["kwh"], "score"), table, EgressPolicy(min_group_rows=301))
    assert withheld.status is SandboxStatus.EGRESS_DENIED and withheld.verdict.code == "SMALL_GROUP"


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
        (custom_job("def run(t):\n    return t.select(['legal_person_phone'])"), OPEN, "SENSITIVE_COLUMN"),
        (custom_job("def run(t):\n    return t.select(['enterprise_id']).rename_columns(['name'])"), OPEN, "RAW_VALUE_LEAK"),
        (custom_job("import pyarrow as pa\ndef run(t):\n    return pa.table({'v': t.column('legal_person_phone').cast(pa.int64()).cast(pa.float64())})"), OPEN, "RAW_VALUE_LEAK"),
        (custom_job("def run(t):\n    return t.select(['city'])"), EgressPolicy(max_rows=100), "TOO_MANY_ROWS"),
    ],
    ids=["sensitive-column", "identifier-renamed", "phone-cast-to-float", "too-many-rows"],
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


def test_refuses_custom_code_when_the_bwrap_probe_fails(monkeypatch):
    broken = dataclasses.replace(_launch.host_runtime(), bwrap="/usr/bin/false")
    monkeypatch.setattr(_launch, "host_runtime", lambda: broken)
    monkeypatch.setattr(_launch, "_probe_result", None)  # probe again, for real, with the broken bwrap
    with pytest.raises(SandboxUnavailableError, match="refusing to run job code unconfined: bwrap exited 1"):
        SandboxRunner().run(custom_job("def run(t):\n    return t\n"), pa.table({"x": [1]}), OPEN)
    assert not sandbox_available()


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
        assert pool.wait_full(60.0)
        warm = SandboxRunner(pool=pool)
        warm_startups = []
        for _ in range(3):
            assert pool.wait_full(60.0)
            outcome = warm.run(job, electricity, OPEN)
            assert outcome.status is SandboxStatus.OK, outcome.reason
            warm_startups.append(outcome.metrics.startup_s)
    assert max(warm_startups) < 0.1
    assert statistics.median(warm_startups) < statistics.median(cold_startups)


def _live_labels(prefix: str = LABEL_PREFIX) -> set[str]:
    """Labels of the sandboxes alive now: one per sandbox, however many processes carry it."""
    labels = set()
    for pid in sandbox_pids(prefix):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                labels.update(a.decode() for a in handle.read().split(b"\0") if a.startswith(prefix.encode()))
        except OSError:
            continue  # exited while we looked
    return labels


def _limits_seen(outcome) -> dict[str, int]:
    lines = _single_value(outcome).splitlines()[1:]
    return {line[:26].strip(): line[26:].split()[0] for line in lines}  # "Max cpu time  <soft> <hard> <unit>"


_READ_LIMITS = """
    def run(table):
        return pa.table({"limits": [open("/proc/self/limits").read()]})
"""


def test_a_warm_child_runs_each_job_under_that_jobs_limits():
    """One pool hands its children to jobs of any limits: each is set on the waiting child at hand-off."""
    asked = [dataclasses.replace(FAST, cpu_s=3, memory_bytes=1536 << 20, nofile=64, nproc=40, fsize_bytes=1 << 20),
             dataclasses.replace(FAST, cpu_s=7, memory_bytes=2 << 30, nofile=96, nproc=50, fsize_bytes=2 << 20)]
    with SandboxPool(1, FAST) as pool:
        for limits in asked:
            assert pool.wait_full(60.0)
            seen = _limits_seen(_custom(SandboxRunner(pool=pool.with_limits(limits)), _READ_LIMITS))
            assert (seen["Max cpu time"], seen["Max address space"], seen["Max open files"], seen["Max processes"],
                    seen["Max file size"]) == tuple(str(v) for v in (limits.cpu_s, limits.memory_bytes, limits.nofile,
                                                                     limits.nproc, limits.fsize_bytes))


def test_custom_code_finds_every_codec_by_name(runner):
    """Codecs are looked up by name when used: Chinese text in GBK or GB18030, and the "idna" that
    resolving "127.0.0.1" for a socket asks for, must be in the staged runtime."""
    outcome = _custom(runner, """
        import pyarrow as pa
        def run(table):
            names = ["gbk", "gb18030", "big5", "latin-1", "utf-16", "cp1252", "shift_jis"]
            encoded = ["数纽".encode(n, errors="replace").hex() for n in names]
            return pa.table({"encoded": encoded + ["127.0.0.1".encode("idna").decode()]})
    """)
    assert outcome.ok, outcome.reason
    encoded = outcome.table.column("encoded").to_pylist()
    assert encoded[0] == "数纽".encode("gbk").hex() and encoded[-1] == "127.0.0.1"


_ALLOCATE = """
import pyarrow as pa
def run(table):
    block = bytearray(256 << 20)  # a job's own working memory, well inside its 1 GiB
    return pa.table({"allocated_mib": [len(block) >> 20]})
"""


def test_warm_children_leave_a_one_gib_job_its_memory():
    """A warm child imports under the pool's address-space limit, as a cold one does: started unlimited,
    its allocators reserved ~1.4 GiB, and every 1 GiB job handed to it failed at its first allocation."""
    limits = dataclasses.replace(FAST, memory_bytes=1 << 30)
    with SandboxPool(1, limits) as pool:
        for _ in range(3):
            assert pool.wait_full(60.0)
            outcome = _custom(SandboxRunner(pool=pool), _ALLOCATE)
            assert outcome.ok, outcome.reason
            assert outcome.table.column("allocated_mib").to_pylist() == [256]


def _power_request(path: str, runtime_s: int) -> runs_pb2.NodeRunRequest:
    spec = jobs_pb2.JobSpec(kind=common_pb2.JOB_KIND_AGGREGATE, max_runtime_s=runtime_s,
                            aggregate=jobs_pb2.AggregateArgs(group_by=["city"], aggregations=[
                                jobs_pb2.Aggregation(function=jobs_pb2.AGGREGATE_FUNCTION_SUM, column="kwh",
                                                     output_name="kwh_sum")]))
    return runs_pb2.NodeRunRequest(job_id=f"j-{runtime_s}", node_id="n-1", spec=spec,
                                   egress=grants_pb2.EgressProfile(min_group_size=5),
                                   inputs=[runs_pb2.RunInput(product_id="p-1", paths=[path], columns=["city", "kwh"])])


def test_jobs_of_twenty_distinct_limits_leave_one_idle_child_and_the_metrics_say_so(tmp_path, electricity, eventually):
    path = str(tmp_path / "power.parquet")
    pq.write_table(electricity.select(["city", "kwh"]), path)
    evicted = metrics.NODE.get_sample_value("shuniu_sandbox_pool_evictions_total", {"reason": "closed"}) or 0.0
    try:
        for runtime_s in range(30, 50):  # 20 distinct wall and CPU limits
            result = job_runner.execute(_power_request(path, runtime_s))
            assert result.state == jobs_pb2.JOB_STATE_SUCCEEDED, result.reason
        eventually(lambda: metrics.NODE.get_sample_value("shuniu_sandbox_pool_idle_children") == 1,
                   what="the pool refilled")
        assert len(_live_labels()) == 1  # a pool per set of limits kept 20
    finally:
        job_runner.close_warm_sandbox()
    assert metrics.NODE.get_sample_value("shuniu_sandbox_pool_idle_children") == 0
    assert metrics.NODE.get_sample_value("shuniu_sandbox_pool_evictions_total", {"reason": "closed"}) == evicted + 1
