"""Jobs from the command line, in the manner of sbatch/squeue/kubectl: submit, run, jobs ls/show, watch,
cancel, explain, plan. Exit codes: 0 done, 1 refused or failed, 2 a job that ended without output."""

from __future__ import annotations

import inspect
import json
import pathlib
import typing

import pyarrow as pa
import pyarrow.ipc as ipc
import typer
from google.protobuf import json_format
from rich.table import Table

from shuniu.cli._app import AddressOption, JsonOption, app, console, fail, print_json, resolve_address, rpc_errors, to_dict
from shuniu.cli._arrow_json import json_rows
from shuniu.client import Client, new_request_id
from shuniu.protos.v1 import common_pb2, jobs_pb2

jobs_app = typer.Typer(help="List, show and follow jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")

KINDS = {"aggregate": common_pb2.JOB_KIND_AGGREGATE, "verify": common_pb2.JOB_KIND_VERIFY,
         "model": common_pb2.JOB_KIND_MODEL, "custom": common_pb2.JOB_KIND_CUSTOM}
CLASSES = {"general": common_pb2.COMPUTE_CLASS_GENERAL, "ai": common_pb2.COMPUTE_CLASS_AI,
           "hpc": common_pb2.COMPUTE_CLASS_HPC}
FUNCTIONS = {"count": jobs_pb2.AGGREGATE_FUNCTION_COUNT, "sum": jobs_pb2.AGGREGATE_FUNCTION_SUM,
             "mean": jobs_pb2.AGGREGATE_FUNCTION_MEAN}
MODELS = {"linear": jobs_pb2.MODEL_TYPE_LINEAR_REGRESSION, "logistic": jobs_pb2.MODEL_TYPE_LOGISTIC_REGRESSION}
TERMINAL = {jobs_pb2.JOB_STATE_SUCCEEDED, jobs_pb2.JOB_STATE_FAILED, jobs_pb2.JOB_STATE_CANCELLED,
            jobs_pb2.JOB_STATE_EGRESS_DENIED}
_STYLE = {"succeeded": "green", "failed": "red", "cancelled": "dim", "egress_denied": "red", "running": "cyan"}


def state_name(state: int) -> str:
    return jobs_pb2.JobState.Name(state).removeprefix("JOB_STATE_").lower()


def tier_value(text: str, option: str) -> int:
    value = text.strip().upper().removeprefix("T")
    if value in ("1", "2", "3", "4"):
        return int(value)
    raise ValueError(f'{option} "{text}" unknown; expected one of T1, T2, T3, T4')


def _choice(table: dict, text: str, option: str) -> int:
    if text not in table:
        raise ValueError(f"{option} {text!r} unknown; expected one of {', '.join(table)}")
    return table[text]


def aggregation(text: str) -> jobs_pb2.Aggregation:
    """`count`, `sum:kwh`, `mean:kwh`, `p90:kwh` (a whole percentile)."""
    function, _, column = text.partition(":")
    if function.startswith("p") and function[1:].isdigit():
        return jobs_pb2.Aggregation(function=jobs_pb2.AGGREGATE_FUNCTION_QUANTILE, column=column,
                                    quantile_bp=int(function[1:]) * 100)
    return jobs_pb2.Aggregation(function=_choice(FUNCTIONS, function, "--agg"), column=column)


