"""`shuniu bench …`: benchmarks that print figures beside a baseline measured in the same run."""

from __future__ import annotations

import sys

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from shuniu.cli._app import JsonOption, app, console, err_console

bench_app = typer.Typer(help="Benchmarks, each against a baseline in the same run.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("heartbeats")
def bench_heartbeats(
    nodes: int = typer.Option(20_000, min=1, max=200_000, help="Simulated nodes."),
    interval: float = typer.Option(5.0, min=0.05, help="Heartbeat interval of each node, s."),
    duration: float = typer.Option(30.0, min=1.0, help="Measured window of each phase, s."),
    senders: int = typer.Option(200, min=1, help="Concurrent senders of the saturation phases."),
    drivers: int = typer.Option(2, min=1, max=16, help="Driver processes that play the simulated agents."),
    as_json: bool = JsonOption,
) -> None:
    """Streaming heartbeats vs one unary RPC per heartbeat: rate held, latency, CPU, ceiling."""
    from shuniu.bench.heartbeats import run_heartbeat_bench

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err_console, transient=True) as progress:
        task = progress.add_task("starting", total=None)
        report = run_heartbeat_bench(nodes, interval, duration, senders, drivers,
                                     step=lambda text: progress.update(task, description=text))
    if as_json:
        sys.stdout.write(report.to_json() + "\n")
    else:
        console.print(report.table())
