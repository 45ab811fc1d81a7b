"""`shuniu node …` (an agent on this machine) and `shuniu nodes …` (the fleet)."""

from __future__ import annotations

import asyncio
import logging
import pathlib
import random
import signal
import socket

import typer
from rich.table import Table

from shuniu.cli._app import AddressOption, JsonOption, app, console, err_console, fail, print_json, resolve_address, rpc_errors, state_dir, to_dict
from shuniu.client import Client
from shuniu.nodes.agent import AgentStopped, NodeAgent, NodeSpec
from shuniu.nodes.probes import HostLoad, TcpRttProbe, serve_probe_endpoint
from shuniu.nodes.simulator import CLASS_BY_NAME, FleetPlan, parse_mix, run_fleet
from shuniu.protos.v1 import common_pb2, nodes_pb2
from shuniu.security import signing, tls

node_app = typer.Typer(help="Run a node agent on this machine.", no_args_is_help=True)
nodes_app = typer.Typer(help="List and manage the fleet's nodes.", no_args_is_help=True)
app.add_typer(node_app, name="node")
app.add_typer(nodes_app, name="nodes")

CLASS_NAMES = {v: k for k, v in CLASS_BY_NAME.items()}
STATE_NAMES = {nodes_pb2.NODE_STATE_READY: "ready", nodes_pb2.NODE_STATE_SUSPECT: "suspect", nodes_pb2.NODE_STATE_DOWN: "down"}
_STATE_STYLE = {"ready": "green", "suspect": "yellow", "down": "red"}


def _class_value(name: str) -> int:
    if name not in CLASS_BY_NAME:
        fail(f"compute class {name!r} unknown; expected one of general, ai, hpc")
    return CLASS_BY_NAME[name]


def _parse_pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"{what} {item!r} malformed; expected KEY=VALUE")
        out[key] = value
    return out


MetricsPortOption = typer.Option(0, min=0, max=65535, help="Serve the node's Prometheus metrics on 127.0.0.1:PORT "
                                 "(0: off).")
MetricsDirOption = typer.Option("", envvar="PROMETHEUS_MULTIPROC_DIR",
                                help="Where this node's Ray workers write their metrics (their PROMETHEUS_MULTIPROC_DIR; "
                                     "default: node-metrics under the state directory).")


def _serve_node_metrics(port: int, directory: str) -> None:
    """The node's /metrics: the agents of this process plus every worker writing under `directory`, summed."""
    if not port:
        return
    from shuniu.monitoring.exporter import serve_node_metrics  # noqa: PLC0415

    path = pathlib.Path(directory) if directory else state_dir() / "node-metrics"
    path.mkdir(parents=True, exist_ok=True)
    try:
        _, bound = serve_node_metrics(path, port)
    except OSError as err:
        fail(f"cannot serve metrics on 127.0.0.1:{port}: {err}")
    err_console.print(f"node metrics on 127.0.0.1:{bound}/metrics, summing the workers' files in {path}",
                      highlight=False)


def _default_node_id(site: str, cls: str) -> str:
    host = "".join(c if c.isalnum() else "-" for c in socket.gethostname().lower()).strip("-") or "host"
    return f"{site}-{cls}-{host}"[:63]


