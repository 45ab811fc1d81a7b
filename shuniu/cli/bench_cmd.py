"""`shuniu bench …`: benchmarks that print figures beside a baseline measured in the same run."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from shuniu.cli._app import JsonOption, app, console, err_console, fail

bench_app = typer.Typer(help="Benchmarks, each against a baseline in the same run.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("heartbeats")
def bench_heartbeats(
    nodes: int = typer.Option(20_000, min=1, max=200_000, help="Simulated nodes."),
    interval: float = typer.Option(5.0, min=0.05, help="Heartbeat interval of each node, s."),
    duration: float = typer.Option(30.0, min=1.0, help="Measured window of each phase, s."),
    senders: int = typer.Option(200, min=1, help="Concurrent senders of the saturation phases."),
    driver: str = typer.Option("node", help="Who plays the agents: node (grpc-js, light) or python (grpc.aio)."),
    drivers: int = typer.Option(1, min=1, max=16, help="Driver processes that play the simulated agents."),
    secure: bool = typer.Option(False, "--tls", help="Serve with mTLS and roles; the fleet presents its certificate."),
    as_json: bool = JsonOption,
) -> None:
    """Streaming heartbeats vs one unary RPC per heartbeat: rate held, latency, CPU, ceiling."""
    from shuniu.bench.heartbeats import node_driver_available, run_heartbeat_bench

    if driver not in ("node", "python"):
        fail(f"driver {driver!r} unknown; expected node or python")
    if driver == "node" and not node_driver_available():
        fail("the grpc-js driver needs node and the npm packages of package.json: run `./dev bench heartbeats` "
             "(it installs them), or pass --driver python")
    with _steps() as step:
        report = run_heartbeat_bench(nodes, interval, duration, senders, drivers, driver,
                                     step=step, secure=secure)
    _emit(report, as_json)


@contextlib.contextmanager
def _steps() -> Iterator[Callable[[str], None]]:
    """A spinner showing the benchmark's current step and the time elapsed, on stderr; gone when done."""
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err_console, transient=True) as progress:
        task = progress.add_task("starting", total=None)
        yield lambda text: progress.update(task, description=text)


