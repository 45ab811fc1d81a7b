"""`shuniu top`: a live view of the exchange (fleet, pools, queue, jobs, sandbox, billing) from the control plane."""

from __future__ import annotations

import time

import grpc
import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from shuniu.cli._app import AddressOption, JsonOption, app, console, print_json, resolve_address, rpc_errors, to_dict
from shuniu.client import Client
from shuniu.protos.v1 import common_pb2, jobs_pb2, overview_pb2

_END_STYLE = {"SUCCEEDED": "green", "FAILED": "red", "CANCELLED": "yellow", "EGRESS_DENIED": "magenta"}


def _state(state: int) -> str:
    return jobs_pb2.JobState.Name(state).removeprefix("JOB_STATE_")


def _tier(tier: int) -> str:
    return common_pb2.Tier.Name(tier).removeprefix("TIER_")


def _seconds(ms: float) -> str:
    return f"{ms / 1000:,.1f} s" if ms >= 1000 else f"{ms:,.0f} ms"


def _pools_and_queue(o: overview_pb2.GetOverviewResponse) -> Table:
    table = Table(title=f"pools around {o.anchor_site}, and the queue by the latest tier accepted", header_style="bold",
                  title_justify="left")
    for column in ("tier", "bound", "sites", "ready nodes", "cores free/total", "GiB free/total", "GPUs free/total",
                   "cores used", "queued", "longest wait"):
        table.add_column(column, justify="left" if column == "tier" else "right")
    queue = {q.tier: q for q in o.queue}
    for pool in o.pools:
        q = queue.get(pool.tier, overview_pb2.TierQueue())
        used = pool.capacity.cpu_milli - pool.free.cpu_milli
        share = f" ({used / pool.capacity.cpu_milli:.0%})" if pool.capacity.cpu_milli else ""
        table.add_row(_tier(pool.tier), f"{pool.bound_ms:g} ms", str(len(pool.sites)), str(pool.nodes_ready),
                      f"{pool.free.cpu_milli / 1000:,.0f}/{pool.capacity.cpu_milli / 1000:,.0f}",
                      f"{pool.free.memory_mb / 1024:,.0f}/{pool.capacity.memory_mb / 1024:,.0f}",
                      f"{pool.free.gpu:,}/{pool.capacity.gpu:,}", f"{used / 1000:,.0f}{share}",
                      f"[yellow]{q.jobs:,}[/]" if q.jobs else "0", _seconds(q.oldest_wait_ms) if q.jobs else "")
    return table


def _jobs(o: overview_pb2.GetOverviewResponse) -> Table:
    r = o.rates
    table = Table(title=f"jobs: {r.admitted_per_s:.1f} admitted/s, {r.scheduled_per_s:.1f} scheduled/s, "
                        f"{r.ended_per_s:.1f} ended/s (over {r.window_s:.0f} s)", header_style="bold", title_justify="left")
    table.add_column("open", justify="left")
    table.add_column("jobs", justify="right")
    table.add_column("ended since start", justify="left")
    table.add_column("jobs", justify="right")
    rows = max(len(o.open_jobs), len(o.ended_jobs))
    for i in range(rows):
        cells = []
        for counts, styles in ((o.open_jobs, {}), (o.ended_jobs, _END_STYLE)):
            if i < len(counts):
                name = _state(counts[i].state)
                style = styles.get(name, "")
                cells += [f"[{style}]{name.lower()}[/]" if style else name.lower(), f"{counts[i].jobs:,}"]
            else:
                cells += ["", ""]
        table.add_row(*cells)
    return table


def _health(o: overview_pb2.GetOverviewResponse) -> Table:
    f, s = o.fleet, o.sandbox_startup
    table = Table(title="fleet, sandboxes, billing", header_style="bold", title_justify="left", show_header=False)
    table.add_column("what", justify="left")
    table.add_column("value", justify="left")
    down = f"[red]{f.down:,} down[/]" if f.down else "0 down"
    suspect = f"[yellow]{f.suspect:,} suspect[/]" if f.suspect else "0 suspect"
    table.add_row("nodes", f"{f.ready:,} ready ({f.draining:,} draining), {suspect}, {down}")
    table.add_row("sandbox start-up", f"p50 {s.p50_ms:.1f} ms, p99 {s.p99_ms:.1f} ms, max {s.max_ms:.1f} ms over the "
                  f"last {s.runs:,} runs" if s.runs else "no run reported yet")
    lag = _seconds(o.billing_lag_ms)
    table.add_row("billing lag", f"[red]{lag}[/]" if o.billing_lag_ms > 300_000 else lag)
    table.add_row("unbilled batches", f"{o.unbilled_batches:,}")
    table.add_row("control plane up", f"{o.uptime_s:,.0f} s")
    return table


def render(o: overview_pb2.GetOverviewResponse) -> Group:
    """One frame of `shuniu top`."""
    return Group(_health(o), _pools_and_queue(o), _jobs(o))


@app.command("top")
def top(
    anchor: str = typer.Option("zhengzhou", help="Anchor site of the pools shown."),
    interval: float = typer.Option(1.0, min=0.2, help="Seconds between frames."),
    once: bool = typer.Option(False, "--once", help="Print one frame and exit (--json: one overview as JSON)."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Live view of pools per tier, queue, jobs and jobs/s, sandbox start-up and billing lag (Ctrl-C stops)."""
    with rpc_errors(), Client(resolve_address(address), timeout_s=5) as client:
        def overview() -> overview_pb2.GetOverviewResponse:
            return client.overview.GetOverview(overview_pb2.GetOverviewRequest(anchor_site=anchor),
                                               timeout=client.timeout_s)

        first = overview()  # a refusal (unknown anchor) or an absent control plane ends here, with its error
        if as_json:
            print_json(to_dict(first))
            return
        if once:
            console.print(render(first))
            return
        try:
            with Live(render(first), console=console, refresh_per_second=4, screen=False) as live:
                while True:
                    time.sleep(interval)
                    try:
                        live.update(render(overview()))
                    except grpc.RpcError as err:
                        live.update(f"[red]control plane: {err.code().name}[/] {err.details()}")
        except KeyboardInterrupt:
            pass