@node_app.command("join")
def join(
    site: str = typer.Option(..., help="Site id, e.g. zhengzhou, luoyang (see `shuniu topology`)."),
    compute_class: str = typer.Option("general", "--class", help="general, ai or hpc."),
    node_id: str = typer.Option("", help="Node id (default: SITE-CLASS-HOSTNAME)."),
    cpu: float = typer.Option(8.0, help="CPU cores offered."),
    memory_gb: float = typer.Option(32.0, help="Memory offered, GiB."),
    gpu: int = typer.Option(0, help="GPUs offered."),
    price_cpu_fen: int = typer.Option(12, help="Price per core-hour, fen."),
    price_memory_fen: int = typer.Option(2, help="Price per GiB-hour, fen."),
    price_gpu_fen: int = typer.Option(0, help="Price per GPU-hour, fen."),
    label: list[str] = typer.Option([], help="KEY=VALUE label, repeatable."),
    center: str = typer.Option("", help="Compute center (算力中心) that owns the node."),
    probe: list[str] = typer.Option([], help="SITE=HOST:PORT of a peer agent's probe endpoint, repeatable."),
    probe_listen: str = typer.Option("", help="HOST:PORT to answer peers' round-trip probes on."),
    interval: float = typer.Option(None, help="Heartbeat interval, s (default: what the control plane asks)."),
    metrics_port: int = MetricsPortOption,
    metrics_dir: str = MetricsDirOption,
    address: str = AddressOption,
) -> None:
    """Registers this machine as a node and keeps its heartbeat stream open (Ctrl-C stops)."""
    cls = _class_value(compute_class)
    node_id = node_id or _default_node_id(site, compute_class)
    try:  # the key this node's job runs sign usage with (same state directory), registered with the node
        usage_key = signing.load_or_create(signing.node_key_path(state_dir(), node_id))
    except (ValueError, OSError) as err:
        fail(f"cannot load the node's usage-signing key: {err}")
    spec = NodeSpec(
        node_id=node_id, site=site, compute_class=cls, usage_public_key=usage_key.public_raw,
        capacity=common_pb2.Capacity(cpu_milli=round(cpu * 1000), memory_mb=round(memory_gb * 1024), gpu=gpu),
        price_card=common_pb2.PriceCard(cpu_core_hour_fen=price_cpu_fen, memory_gb_hour_fen=price_memory_fen,
                                        gpu_hour_fen=price_gpu_fen),
        labels=_parse_pairs(label, "label"), compute_center=center, probe_address=probe_listen,
    )
    targets = {}
    for s, hostport in _parse_pairs(probe, "probe").items():
        host, _, port = hostport.rpartition(":")
        if not host or not port.isdigit():
            fail(f"probe {s}={hostport!r} malformed; expected SITE=HOST:PORT")
        targets[s] = (host, int(port))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    _serve_node_metrics(metrics_port, metrics_dir)
    try:
        asyncio.run(_join(spec, resolve_address(address), targets, interval))
    except AgentStopped as err:
        fail(str(err), code=3)
    except ValueError as err:
        fail(str(err))