def _emit(report, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(report.to_json() + "\n")
    else:
        console.print(report.table())


@bench_app.command("rating")
def bench_rating(
    records: int = typer.Option(10_000_000, min=1, max=100_000_000, help="Synthetic usage records to rate."),
    as_json: bool = JsonOption,
) -> None:
    """Numba rating kernels vs the same rules in pyarrow.compute (and the plain-Python twin on a sample)."""
    from shuniu.bench.report import Report
    from shuniu.market.rating.bench import run_rating_bench

    with err_console.status(f"rating {records:,} records three ways …"):
        r = run_rating_bench(records)
    report = Report("rating", "the same rules in pyarrow.compute",
                    {"records": records, "total_fen": r["total_fen"], "quantities": "/".join(r["quantity_types"]),
                     "batch_input_bytes_per_record": r["batch_input_bytes_per_record"]})
    report.add("kernels, one call over every record (one core)", r["numba_records_per_s"], "rec/s",
               r["pyarrow_compute_records_per_s"], "≥ 10× baseline", r["numba_vs_pyarrow_compute"] >= 10)
    report.add("kernels in the biller's batches of 20,000 (rate_inputs per batch, one core)", r["numba_batched_records_per_s"],
               "rec/s", r["pyarrow_compute_records_per_s"], "≥ 100 M rec/s and ≥ 10×",
               r["numba_batched_records_per_s"] >= 100e6
               and r["numba_batched_records_per_s"] >= 10 * r["pyarrow_compute_records_per_s"])
    report.add("the same batches per CPU-second of the rating thread", r["numba_batched_records_per_cpu_s"], "rec/s",
               None, "≥ 100 M rec/s", r["numba_batched_records_per_cpu_s"] >= 100e6)
    report.add("the same batches with int64 quantities (values past int32)", r["numba_batched_int64_records_per_s"], "rec/s",
               r["pyarrow_compute_records_per_s"])
    report.add("plain-Python twin (the spec), sample", r["python_twin_records_per_s"], "rec/s")
    report.add("batch preparation (ids to indexes)", r["prepare_records_per_s"], "rec/s")
    _emit(report, as_json)


@bench_app.command("billing")
def bench_billing(
    records: int = typer.Option(2_000_000, min=1, max=100_000_000, help="Usage records pushed end to end."),
    batch_records: int = typer.Option(20_000, min=1, max=100_000, help="Records per spooled batch (one stream entry)."),
    as_json: bool = JsonOption,
) -> None:
    """Spool → stream → biller → ledger, records/s end to end, vs the plain-Python reference rater."""
    from shuniu.bench.billing import add_billing_figures, run_billing_bench
    from shuniu.bench.report import Report

    with err_console.status("starting") as status:
        r = run_billing_bench(records, batch_records, step=lambda text: status.update(text))
    report = Report("billing", "the plain-Python reference rater (twins), on a sample",
                    {"records": records, "batch_records": batch_records, "batches": r["batches"], "ledger_ok": r["ledger_ok"],
                     "charged_fen": r["charged_fen"], "postings": r["postings"]})
    add_billing_figures(report, r)
    _emit(report, as_json)
    if not r["ledger_ok"]:
        fail("the ledger check failed after the run")


@bench_app.command("sandbox")
def bench_sandbox(
    jobs: int = typer.Option(30, min=1, max=1000, help="Sandboxed jobs per way (cold, warm)."),
    pool_size: int = typer.Option(4, min=1, max=64, help="Pre-started sandboxes kept warm."),
    stream_rows: int = typer.Option(2_000_000, min=1, max=50_000_000, help="Rows streamed into one sandbox."),
    answer_jobs: int = typer.Option(30, min=0, max=10_000, help="Verify and aggregate jobs per way (paced, back to "
                                    "back) on a local stack of the bench's own, submit → answer (0: skip)."),
    egress_rows: int = typer.Option(1_000_000, min=0, max=50_000_000, help="Rows of the input the output contract "
                                    "and leak check are timed on (0: skip)."),
    as_json: bool = JsonOption,
) -> None:
    """Sandbox start-up (warm pool vs cold), rows/s into a sandbox, the same aggregate in-process, the
    cost of the output contract and leak check, and verification latency beside an aggregate's."""
    from shuniu.bench.report import Report
    from shuniu.nodes.sandbox import sandbox_available
    from shuniu.nodes.sandbox.bench import run_sandbox_bench

    if not sandbox_available():
        fail("bubblewrap cannot confine a child here; the sandbox benchmark needs it (run ./dev to install bubblewrap)")
    with _steps() as step:
        r = run_sandbox_bench(jobs, pool_size, stream_rows, step=step)
    report = Report("sandbox", "a cold bubblewrap start per job; the aggregate in-process",
                    {"jobs": jobs, "pool_size": pool_size, "stream_rows": stream_rows})
    report.add("start-up p50, warm pool", r["warm_startup"]["p50_ms"], "ms", r["cold_startup"]["p50_ms"])
    report.add("start-up p99, warm pool", r["warm_startup"]["p99_ms"], "ms", r["cold_startup"]["p99_ms"], "< 100 ms",
               r["warm_startup"]["p99_ms"] < 100)
    report.add("completed sandboxed jobs per second", r["warm_completed_jobs_per_s"], "jobs/s",
               r["cold_completed_jobs_per_s"])
    report.add("rows streamed into a sandbox per second", r["stream_rows_per_s"], "rows/s", None, "≥ 1 M rows/s",
               r["stream_rows_per_s"] >= 1_000_000)
    report.add("bytes streamed into a sandbox per second", r["stream_bytes_per_s"], "B/s")
    report.add(f"aggregate of {stream_rows:,} rows, sandboxed (ratio = overhead)", r["sandbox_aggregate_s"], "s",
               r["in_process_aggregate_s"])
    report.add("egress profile of 1 M identifiers (hashed)", r["profile_1m_identifiers_s"], "s")
    if egress_rows:
        _egress_figures(report, egress_rows)
    if answer_jobs:
        _answers(report, answer_jobs)
    _emit(report, as_json)


def _egress_figures(report, rows: int) -> None:
    """The contract and leak check of issue 18 beside the raw-value check alone (the ratio is their cost)."""
    from shuniu.nodes.sandbox.bench import run_egress_bench

    with _steps() as step:
        step(f"output contract and leak check on {rows:,} input rows")
        e = run_egress_bench(rows)
    report.add(f"egress profile of {rows:,} rows (ratio = all of it / the shift and length part)", e["profile_s"],
               "s", e["profile_added_s"])
    report.add("check of an aggregate's answer: contract and every leak check (ratio = over the raw-value check)",
               e["aggregate_check_s"], "s", e["aggregate_raw_check_s"])
    report.add(f"check of a {e['custom_rows']:,}-row custom answer (ratio = over the raw-value check)",
               e["custom_check_s"], "s", e["custom_raw_check_s"])
    report.add(f"output contract of a {e['custom_rows']:,}-row custom answer", e["custom_contract_s"], "s")


def _answers(report, jobs: int) -> None:
    from shuniu.bench.answers import add_answer_figures, run_answers_bench

    clients = 4
    with _steps() as step:
        r = run_answers_bench(jobs, max(jobs, clients), clients, step=step)
    report.params.update(answer_jobs=jobs, answer_clients=clients)
    add_answer_figures(report, r)


@bench_app.command("scheduler")
def bench_scheduler(
    nodes: int = typer.Option(100_000, min=100, max=200_000, help="Synthetic nodes across the 26 sites."),
    jobs: int = typer.Option(100_000, min=1, max=1_000_000, help="Jobs to place."),
    lifecycle_jobs: int = typer.Option(300, min=0, max=100_000,
                                       help="Jobs run end to end on a stack of the bench's own (0: skip)."),
    lifecycle_nodes: int = typer.Option(20, min=1, max=2_000, help="Simulated nodes of that stack."),
    lifecycle_clients: int = typer.Option(64, min=1, max=256, help="Concurrent clients submitting the burst "
                                          "(a closed loop: too few measure their own round trips, not the scheduler)."),
    as_json: bool = JsonOption,
) -> None:
    """Placement decisions/s (vectorised vs the pure-Python reference), then jobs end to end on a local stack."""
    from shuniu.bench.scheduler import run_scheduler_bench

    with _steps() as step:
        report = run_scheduler_bench(nodes, jobs, step=step,
                                     lifecycle_jobs=lifecycle_jobs, lifecycle_nodes=lifecycle_nodes,
                                     lifecycle_clients=lifecycle_clients)
    _emit(report, as_json)


@bench_app.command("metrics")
def bench_metrics(
    nodes: int = typer.Option(20_000, min=2_000, max=200_000, help="Nodes of the in-memory fleet."),
    heartbeats: int = typer.Option(200_000, min=1, help="Heartbeats applied per round."),
    jobs: int = typer.Option(2_000, min=1, help="Jobs in one placement pass."),
    batches: int = typer.Option(40, min=1, help="Usage batches billed per round."),
    batch_records: int = typer.Option(2_000, min=1, max=100_000, help="Records per usage batch."),
    rounds: int = typer.Option(15, min=1, max=200, help="Rounds, each running both ways back to back; medians count."),
    as_json: bool = JsonOption,
) -> None:
    """Cost of metric updates on the hot paths (heartbeats, placement, billing) as a share of their time."""
    from shuniu.bench.metrics import run_metrics_bench

    with _steps() as step:
        report = run_metrics_bench(nodes, heartbeats, jobs, batches, batch_records, rounds,
                                   step=step)
    _emit(report, as_json)


@bench_app.command("soak")
def bench_soak(
    minutes: float = typer.Option(30.0, min=0.1, max=24 * 60, help="Length of the load, minutes (faults in its first 60 %)."),
    seed: int = typer.Option(1, help="Seed of the fault schedule and of the simulated fleet."),
    nodes: int = typer.Option(60, min=2, max=5_000, help="Simulated nodes heartbeating."),
    jobs_per_s: float = typer.Option(1.0, min=0.01, max=50.0, help="Sandboxed jobs submitted per second."),
    as_json: bool = JsonOption,
) -> None:
    """A whole stack under mixed load with kill -9 faults on a seed: throughput, errors, memory, lost or doubled charges."""
    from shuniu.bench.soak import run_soak_bench

    with _steps() as step:
        report = run_soak_bench(minutes, seed, step=step, nodes=nodes,
                                jobs_per_s=jobs_per_s)
    _emit(report, as_json)
    if any(f.met is False for f in report.figures if f.unit != "%" and f.unit != "MB"):
        fail("the soak lost, doubled or left something (see the figures marked no)")