def build_spec(o: dict) -> jobs_pb2.JobSpec:
    """A JobSpec from the submit options, or from --spec FILE.json (proto JSON) when given."""
    if o["spec"]:
        try:
            return json_format.Parse(pathlib.Path(o["spec"]).read_text(), jobs_pb2.JobSpec())
        except (OSError, json_format.ParseError) as err:
            raise ValueError(f"--spec {o['spec']}: {err}") from None
    if not o["grant"] or not o["product"]:
        raise ValueError("--grant and --product are required (or give the whole job with --spec FILE.json)")
    product_id, _, columns = o["product"].partition(":")
    spec = jobs_pb2.JobSpec(
        grant_id=o["grant"], kind=_choice(KINDS, o["kind"], "--kind"),
        products=[common_pb2.ProductColumns(product_id=product_id, columns=[c for c in columns.split(",") if c])],
        resources=common_pb2.Capacity(cpu_milli=round(o["cpu"] * 1000), memory_mb=o["memory"], gpu=o["gpu"]),
        compute_class=_choice(CLASSES, o["compute_class"], "--class"), anchor_site=o["anchor"] or "",
        max_tier=tier_value(o["max_tier"], "--max-tier"), price_cap_fen=o["price_cap"], priority=o["priority"],
        max_runtime_s=o["max_runtime"], gang_size=o["gang"], relax_after_s=o["relax_after"],
    )
    if o["preferred_tier"]:
        spec.preferred_tier = tier_value(o["preferred_tier"], "--preferred-tier")
    kind = o["kind"]
    if kind == "aggregate":
        spec.aggregate.CopyFrom(jobs_pb2.AggregateArgs(
            group_by=[g for g in (o["group_by"] or "").split(",") if g], aggregations=[aggregation(a) for a in o["agg"]],
            min_group_size=o["min_group"], dp_epsilon_milli=round(o["epsilon"] * 1000)))
    elif kind == "verify":
        if not o["claims"]:
            raise ValueError("--claims FILE.json is required for kind verify (a list of Claim objects)")
        claims = json.loads(pathlib.Path(o["claims"]).read_text())
        spec.verify.CopyFrom(json_format.ParseDict({"claims": claims}, jobs_pb2.VerifyArgs()))
    elif kind == "model":
        spec.model.CopyFrom(jobs_pb2.ModelArgs(model_type=_choice(MODELS, o["model"], "--model"),
                                               feature_columns=[f for f in (o["features"] or "").split(",") if f],
                                               label_column=o["label"] or ""))
    elif o["analysis"]:  # an approved analysis: the exchange supplies its code, the job its parameter values
        if o["code"]:
            raise ValueError("--code and --analysis exclude each other: an approved analysis runs its approved code")
        spec.custom.CopyFrom(jobs_pb2.CustomArgs(analysis_id=o["analysis"], parameters=parse_params(o["param"])))
    else:
        if not o["code"]:
            raise ValueError("--code FILE.py (public products) or --analysis ID (an approved analysis) is required "
                             "for kind custom")
        if o["param"]:
            raise ValueError("--param needs --analysis ID: parameters are those an approved analysis declares")
        spec.custom.CopyFrom(jobs_pb2.CustomArgs(source=pathlib.Path(o["code"]).read_text()))
    return spec


def parse_params(values: list[str]) -> dict[str, str]:
    """`k=v` values (repeatable) as the analysis's parameters; the exchange types and checks them."""
    params: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--param {value!r} malformed; expected name=value, e.g. --param min_households=20")
        if name.strip() in params:
            raise ValueError(f"--param {name.strip()!r} given twice; expected each parameter once")
        params[name.strip()] = text
    return params


_TYPES = {"agg": list[str], "param": list[str], "min_group": int, "epsilon": float, "cpu": float, "memory": int, "gpu": int,
          "relax_after": int, "price_cap": int, "priority": int, "max_runtime": int, "gang": int}


def submit_options(fn):
    """The options every way of describing a job shares (submit, run, plan)."""
    options = [
        ("grant", typer.Option(None, "--grant", help="Grant the job runs under.")),
        ("product", typer.Option(None, "--product", help="PRODUCT[:col1,col2]; columns default to the grant's.")),
        ("kind", typer.Option("aggregate", "--kind", help="aggregate, verify, model or custom.")),
        ("group_by", typer.Option(None, "--group-by", help="aggregate: columns to group by, comma separated.")),
        ("agg", typer.Option([], "--agg", help="aggregate: count, sum:COL, mean:COL or p90:COL (repeatable).")),
        ("min_group", typer.Option(0, "--min-group", help="aggregate: smallest group released (k).")),
        ("epsilon", typer.Option(0.0, "--epsilon", help="aggregate: Laplace noise ε (charged to the grant).")),
        ("claims", typer.Option(None, "--claims", help="verify: JSON file with a list of claims.")),
        ("model", typer.Option("linear", "--model", help="model: linear or logistic.")),
        ("features", typer.Option(None, "--features", help="model: feature columns, comma separated.")),
        ("label", typer.Option(None, "--label", help="model: label column.")),
        ("code", typer.Option(None, "--code", help="custom: Python file defining run(table) -> table (public "
                                                    "products only).")),
        ("analysis", typer.Option(None, "--analysis", help="custom: an approved analysis to run (required above "
                                                            "public grade; see `shuniu analyses ls`).")),
        ("param", typer.Option([], "--param", help="custom: NAME=VALUE for the analysis's parameters (repeatable).")),
        ("cpu", typer.Option(1.0, "--cpu", help="Cores per node.")),
        ("memory", typer.Option(1024, "--memory", help="Memory per node, MB.")),
        ("gpu", typer.Option(0, "--gpu", help="GPUs per node.")),
        ("compute_class", typer.Option("general", "--class", help="general, ai or hpc.")),
        ("anchor", typer.Option(None, "--anchor", help="Site the buyer is at (default: the data's site).")),
        ("max_tier", typer.Option("T3", "--max-tier", help="Farthest tier from the anchor: T1..T4.")),
        ("preferred_tier", typer.Option(None, "--preferred-tier", help="Tier wanted until --relax-after passes.")),
        ("relax_after", typer.Option(0, "--relax-after", help="Seconds before relaxing to --max-tier.")),
        ("price_cap", typer.Option(100_000, "--price-cap", help="Most the whole job may cost, fen.")),
        ("priority", typer.Option(0, "--priority", help="0..1000, higher first within your share.")),
        ("max_runtime", typer.Option(300, "--max-runtime", help="Wall-time limit, s.")),
        ("gang", typer.Option(1, "--gang", help="Nodes that run the job together.")),
        ("spec", typer.Option(None, "--spec", help="The whole JobSpec as proto JSON instead of the options.")),
    ]
    # typer reads a command's options from its signature: the shared ones are added to the
    # command's own, all keyword-only, and arrive in its **options.
    hints = typing.get_type_hints(fn)
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation))
           for p in inspect.signature(fn).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                annotation=_TYPES.get(name, typing.Optional[str])) for name, default in options]
    fn.__signature__ = inspect.Signature(own + shared)
    return fn