async def _join(spec: NodeSpec, address: str, targets: dict, interval: float | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    probe_server = None
    if spec.probe_address:
        host, _, port = spec.probe_address.rpartition(":")
        probe_server = await serve_probe_endpoint(host, int(port))
    async with tls.aio_channel(address, tls.client_tls_from_env(address)) as channel:
        # A real node verifies the products registered on it (files, rows, content hash) before they list.
        agent = NodeAgent(spec, channel, load=HostLoad(), probe=TcpRttProbe(targets) if targets else None,
                          interval_s=interval, rng=random.Random(), verify_products_every_s=5.0)
        err_console.print(f"node [bold]{spec.node_id}[/] joining {address} at {spec.site}", highlight=False)
        try:
            await agent.run(stop)
        finally:
            if probe_server is not None:
                probe_server.close()
    err_console.print(f"node {spec.node_id} stopped after {agent.stats.heartbeats_sent} heartbeats", highlight=False)


@node_app.command("simulate")
def simulate(
    count: int = typer.Option(60, min=1, max=200_000, help="Number of simulated nodes."),
    mix: str = typer.Option("general=70,ai=20,hpc=10", help="Compute class weights."),
    seed: int = typer.Option(7, help="Seed of the fleet's layout."),
    interval: float = typer.Option(None, help="Heartbeat interval, s (default: what the control plane asks)."),
    prefix: str = typer.Option("sim", help="Node id prefix."),
    metrics_port: int = MetricsPortOption,
    metrics_dir: str = MetricsDirOption,
    sign_usage: bool = typer.Option(True, help="Give each node a usage-signing key in the state directory and "
                                    "register it (the biller refuses unsigned usage)."),
    address: str = AddressOption,
) -> None:
    """Runs a simulated fleet of node agents spread over the province's sites (Ctrl-C stops)."""
    try:
        plan = FleetPlan(count=count, mix=parse_mix(mix), seed=seed, prefix=prefix)
    except ValueError as err:
        fail(str(err))

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        agents = await run_fleet(resolve_address(address), plan, stop, interval_s=interval,
                                 usage_key_dir=state_dir() if sign_usage else None,
                                 tls=tls.client_tls_from_env())
        stopped = [a for a in agents if a.stats.stopped_for]
        err_console.print(f"fleet stopped: {len(agents)} agents, {len(stopped)} stopped by the control plane")

    logging.basicConfig(level=logging.WARNING)
    _serve_node_metrics(metrics_port, metrics_dir)
    asyncio.run(_run())


def _node_row(node: nodes_pb2.Node) -> list[str]:
    state = STATE_NAMES.get(node.state, "?")
    style = _STATE_STYLE.get(state, "")
    if node.draining:
        state += ",draining"
    return [
        node.node_id, node.site, CLASS_NAMES.get(node.compute_class, "?"), f"[{style}]{state}[/]", str(node.epoch),
        f"{node.free.cpu_milli / 1000:.1f}/{node.capacity.cpu_milli / 1000:g}",
        f"{node.free.memory_mb / 1024:.0f}/{node.capacity.memory_mb / 1024:g}",
        f"{node.free.gpu}/{node.capacity.gpu}", f"{node.load:.2f}",
    ]


@nodes_app.command("ls")
def nodes_ls(
    site: str = typer.Option("", help="Only nodes at this site."),
    compute_class: str = typer.Option("", "--class", help="Only this compute class."),
    state: str = typer.Option("", help="Only nodes in this state: ready, suspect or down."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Lists nodes with their state and free/total capacity."""
    cls = _class_value(compute_class) if compute_class else 0
    states = {v: k for k, v in STATE_NAMES.items()}
    if state and state not in states:
        fail(f"state {state!r} unknown; expected one of ready, suspect, down")
    with rpc_errors(), Client(resolve_address(address)) as client:
        nodes = list(client.list_nodes(site=site, compute_class=cls, state=states.get(state, 0)))
    if as_json:
        print_json({"nodes": [to_dict(n) for n in nodes], "total": len(nodes)})
        return
    table = Table(title=f"{len(nodes)} nodes", header_style="bold")
    for column in ("node", "site", "class", "state", "epoch", "cores", "GiB", "GPUs", "load"):
        table.add_column(column, justify="left" if column in ("node", "site", "class", "state") else "right",
                         no_wrap=column == "node", overflow="fold")
    for node in nodes:
        table.add_row(*_node_row(node))
    console.print(table)


@nodes_app.command("show")
def nodes_show(node_id: str, address: str = AddressOption) -> None:
    """Prints one node as JSON."""
    with rpc_errors(), Client(resolve_address(address)) as client:
        print_json(to_dict(client.get_node(node_id)))


@nodes_app.command("drain")
def nodes_drain(node_id: str, reason: str = typer.Option("", help="Why, for the audit trail."),
                address: str = AddressOption) -> None:
    """Stops new placements on a node; running work continues."""
    with rpc_errors(), Client(resolve_address(address)) as client:
        node = client.drain(node_id, reason)
    console.print(f"node {node.node_id} draining")


@nodes_app.command("undrain")
def nodes_undrain(node_id: str, address: str = AddressOption) -> None:
    """Lets a drained node take new placements again."""
    with rpc_errors(), Client(resolve_address(address)) as client:
        node = client.undrain(node_id)
    console.print(f"node {node.node_id} accepting work")


@nodes_app.command("rm")
def nodes_rm(node_id: str, address: str = AddressOption) -> None:
    """Deregisters a node; its agent is told to stop."""
    with rpc_errors(), Client(resolve_address(address)) as client:
        node = client.deregister(node_id)
    console.print(f"node {node.node_id} deregistered")
