"""`shuniu control-plane` (one process) and `shuniu up` (the whole local stack)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from collections import Counter

import grpc
import redis.exceptions
import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from shuniu.cli._app import app, console, err_console, fail, stack_file, state_dir
from shuniu.client import Client
from shuniu.monitoring.exporter import MULTIPROC_ENV, multiprocess_dir
from shuniu.monitoring.prometheus_server import PrometheusServer
from shuniu.nodes import topology
from shuniu.nodes.simulator import FleetPlan, parse_mix
from shuniu.scheduler import control_plane as plane_server  # the server loads when `control-plane` runs, not for every command
from shuniu.stack import LocalRedis, ManagedProcess, free_port
from shuniu.security import tls
from shuniu.stack.certs import OPERATOR, ensure_stack_ca, fleet_identity
from shuniu.stack.ray_cluster import LocalRayCluster
from shuniu.stack.seed import seed_stack
from shuniu.stack.supervisor import Supervisor


@app.command("control-plane")
def control_plane(
    listen: str = typer.Option("127.0.0.1:7070", help="host:port to serve gRPC on."),
    redis_url: str = typer.Option(None, envvar="REDIS_URL", help="Redis holding the state (system of record)."),
    interval: float = typer.Option(5.0, help="Heartbeat interval nodes are asked to keep, s."),
    suspect_after: float = typer.Option(15.0, help="Silence after which a node is SUSPECT, s."),
    down_after: float = typer.Option(30.0, help="Silence after which a node is DOWN (grace period), s."),
    restart_grace: float = typer.Option(30.0, help="After a restart, how long known nodes get to reconnect, s."),
    tiers: str = typer.Option("T1=1,T2=3,T3=5,T4=20", help="Latency tier bounds in ms."),
    ray_address: str = typer.Option("", envvar="SHUNIU_RAY_ADDRESS",
                                    help="Ray cluster (host:port) jobs run on; without it jobs queue but do not run."),
    metrics_port: int = typer.Option(0, min=0, max=65535, help="Serve Prometheus metrics on 127.0.0.1:PORT (0: off)."),
    tls_dir: str = typer.Option("", "--tls-dir",
                                help="CA directory with server.pem/key and ca.pem: require client certificates "
                                     "and enforce roles (mTLS). Empty serves plaintext."),
    retention: float = typer.Option(600.0, min=0, help="Finished jobs, checkpointed audit entries and ledger lines "
                                    "older than this many seconds move from Redis to the cold store in the state "
                                    "directory (0: keep everything in Redis)."),
) -> None:
    """Runs the control plane (gRPC, health, reflection) until SIGTERM or Ctrl-C."""
    if not redis_url:
        fail("no Redis given; pass --redis-url or set REDIS_URL (or run the whole stack with `shuniu up`)")
    try:
        config = plane_server.ControlPlaneConfig(
            listen=listen, redis_url=redis_url, tiers=topology.TierBounds.parse(tiers),
            liveness=plane_server.LivenessConfig(interval, suspect_after, down_after, restart_grace), ray_address=ray_address,
            metrics_port=metrics_port, tls_dir=tls_dir, retention_s=retention,
        )
    except ValueError as err:
        fail(str(err))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        asyncio.run(plane_server.serve(config))
    except redis.exceptions.ConnectionError as err:
        fail(f"Redis at {redis_url} unreachable: {err}")
    except (RuntimeError, ValueError) as err:
        fail(str(err))


def _summary(client: Client, anchor: str, started: float) -> Group:
    nodes = list(client.list_nodes())
    by_site: dict[str, Counter] = {}
    for node in nodes:
        by_site.setdefault(node.site, Counter())[node.state] += 1
    fleet = Table(title=f"fleet: {len(nodes)} nodes, up {time.monotonic() - started:.0f} s", header_style="bold",
                  title_justify="left")
    for column in ("site", "ready", "suspect", "down"):
        fleet.add_column(column, justify="left" if column == "site" else "right")
    for site in sorted(by_site, key=lambda s: -sum(by_site[s].values()))[:12]:
        c = by_site[site]
        fleet.add_row(site, str(c[1]), f"[yellow]{c[2]}[/]" if c[2] else "0", f"[red]{c[3]}[/]" if c[3] else "0")
    pools = Table(title=f"pools around {anchor}", header_style="bold", title_justify="left")
    for column in ("tier", "bound ms", "sites", "ready nodes", "cores free/total", "GPUs free/total"):
        pools.add_column(column, justify="right")
    for pool in client.pools(anchor):
        pools.add_row(topology.tier_name(pool.tier), f"{pool.bound_ms:g}", str(len(pool.sites)), str(pool.nodes_ready),
                      f"{pool.free.cpu_milli / 1000:,.0f}/{pool.capacity.cpu_milli / 1000:,.0f}",
                      f"{pool.free.gpu}/{pool.capacity.gpu}")
    return Group(fleet, pools)


@app.command("up")
def up(
    nodes: int = typer.Option(60, min=0, max=50_000, help="Simulated node agents to start."),
    mix: str = typer.Option("general=70,ai=20,hpc=10", help="Compute class weights of the simulated fleet."),
    port: int = typer.Option(7070, help="Control plane port on 127.0.0.1 (0: any free port)."),
    interval: float = typer.Option(5.0, help="Heartbeat interval, s."),
    anchor: str = typer.Option("zhengzhou", help="Anchor site of the pools shown live."),
    duration: float = typer.Option(0.0, help="Stop after this many seconds (0: run until Ctrl-C)."),
    seed: int = typer.Option(7, help="Seed of the simulated fleet's layout."),
    prometheus: bool = typer.Option(False, help="Also run Debian's prometheus on 127.0.0.1, scraping the stack."),
    secure: bool = typer.Option(True, "--secure/--insecure",
                                help="mTLS with roles (a CA under the state directory), or plaintext without roles."),
    retention: float = typer.Option(600.0, min=0, help="Seconds after which finished jobs, checkpointed audit "
                                    "entries and ledger lines move from Redis to the cold store (0: never)."),
) -> None:
    """Starts Redis (unless REDIS_URL is set), the control plane, the biller and a simulated fleet, restarting any
    of the last three that exits (backoff doubling from 1 s to 30 s); Ctrl-C stops all."""
    try:
        parse_mix(mix)
    except ValueError as err:
        fail(str(err))
    if anchor not in topology.site_ids():
        fail(f"anchor {anchor!r} unknown; expected one of {', '.join(sorted(topology.site_ids()))}")
    root = state_dir()
    logs = root / "logs"
    redis_server = None
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        redis_server = LocalRedis(root / "redis")
        try:
            redis_server.start()
        except RuntimeError as err:
            fail(str(err))
        redis_url = redis_server.url
    port = port or free_port()
    address = f"127.0.0.1:{port}"
    plan = FleetPlan(count=nodes, mix=parse_mix(mix), seed=seed)
    fleet = plan.specs()
    ca_dir = ensure_stack_ca(root / "ca", plan.prefix) if secure else None
    serve_tls = ["--tls-dir", str(ca_dir)] if ca_dir else []
    fleet_env = ({tls.TLS_DIR_ENV: str(ca_dir), tls.IDENTITY_ENV: "node:" + "+".join(fleet_identity(plan.prefix).names)}
                 if ca_dir else {tls.TLS_DIR_ENV: ""})
    operator_tls = tls.load_client_tls(ca_dir, OPERATOR) if ca_dir else None
    # Ray's processes inherit this: node code spools usage under the stack and sends it to its Redis.
    os.environ.update({"SHUNIU_STATE_DIR": str(root), "SHUNIU_REDIS_URL": redis_url})
    # The node side's metrics: Ray's workers write multiprocess files here, the fleet sums them.
    node_metrics_dir = multiprocess_dir(root / "node-metrics")
    ray_cluster = LocalRayCluster(root / "ray", worker_env={MULTIPROC_ENV: str(node_metrics_dir)})
    try:
        err_console.print(f"starting Ray on 127.0.0.1 hosting {len(fleet)} simulated nodes …")
        ray_cluster.start(node_ids=[spec.node_id for spec in fleet])
    except (RuntimeError, TimeoutError) as err:
        if redis_server is not None:
            redis_server.stop()
        fail(f"Ray did not start: {err}")
    procs: list[ManagedProcess] = []
    scraper = None
    metrics_ports = {"control-plane": free_port(), "biller": free_port(), **({"node": free_port()} if nodes else {})}
    stop = {"now": False}
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Set explicitly: a stack started in the background inherits SIGINT ignored.
        signal.signal(sig, lambda *_: stop.update(now=True))
    try:
        plane = ManagedProcess("control-plane", ["control-plane", "--listen", address, "--interval", str(interval),
                                                 "--suspect-after", str(interval * 3), "--down-after", str(interval * 6),
                                                 "--restart-grace", str(interval * 6),
                                                 "--ray-address", ray_cluster.address,
                                                 "--metrics-port", str(metrics_ports["control-plane"]),
                                                 "--retention", str(retention), *serve_tls],
                               logs, env={"REDIS_URL": redis_url, **ray_cluster.env}).start()
        procs.append(plane)
        procs.append(ManagedProcess("biller", ["biller", "--metrics-port", str(metrics_ports["biller"])], logs,
                                    env={"REDIS_URL": redis_url}).start())
        if prometheus:
            scraper = PrometheusServer(root / "prometheus", {job: f"127.0.0.1:{p}" for job, p in metrics_ports.items()})
            scraper.start()
            err_console.print(f"prometheus on http://{scraper.address} scraping the stack")
        with Client(address, timeout_s=3, tls=operator_tls) as client:
            plane.wait_for(client.serving, what="serving")
            stack_file().write_text(json.dumps({"address": address, "redis_url": redis_url, "pid": os.getpid(),
                                                "tls_dir": str(ca_dir or ""), "ray": ray_cluster.address,
                                                "metrics": {job: f"127.0.0.1:{p}" for job, p in metrics_ports.items()},
                                                "prometheus": scraper.address if scraper else ""}))
            if nodes:
                procs.append(ManagedProcess("fleet", ["node", "simulate", "--count", str(nodes), "--mix", mix,
                                                      "--seed", str(seed), "--interval", str(interval),
                                                      "--metrics-port", str(metrics_ports["node"]),
                                                      "--metrics-dir", str(node_metrics_dir),
                                                      "--addr", address], logs, env=fleet_env).start())
            err_console.print(f"stack up: control plane {address} ({'mTLS, CA in ' + str(ca_dir) if ca_dir else 'plaintext'}), "
                              f"Redis {redis_url}, Ray {ray_cluster.address}, logs in {logs}; Ctrl-C stops")
            try:
                for line in seed_stack(client, root, fleet, wait_s=max(30.0, interval * 6)):
                    err_console.print(f"seed: {line}", highlight=False)
            except (grpc.RpcError, TimeoutError) as err:
                detail = f"{err.code().name}: {err.details()}" if isinstance(err, grpc.RpcError) else str(err)
                err_console.print(f"[yellow]seed data not loaded:[/] {detail}", highlight=False)
            started = time.monotonic()
            # A component that exits comes back after a capped backoff; only Ctrl-C or SIGTERM stops the stack.
            supervisor = Supervisor(lambda line: err_console.print(line, markup=False, highlight=False))
            for proc in procs:
                supervisor.watch(proc)
            with Live(console=console, refresh_per_second=2, transient=False) as live:
                while not stop["now"] and (not duration or time.monotonic() - started < duration):
                    supervisor.tick()
                    try:
                        live.update(_summary(client, anchor, started))
                    except grpc.RpcError as err:
                        live.update(f"control plane: {err.code().name}")
                    time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    except RuntimeError as err:
        err_console.print(f"[red]error:[/] {err}")
        raise typer.Exit(1)
    finally:
        err_console.print("stopping the stack …")
        if scraper is not None:
            scraper.stop()
        for proc in reversed(procs):
            proc.stop()
        ray_cluster.stop()
        if redis_server is not None:
            redis_server.stop()
        stack_file().unlink(missing_ok=True)
        err_console.print("stack stopped")
