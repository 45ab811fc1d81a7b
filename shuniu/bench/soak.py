"""`shuniu bench soak`: a whole stack under mixed load, with crashes injected on a seed.

The stack (its own, in a temporary directory): Redis with AOF, a Ray head hosting the
simulated nodes, the control plane, a simulated fleet heartbeating, and the biller. Clients
submit sandboxed aggregate jobs at a steady rate and retry each failed submit with the same
request id until it is answered; the runs meter usage that the biller rates into the ledger.

Faults, at times drawn from the seed within the first 60 % of the run: SIGKILL and restart of
the control plane, the biller and the fleet, and of Redis (it comes back from its append-only
file). The rest of the run is steady load: memory growth is measured from a warm-up after the
last fault to the end, so that a restarted process is not compared with its predecessor.
At the end the load stops, runs and billing drain, and soak_audit checks jobs and charges.
"""

from __future__ import annotations

import os
import pathlib
import random
import re
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable

import grpc
import redis

from shuniu.bench import soak_audit
from shuniu.bench.lifecycle import _job, _market, _wait
from shuniu.bench.report import Report
from shuniu.client import Client
from shuniu.market.billing.archive import UsageArchive
from shuniu.nodes.simulator import FleetPlan
from shuniu.protos.usage_schema import USAGE_STREAM
from shuniu.protos.v1 import common_pb2, jobs_pb2
from shuniu.security import tls
from shuniu.stack import LocalRedis, ManagedProcess, free_port
from shuniu.stack.ray_cluster import LocalRayCluster

FAULTS = ("control-plane", "biller", "fleet", "redis")
TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
_INTERVAL_S = 1.0  # heartbeat interval of the fleet; SUSPECT after 5, DOWN after 10
# Finished jobs, checkpointed audit entries and ledger lines leave Redis after this: the measured
# window then holds a steady minute of them, and Redis grows only by what must stay.
RETENTION_S = 60.0


def fault_schedule(duration_s: float, seed: int) -> list[tuple[float, str]]:
    """(seconds from the start, what to kill): each kind once per 5 minutes (at least once), in the first 60 %."""
    rng = random.Random(seed)
    warmup_s = min(60.0, duration_s * 0.1)
    kinds = list(FAULTS) * max(1, round(duration_s / 300))
    rng.shuffle(kinds)
    times = sorted(rng.uniform(warmup_s, duration_s * 0.6) for _ in kinds)
    return list(zip(times, kinds))


