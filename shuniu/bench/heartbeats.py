"""`shuniu bench heartbeats`: streaming heartbeats against the baseline of one unary RPC each.

The bench starts its own Redis and control plane processes, registers N simulated nodes
and drives them from driver processes over real gRPC on loopback. By default grpc-js plays
the agents (tools/bench/heartbeat-driver.mjs): it costs the shared 2 cores far less than
Python grpc.aio agents (`--driver python`), so the figures are the control plane's. For the
same fleet and interval it measures the streaming path and the unary baseline (rate held,
ack latency, control-plane CPU), then the saturated throughput of each. With `tls` the control
plane requires client certificates and enforces roles, and the drivers present the fleet's
certificate (it binds `bench-*`): run it with and without to see what mTLS costs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import multiprocessing
import os
import pathlib
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from shuniu.bench.heartbeat_driver import ACK_EVERY, CHANNEL_OPTIONS, Phase, Tally, run_phase
from shuniu.bench.report import Report
from shuniu.client import Client
from shuniu.nodes.simulator import FleetPlan
from shuniu.protos.v1 import nodes_pb2, nodes_pb2_grpc
from shuniu.security import pki, tls
from shuniu.security.tls import ClientTls, aio_channel
from shuniu.stack import LocalRedis, ManagedProcess, free_port

_TICKS = os.sysconf("SC_CLK_TCK")
# The bench's fleet (FleetPlan prefix "bench") presents one certificate binding all its node ids.
FLEET_IDENTITY = pki.node_identity("bench-*")
# Driver processes need a moment to start and import before a phase begins.
_LEAD_S = 4.0


@dataclass
class PhaseResult:
    tally: Tally
    seconds: float
    server_cpu_s: float

    @property
    def rate(self) -> float:
        return self.tally.confirmed / self.seconds

    def percentile_ms(self, q: float) -> float:
        lat = self.tally.latencies_ms
        return float(np.percentile(lat, q)) if lat is not None and len(lat) else float("nan")


def _cpu_seconds(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


async def _register_all(address: str, specs, fleet_tls: ClientTls | None,
                        concurrency: int = 64) -> list[tuple[str, int]]:
    queue = list(enumerate(specs))
    out: list[tuple[str, int]] = [("", 0)] * len(specs)
    async with aio_channel(address, fleet_tls, CHANNEL_OPTIONS) as channel:
        stub = nodes_pb2_grpc.NodeServiceStub(channel)

        async def worker() -> None:
            while queue:
                i, spec = queue.pop()
                response = await stub.Register(nodes_pb2.RegisterRequest(
                    request_id=f"bench-{spec.node_id}-{time.time_ns()}", node_id=spec.node_id, site=spec.site,
                    compute_class=spec.compute_class, capacity=spec.capacity, price_card=spec.price_card), timeout=60)
                out[i] = (spec.node_id, response.epoch)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


_NODE_DRIVER = pathlib.Path(__file__).resolve().parents[2] / "tools" / "bench" / "heartbeat-driver.mjs"


def node_driver_available() -> bool:
    """grpc-js agents need node and the packages `./dev` installs from package.json."""
    modules = _NODE_DRIVER.parents[2] / "node_modules" / "@grpc" / "grpc-js"
    return shutil.which("node") is not None and _NODE_DRIVER.exists() and modules.exists()


class _Drivers:
    """Runs phases in driver processes: grpc-js (`node`) or Python grpc.aio (`python`)."""

    def __init__(self, kind: str, count: int, tmp: pathlib.Path, ca_dir: pathlib.Path | None = None) -> None:
        self.kind, self.count, self.tmp, self.ca_dir = kind, count, tmp, ca_dir
        self.pool = None
        if kind == "python":
            # Spawned, not forked: a forked child must not inherit gRPC's state.
            self.pool = concurrent.futures.ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"))

    def start(self, phases: list[Phase]) -> Callable[[], list[Tally]]:
        if self.pool is not None:
            futures = [self.pool.submit(run_phase, p) for p in phases]
            return lambda: [f.result() for f in futures]
        procs = []
        for k, p in enumerate(phases):
            spec = self.tmp / f"phase-{k}.json"
            spec.write_text(json.dumps({
                "address": p.address, "nodes": p.nodes, "start_unix_ms": int(p.start_unix_s * 1000),
                "warmup_s": p.warmup_s, "duration_s": p.duration_s, "interval_s": p.interval_s,
                "open_spread_s": p.open_spread_s, "ack_every": ACK_EVERY,
                "mode": f"{'stream' if p.streaming else 'unary'}-{'saturated' if p.saturated else 'paced'}",
                "tls": self._tls_files(),
            }))
            procs.append(subprocess.Popen(["node", str(_NODE_DRIVER), str(spec)], stdout=subprocess.PIPE, text=True))

        def results() -> list[Tally]:
            out = []
            for proc in procs:
                stdout, _ = proc.communicate(timeout=600)
                if proc.returncode != 0:
                    raise RuntimeError(f"heartbeat driver exited with {proc.returncode}")
                raw = json.loads(stdout)
                out.append(Tally(raw["sent"], raw["confirmed"], raw["errors"], np.array(raw["latencies_ms"]),
                                 raw["error_codes"]))
            return out

        return results

    def _tls_files(self) -> dict[str, str] | None:
        if self.ca_dir is None:
            return None
        stem = self.ca_dir / FLEET_IDENTITY.file_stem()
        return {"ca": str(self.ca_dir / pki.CA_CERT), "cert": f"{stem}.pem", "key": f"{stem}.key",
                "server_name": tls.SERVER_NAME}

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def _run_phase(drivers: _Drivers, server_pid: int, address: str, nodes, streaming: bool, saturated: bool,
               interval_s: float, warmup_s: float, duration_s: float, open_spread_s: float = 0.0) -> PhaseResult:
    """Runs one phase across the driver processes and samples the control plane's CPU over the window."""
    start = time.time() + (_LEAD_S if drivers.kind == "python" else 1.5)
    slices = [nodes[k::drivers.count] for k in range(drivers.count)]
    fleet_tls = _fleet_tls(drivers.ca_dir)
    phases = [Phase(address, s, streaming, saturated, interval_s, start, warmup_s, duration_s, open_spread_s, fleet_tls)
              for s in slices if s]
    results = drivers.start(phases)
    time.sleep(max(0.0, start + warmup_s - time.time()))
    cpu_start = _cpu_seconds(server_pid)
    time.sleep(duration_s)
    cpu_end = _cpu_seconds(server_pid)
    tallies = results()
    codes: dict[str, int] = {}
    for t in tallies:
        for code, count in t.error_codes.items():
            codes[code] = codes.get(code, 0) + count
    total = Tally(sum(t.sent for t in tallies), sum(t.confirmed for t in tallies), sum(t.errors for t in tallies),
                  np.concatenate([t.latencies_ms for t in tallies if t.latencies_ms is not None]), codes)
    return PhaseResult(total, duration_s, cpu_end - cpu_start)