def _spec(options: dict) -> jobs_pb2.JobSpec:
    try:
        return build_spec(options)
    except ValueError as err:
        fail(str(err))


def _submit(client: Client, spec: jobs_pb2.JobSpec, request_id: str | None) -> jobs_pb2.Job:
    with rpc_errors():
        return client.jobs.SubmitJob(jobs_pb2.SubmitJobRequest(request_id=request_id or new_request_id("submit"),
                                                               spec=spec), timeout=client.timeout_s).job


def _wait(client: Client, job_id: str, show: bool) -> jobs_pb2.Job:
    job = None
    with rpc_errors():
        for change in client.jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=job_id)):
            job = change.job
            if show:
                console.print(f"{job.job_id}  {state_name(change.to_state)}  {job.state_reason}  {job.state_message}",
                              highlight=False)
    return job


def _result_table(client: Client, job_id: str) -> pa.Table:
    with rpc_errors():
        response = client.jobs.GetJobResult(jobs_pb2.GetJobResultRequest(job_id=job_id), timeout=client.timeout_s)
    return ipc.open_stream(response.arrow_ipc).read_all()


def print_arrow(table: pa.Table, as_json: bool) -> None:
    if as_json:
        print_json(json_rows(table))  # dates, timestamps, decimals: as JSON text that keeps them exact
        return
    view = Table(header_style="bold")
    for name in table.column_names:
        view.add_column(name)
    for row in table.to_pylist()[:200]:
        view.add_row(*[f"{v:,.4g}" if isinstance(v, float) else str(v) for v in row.values()])
    console.print(view)


@app.command("submit")
@submit_options
def submit(address: str = AddressOption, request_id: str = typer.Option(None, "--request-id",
           help="Idempotency key; reuse it to retry safely."), wait: bool = typer.Option(False, "--wait"),
           as_json: bool = JsonOption, **options) -> None:
    """Submits a job under a grant (like sbatch); prints its id."""
    spec = _spec(options)
    with Client(resolve_address(address)) as client:
        job = _submit(client, spec, request_id)
        if wait:
            job = _wait(client, job.job_id, show=not as_json)
    if as_json:
        print_json(to_dict(job))
    else:
        console.print(f"job {job.job_id} {state_name(job.state)}", highlight=False)
    if wait and job.state != jobs_pb2.JOB_STATE_SUCCEEDED:
        raise typer.Exit(2)


@app.command("run")
@submit_options
def run(address: str = AddressOption, request_id: str = typer.Option(None, "--request-id"),
        as_json: bool = JsonOption, **options) -> None:
    """Submits a job, follows it to its end and prints the released output."""
    spec = _spec(options)
    with Client(resolve_address(address)) as client:
        job = _submit(client, spec, request_id)
        job = _wait(client, job.job_id, show=not as_json)
        if job.state != jobs_pb2.JOB_STATE_SUCCEEDED:
            fail(f"job {job.job_id} ended {state_name(job.state)}: {job.state_reason}: {job.state_message}", code=2)
        print_arrow(_result_table(client, job.job_id), as_json)


@app.command("plan")
@submit_options
def plan(address: str = AddressOption, as_json: bool = JsonOption, **options) -> None:
    """Dry run: would admission take the job, where would it go now, and why (changes nothing)."""
    spec = _spec(options)
    with Client(resolve_address(address)) as client, rpc_errors():
        response = client.jobs.PlanJob(jobs_pb2.PlanJobRequest(spec=spec), timeout=client.timeout_s)
    if as_json:
        print_json(to_dict(response))
        return
    console.print("admissible" if response.admissible else f"not admissible: {response.admission_reason}", highlight=False)
    if response.placement.node_ids:
        p = response.placement
        console.print(f"placement: {', '.join(p.node_ids)} at {', '.join(p.sites)}, T{p.tier}, "
                      f"compute ≈ {p.estimated_compute_fen} fen", highlight=False)
    print_explanation(response.explanation)