def rss_mb(pid: int) -> float:
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def _group_pids(pgid: int, names: tuple[str, ...]) -> list[int]:
    """Processes of process group `pgid` whose command is one of `names` (the Ray head's own daemons)."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid and (entry / "comm").read_text().strip() in names:
                    found.append(int(entry.name))
            except (ProcessLookupError, FileNotFoundError, PermissionError):
                continue
    return found


class SoakStack:
    """The stack's processes, each restartable in place (same ports, same Redis directory)."""

    def __init__(self, root: pathlib.Path, nodes: int, seed: int) -> None:
        self.root, self.nodes, self.seed = root, nodes, seed
        self.fleet = FleetPlan(count=nodes, mix={common_pb2.COMPUTE_CLASS_GENERAL: 1}, seed=seed).specs()
        self.redis = LocalRedis(root / "redis")
        self.address = f"127.0.0.1:{free_port()}"
        self.metrics_port = free_port()
        self.ray = LocalRayCluster(root / "ray")
        self.procs: dict[str, ManagedProcess] = {}
        self.unplanned_exits: Counter[str] = Counter()

    def start(self, step: Callable[[str], None]) -> None:
        self.redis.start()
        # Ray's workers inherit these: runs spool usage under the stack and send it to its Redis.
        os.environ.update({"SHUNIU_STATE_DIR": str(self.root), "SHUNIU_REDIS_URL": self.redis.url})
        step(f"starting Ray hosting {self.nodes} nodes")
        self.ray.start([s.node_id for s in self.fleet])
        logs, redis_env = self.root / "logs", {"REDIS_URL": self.redis.url}
        self.procs["control-plane"] = ManagedProcess("control-plane", [
            "control-plane", "--listen", self.address, "--ray-address", self.ray.address, "--interval", str(_INTERVAL_S),
            "--suspect-after", str(_INTERVAL_S * 5), "--down-after", str(_INTERVAL_S * 10),
            "--restart-grace", str(_INTERVAL_S * 10), "--metrics-port", str(self.metrics_port),
            "--retention", str(RETENTION_S)],
            logs, env={**redis_env, **self.ray.env})
        self.procs["biller"] = ManagedProcess("biller", ["biller", "--claim-idle", "2"], logs, env=redis_env)
        self.procs["fleet"] = ManagedProcess("fleet", [
            "node", "simulate", "--count", str(self.nodes), "--mix", "general=1", "--seed", str(self.seed),
            "--interval", str(_INTERVAL_S), "--addr", self.address], logs, env={tls.TLS_DIR_ENV: ""})
        for proc in self.procs.values():
            proc.start()
        with Client(self.address, timeout_s=5, tls=None) as client:
            self.procs["control-plane"].wait_for(client.serving, timeout_s=60, what="serving")

    def kill_and_restart(self, kind: str) -> None:
        """SIGKILL, as a crash would, then the same process again."""
        if kind == "redis":
            self.redis.kill()
            time.sleep(1.0)
            self.redis.start()
            return
        self.procs[kind].kill()
        time.sleep(0.5)
        self.procs[kind].start()

    def revive(self) -> None:
        """Restarts a process that exited on its own (counted: the soak reports it)."""
        for name, proc in self.procs.items():
            if not proc.running:
                self.unplanned_exits[name] += 1
                proc.start()

    def rss(self) -> dict[str, float]:
        out = {name: rss_mb(p.proc.pid) for name, p in self.procs.items() if p.running and p.proc}
        out["redis"] = rss_mb(self.redis._proc.pid) if self.redis._proc else 0.0
        if self.ray.head is not None:
            for pid in _group_pids(self.ray.head.proc.pid, ("gcs_server", "raylet")):
                out[f"ray {pathlib.Path(f'/proc/{pid}/comm').read_text().strip()}"] = rss_mb(pid)
        return out

    def redis_data_mb(self) -> float | None:
        """What Redis holds (INFO used_memory_dataset), apart from its own overhead and allocator slack."""
        try:
            with redis.Redis.from_url(self.redis.url, socket_timeout=5) as client:
                return client.info("memory")["used_memory_dataset"] / 1e6
        except redis.RedisError:
            return None

    def heartbeats(self) -> int | None:
        """The control plane's count of heartbeats applied since it started (None while it is away)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as reply:
                text = reply.read().decode()
        except OSError:
            return None
        match = re.search(r"^shuniu_heartbeats_total (\S+)$", text, re.MULTILINE)
        return int(float(match.group(1))) if match else None

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()
        self.ray.stop()
        self.redis.stop()


class Submitters:
    """Client threads submitting at a steady rate; a failed submit is retried with its request id until answered."""

    def __init__(self, address: str, spec: jobs_pb2.JobSpec, rate_per_s: float, clients: int = 2) -> None:
        self.address, self.spec = address, spec
        self.period_s = clients / rate_per_s
        self.answered: dict[str, str] = {}
        self.errors: Counter[str] = Counter()  # status code name → calls that failed (each retried)
        self.refused: Counter[str] = Counter()  # non-transient refusals: a bug in a soak of valid submits
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i, clients), daemon=True) for i in range(clients)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self, timeout_s: float) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout_s)

    def _run(self, index: int, clients: int) -> None:
        with Client(self.address, timeout_s=10, tls=None) as client:
            n = index
            while not self.stopping.is_set():
                started = time.monotonic()
                self._submit(client, f"soak-{n:07d}")
                n += clients
                self.stopping.wait(max(0.0, self.period_s - (time.monotonic() - started)))

    def _submit(self, client: Client, request_id: str) -> None:
        # Retried after the load stops too: an id a client sent must end answered, or the audit cannot tell lost from unsent.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                job = client.jobs.SubmitJob(jobs_pb2.SubmitJobRequest(request_id=request_id, spec=self.spec), timeout=10).job
                self.answered[request_id] = job.job_id
                return
            except grpc.RpcError as err:
                if err.code() not in TRANSIENT:
                    self.refused[err.code().name] += 1
                    return
                self.errors[err.code().name] += 1
                time.sleep(0.2)
        self.refused["unanswered for 120 s"] += 1


class _Counter:
    """A counter read from a process that may restart: a drop means a new process, whose count starts at 0."""

    def __init__(self) -> None:
        self.before, self.last = 0, 0

    def sample(self, value: int | None) -> None:
        if value is None:
            return
        if value < self.last:
            self.before += self.last
        self.last = value

    @property
    def total(self) -> int:
        return self.before + self.last


def _drain(stack: SoakStack, answered: dict[str, str], timeout_s: float, step) -> int:
    """Waits for every answered job to end and billing to settle; returns batches the final spool flush sent."""
    store = redis.Redis.from_url(stack.redis.url)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            stack.revive()
            audit, _ = soak_audit.audit_jobs(store, answered)
            step(f"draining: {audit.unfinished} job(s) still open")
            if audit.unfinished == 0:
                break
            time.sleep(2.0)
        flushed = soak_audit.flush_spools(store, stack.root)
        try:
            _wait(lambda: soak_audit.billing_settled(store), max(30.0, deadline - time.monotonic()), "billing settled")
        except TimeoutError:
            pass  # the audit reports what stayed unbilled
        return flushed
    finally:
        store.close()


def run_soak_bench(minutes: float, seed: int, step: Callable[[str], None], nodes: int = 60,
                   jobs_per_s: float = 1.0) -> Report:
    duration_s = minutes * 60
    faults = fault_schedule(duration_s, seed)
    warmup_s = min(60.0, duration_s * 0.1)
    baseline_at_s = duration_s * 0.6 + warmup_s
    heartbeats = _Counter()
    with tempfile.TemporaryDirectory(prefix="shuniu-soak-") as tmp:
        stack = SoakStack(pathlib.Path(tmp), nodes, seed)
        try:
            stack.start(step)
            with Client(stack.address, timeout_s=10, tls=None) as client:
                _wait(lambda: len(list(client.list_nodes())) >= nodes, 120, "fleet registered")
                step("listing a product and approving a grant")
                product_id, grant_id = _market(client, stack.root, [s.node_id for s in stack.fleet], stack.fleet[0].site)
                submitters = Submitters(stack.address, _job(grant_id, product_id), jobs_per_s)
                started = time.monotonic()
                submitters.start()
                rss_warm, pending, data_warm = {}, list(faults), (None, 0)
                while (elapsed := time.monotonic() - started) < duration_s:
                    while pending and pending[0][0] <= elapsed:
                        step(f"{elapsed:.0f} s: kill -9 and restart {pending[0][1]}")
                        heartbeats.sample(stack.heartbeats())
                        stack.kill_and_restart(pending.pop(0)[1])
                    stack.revive()
                    heartbeats.sample(stack.heartbeats())
                    if not rss_warm and elapsed >= baseline_at_s:
                        rss_warm = stack.rss()
                        data_warm = (stack.redis_data_mb(), len(submitters.answered))
                    step(f"{elapsed:.0f}/{duration_s:.0f} s: {len(submitters.answered)} jobs submitted, "
                         f"{len(faults) - len(pending)}/{len(faults)} faults")
                    time.sleep(1.0)
                rss_end, load_s = stack.rss(), time.monotonic() - started
                data_end = (stack.redis_data_mb(), len(submitters.answered))
                submitters.stop(150)
                step("draining runs and billing")
                flushed = _drain(stack, submitters.answered, max(120.0, duration_s * 0.2), step)
            store = redis.Redis.from_url(stack.redis.url)
            jobs, by_id = soak_audit.audit_jobs(store, submitters.answered)
            charges = soak_audit.audit_charges(store, by_id, UsageArchive(stack.root / "usage-archive"))
            stream_left = store.xlen(USAGE_STREAM)
            moved_jobs = soak_audit.cold_job_count(store)
            store.close()
        finally:
            stack.stop()
    report = Report("soak", "none: every figure is the run's own", {
        "minutes": minutes, "seed": seed, "nodes": nodes, "jobs_per_s_offered": jobs_per_s,
        "faults": [f"{t:.0f}s {k}" for t, k in faults], "unplanned_exits": dict(stack.unplanned_exits),
        "client_errors": dict(submitters.errors), "refused": dict(submitters.refused),
        "batches_sent_by_final_spool_flush": flushed})
    _figures(report, load_s, heartbeats.total, jobs, charges, submitters, rss_warm, rss_end, len(faults))
    report.add(f"jobs moved out of Redis to the cold store (retention {RETENTION_S:.0f} s)", moved_jobs, "jobs")
    _redis_figures(report, data_warm, data_end, (rss_warm.get("redis"), rss_end.get("redis")), stream_left,
                   charges.batches_posted)
    return report


def _redis_figures(report: Report, warm: tuple[float | None, int], end: tuple[float | None, int],
                   rss: tuple[float | None, float | None], stream_left: int, batches: int) -> None:
    """What Redis's growth is made of: the data it holds, per job of the measured window, and the rest."""
    (warm_mb, warm_jobs), (end_mb, end_jobs) = warm, end
    if warm_mb is not None and end_mb is not None:
        report.add("Redis data set at the end (baseline: after warm-up)", end_mb, "MB", warm_mb)
        if end_jobs > warm_jobs:
            report.add("Redis data set added per job submitted after warm-up", (end_mb - warm_mb) * 1000 / (end_jobs - warm_jobs),
                       "KB/job")
        if rss[0] and rss[1]:  # what a leak would grow: Redis's memory beyond the data it was asked to keep
            rest_warm, rest_end = rss[0] - warm_mb, rss[1] - end_mb
            report.add("Redis memory beyond its data set (RSS − data set), at the end", rest_end, "MB", rest_warm)
            report.add("growth of Redis memory beyond its data set", (rest_end - rest_warm) / rest_warm * 100, "%",
                       goal="< 10 %", met=rest_end - rest_warm < 0.1 * rest_warm)
    report.add("usage stream entries left at the end (billed ones are archived, then trimmed)", stream_left, "entries",
               batches)