def _drive(address: str, server_pid: int, nodes: int, interval_s: float, duration_s: float, senders: int,
           drivers: _Drivers, step: Callable[[str], None]) -> dict[str, PhaseResult]:
    specs = FleetPlan(count=nodes, mix={1: 70, 2: 20, 3: 10}, seed=11, prefix="bench").specs()
    step(f"registering {nodes} nodes")
    registered = asyncio.run(_register_all(address, specs, _fleet_tls(drivers.ca_dir)))
    sample = random.Random(3).sample(registered, min(senders, len(registered)))
    saturate_s = min(duration_s, 10.0)
    # Opening a stream costs the control plane about as much as a unary call: the fleet joins
    # at about 1,000 nodes/s (a real province connects over minutes) before the window opens.
    open_spread_s = max(interval_s, nodes / 1000)
    warmup_s = open_spread_s + 2 * interval_s
    results = {}
    step("streaming heartbeats at the target rate")
    results["stream"] = _run_phase(drivers, server_pid, address, registered, True, False,
                                   interval_s, warmup_s, duration_s, open_spread_s)
    step("unary heartbeats at the target rate (baseline)")
    results["unary"] = _run_phase(drivers, server_pid, address, registered, False, False,
                                  interval_s, warmup_s, duration_s, open_spread_s)
    step("saturated streaming")
    results["stream_max"] = _run_phase(drivers, server_pid, address, sample, True, True, interval_s, 1.0, saturate_s)
    step("saturated unary (baseline)")
    results["unary_max"] = _run_phase(drivers, server_pid, address, sample, False, True, interval_s, 1.0, saturate_s)
    return results