def print_explanation(explanation: jobs_pb2.Explanation) -> None:
    view = Table(title=f"{explanation.nodes_considered} nodes considered, {explanation.nodes_feasible} feasible",
                 header_style="bold", title_justify="left")
    for column in ("filter", "removed", "why"):
        view.add_column(column, justify="right" if column == "removed" else "left")
    for r in explanation.rejections:
        view.add_row(r.filter, f"{r.nodes_removed:,}", r.reason)
    console.print(view)
    n = explanation.nearest
    if n.node_id:
        console.print(f"nearest: {n.node_id} ({n.site}, T{n.tier}, {n.rtt_ms:.1f} ms) failed "
                      f"{', '.join(n.failed_filters)}", highlight=False)


@app.command("explain")
def explain(job_id: str, address: str = AddressOption, as_json: bool = JsonOption) -> None:
    """Why a job is where it is: per filter, how many nodes it removed, and the nearest node that would fit."""
    with Client(resolve_address(address)) as client, rpc_errors():
        response = client.jobs.ExplainJob(jobs_pb2.ExplainJobRequest(job_id=job_id), timeout=client.timeout_s)
    if as_json:
        print_json(to_dict(response))
        return
    console.print(f"{response.job_id} {state_name(response.state)} {response.state_reason}"
                  + (f", queue position {response.queue_position}" if response.queue_position else ""),
                  highlight=False)
    if response.explanation.nodes_considered:
        print_explanation(response.explanation)


@app.command("watch")
def watch(job_id: str, address: str = AddressOption) -> None:
    """Follows a job's state changes until it ends."""
    with Client(resolve_address(address)) as client:
        job = _wait(client, job_id, show=True)
    if job is not None and job.state != jobs_pb2.JOB_STATE_SUCCEEDED:
        raise typer.Exit(2)


@app.command("cancel")
def cancel(job_id: str, reason: str = typer.Option("", "--reason"), address: str = AddressOption) -> None:
    """Cancels a job, stopping it if it runs."""
    with Client(resolve_address(address)) as client, rpc_errors():
        job = client.jobs.CancelJob(jobs_pb2.CancelJobRequest(request_id=new_request_id("cancel"), job_id=job_id,
                                                              reason=reason), timeout=client.timeout_s).job
    console.print(f"job {job.job_id} {state_name(job.state)}", highlight=False)


@jobs_app.command("ls")
def jobs_ls(buyer: str = typer.Option("", "--buyer"), grant: str = typer.Option("", "--grant"),
            state: list[str] = typer.Option([], "--state", help="e.g. running (repeatable)."),
            limit: int = typer.Option(100, "--limit", min=1, max=1000), address: str = AddressOption,
            as_json: bool = JsonOption) -> None:
    """Lists jobs, newest first (like squeue)."""
    try:
        states = [jobs_pb2.JobState.Value("JOB_STATE_" + s.upper()) for s in state]
    except ValueError:
        fail(f"--state {state} unknown; expected some of "
             + ", ".join(state_name(v) for v in jobs_pb2.JobState.values() if v))
    with Client(resolve_address(address)) as client, rpc_errors():
        response = client.jobs.ListJobs(jobs_pb2.ListJobsRequest(buyer_id=buyer, grant_id=grant, states=states,
                                                                 page_size=limit), timeout=client.timeout_s)
    if as_json:
        print_json(to_dict(response))
        return
    view = Table(title=f"{len(response.jobs)} of {response.total} jobs", header_style="bold", title_justify="left")
    for column in ("job", "buyer", "kind", "state", "reason", "nodes", "tier", "attempt"):
        view.add_column(column)
    for job in response.jobs:
        s = state_name(job.state)
        view.add_row(job.job_id, job.buyer_id, common_pb2.JobKind.Name(job.spec.kind).removeprefix("JOB_KIND_").lower(),
                     f"[{_STYLE.get(s, 'white')}]{s}[/]", job.state_reason, ",".join(job.assigned_node_ids),
                     f"T{job.placed_tier}" if job.placed_tier else "", str(job.attempt))
    console.print(view)


@jobs_app.command("show")
def jobs_show(job_id: str, address: str = AddressOption, as_json: bool = JsonOption) -> None:
    """Shows one job in full."""
    with Client(resolve_address(address)) as client, rpc_errors():
        job = client.jobs.GetJob(jobs_pb2.GetJobRequest(job_id=job_id), timeout=client.timeout_s).job
    if as_json:
        print_json(to_dict(job))
    else:
        console.print_json(json.dumps(to_dict(job), ensure_ascii=False))


@jobs_app.command("result")
def jobs_result(job_id: str, address: str = AddressOption, as_json: bool = JsonOption) -> None:
    """Prints a succeeded job's released output."""
    with Client(resolve_address(address)) as client:
        print_arrow(_result_table(client, job_id), as_json)