def _figures(report: Report, load_s: float, heartbeats: int, jobs: soak_audit.JobAudit,
             charges: soak_audit.ChargeAudit, submitters: Submitters, rss_warm: dict, rss_end: dict, faults: int) -> None:
    add = report.add
    add("faults injected (kill -9 and restart)", faults, "faults")
    add("processes that exited on their own (restarted)", sum(report.params["unplanned_exits"].values()), "exits")
    add("heartbeats applied per second", heartbeats / load_s, "hb/s")
    add("jobs submitted (answered)", jobs.answered, "jobs")
    add("jobs submitted per second", jobs.answered / load_s, "jobs/s")
    add("jobs SUCCEEDED", jobs.succeeded, "jobs")
    add("jobs ended otherwise (failed, egress denied)", jobs.ended_otherwise, "jobs")
    add("jobs still open after the drain", jobs.unfinished, "jobs", goal="0", met=jobs.unfinished == 0)
    add("usage records billed", charges.records_billed, "records")
    add("usage records billed per second", charges.records_billed / load_s, "rec/s")
    add("submit calls failed and retried (errors seen by clients)", sum(submitters.errors.values()), "calls")
    add("submits refused or never answered", sum(submitters.refused.values()), "calls", goal="0",
        met=not submitters.refused)
    add("lost jobs", jobs.lost, "jobs", goal="0", met=jobs.lost == 0)
    add("duplicated jobs", jobs.duplicated, "jobs", goal="0", met=jobs.duplicated == 0)
    add("lost charges (completed runs uncharged, batches unbilled)", charges.uncharged_runs + charges.unbilled_batches,
        "charges", goal="0", met=charges.uncharged_runs + charges.unbilled_batches == 0)
    add("doubled charges", charges.doubled, "charges", goal="0", met=charges.doubled == 0)
    add("balances off the reference rater", charges.balances_off, "accounts", goal="0 (to the fen)",
        met=charges.balances_off == 0)
    add("usage batches dead-lettered", charges.dead_letters, "batches")
    add("ledger check (debits = credits, balances = postings)", float(charges.ledger_ok), "ok", goal="1",
        met=charges.ledger_ok)
    for name in sorted(rss_end):
        warm = rss_warm.get(name)
        add(f"RSS {name}, at the end (baseline: after warm-up)", rss_end[name], "MB", warm)
        if warm:
            growth = (rss_end[name] - warm) / warm * 100
            add(f"RSS growth {name}", growth, "%", goal="< 10 %", met=growth < 10)