def _fleet_tls(ca_dir: pathlib.Path | None) -> ClientTls | None:
    return None if ca_dir is None else tls.load_client_tls(ca_dir, FLEET_IDENTITY.file_stem())


def _make_ca(root: pathlib.Path) -> pathlib.Path:
    ca_dir = root / "ca"
    pki.init_ca(ca_dir)
    pki.issue_server(ca_dir)
    pki.issue_identity(ca_dir, FLEET_IDENTITY)
    return ca_dir


def run_heartbeat_bench(nodes: int, interval_s: float, duration_s: float, senders: int, drivers: int = 1,
                        driver: str = "node", step: Callable[[str], None] = lambda _: None,
                        secure: bool = False) -> Report:
    """Starts Redis and a control plane (with mTLS and roles when `secure`), drives the fleet, returns the report."""
    with tempfile.TemporaryDirectory(prefix="shuniu-bench-") as tmp:
        root = pathlib.Path(tmp)
        ca_dir = _make_ca(root) if secure else None
        redis_server = LocalRedis(root / "redis").start()
        address = f"127.0.0.1:{free_port()}"
        # Liveness far beyond the run so that a slow baseline does not turn nodes SUSPECT mid-measurement.
        plane = ManagedProcess("control-plane", [
            "control-plane", "--listen", address, "--redis-url", redis_server.url, "--interval", str(interval_s),
            "--suspect-after", str(interval_s * 60), "--down-after", str(interval_s * 120),
            *(["--tls-dir", str(ca_dir)] if ca_dir else [])], root)
        try:
            step("starting Redis and the control plane" + (" (mTLS)" if secure else ""))
            plane.start()
            _wait_serving(plane, address, _fleet_tls(ca_dir))
            assert plane.proc is not None
            pool = _Drivers(driver, drivers, root, ca_dir)
            try:
                results = _drive(address, plane.proc.pid, nodes, interval_s, duration_s, senders, pool, step)
            finally:
                pool.close()
        finally:
            plane.stop()
            redis_server.stop()
    return _report(results, nodes, interval_s, duration_s, senders, drivers, driver, secure)


def _wait_serving(plane: ManagedProcess, address: str, fleet_tls: ClientTls | None) -> None:
    with Client(address, tls=fleet_tls) as client:
        plane.wait_for(client.serving, timeout_s=30, what="serving")


def _report(results: dict[str, PhaseResult], nodes: int, interval_s: float, duration_s: float, senders: int,
            drivers: int, driver: str, secure: bool = False) -> Report:
    stream, unary = results["stream"], results["unary"]
    target = nodes / interval_s
    report = Report("heartbeats", "one unary HeartbeatOnce RPC per heartbeat",
                    {"nodes": nodes, "interval_s": interval_s, "duration_s": duration_s, "saturation_senders": senders,
                     "driver_processes": drivers, "driver": driver, "ack_every": ACK_EVERY,
                     "transport": "mTLS, roles enforced" if secure else "plaintext",
                     "errors_by_code": {name: r.tally.error_codes for name, r in results.items()}})
    report.add("heartbeats/s held at target", stream.rate, "hb/s", unary.rate,
               f"≥ {0.99 * target:,.0f} hb/s ({nodes} nodes / {interval_s:g} s)", stream.rate >= 0.99 * target)
    report.add("ack latency p50 (stream: acked heartbeats)", stream.percentile_ms(50), "ms", unary.percentile_ms(50))
    report.add("ack latency p99 (stream: acked heartbeats)", stream.percentile_ms(99), "ms", unary.percentile_ms(99), "< 50 ms",
               stream.percentile_ms(99) < 50)
    report.add("control-plane CPU at target", 100 * stream.server_cpu_s / stream.seconds, "% of a core",
               100 * unary.server_cpu_s / unary.seconds)
    report.add("errors at target", stream.tally.errors, "calls", unary.tally.errors, "0", stream.tally.errors == 0)
    smax, umax = results["stream_max"], results["unary_max"]
    report.add("saturated throughput", smax.rate, "hb/s", umax.rate, "≥ 5× baseline",
               umax.rate > 0 and smax.rate / umax.rate >= 5)
    report.add("control-plane CPU per 1k heartbeats (saturated)", 1000 * smax.server_cpu_s / max(1, smax.tally.confirmed), "CPU-s",
               1000 * umax.server_cpu_s / max(1, umax.tally.confirmed))
    return report
