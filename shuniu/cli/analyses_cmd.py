"""`shuniu analyses …`: propose code for a product, approve or reject it by its hash, list and show analyses.

On a product above public grade, custom code runs only as an approved analysis that the
buyer's grant names (`shuniu grants apply --analysis ID`); the job gives parameter values
(`shuniu submit --kind custom --analysis ID --param k=v`).
"""

from __future__ import annotations

import datetime as dt
import getpass
import pathlib

import typer
from rich.table import Table

from shuniu.cli._app import (
    AddressOption, JsonOption, app, console, fail, print_json, resolve_address, rpc_errors, to_dict,
)
from shuniu.client import Client, new_request_id
from shuniu.protos.metadata import OPERATOR_METADATA
from shuniu.protos.v1 import analyses_pb2

analyses_app = typer.Typer(help="Propose, approve and read analyses (custom code approved by hash).",
                           no_args_is_help=True)
app.add_typer(analyses_app, name="analyses")

A = analyses_pb2
STATE_NAMES = {v: k.removeprefix("ANALYSIS_STATE_").lower() for k, v in A.AnalysisState.items() if v}
TYPE_NAMES = {"bool": A.PARAMETER_TYPE_BOOL, "int64": A.PARAMETER_TYPE_INT64, "float64": A.PARAMETER_TYPE_FLOAT64,
              "string": A.PARAMETER_TYPE_STRING}
_STYLE = {"proposed": "yellow", "approved": "green", "rejected": "red"}


def parse_outputs(values: list[str]) -> list[analyses_pb2.OutputColumn]:
    """`name:type,name:type` (repeatable) as the output contract's columns, in order."""
    columns = []
    for value in values:
        for item in (v.strip() for v in value.split(",") if v.strip()):
            name, sep, arrow_type = item.partition(":")
            if not sep or not name or not arrow_type:
                raise ValueError(f"--output {item!r} malformed; expected name:type, e.g. city:string,households:int64")
            columns.append(analyses_pb2.OutputColumn(name=name, arrow_type=arrow_type))
    return columns


def parse_parameter(text: str) -> analyses_pb2.ParameterDeclaration:
    """`name:type`, `name:int64:5..500` (inclusive; either side may be empty) or `name:string:north|south`."""
    name, _, rest = text.partition(":")
    type_name, _, bounds = rest.partition(":")
    if not name or type_name not in TYPE_NAMES:
        raise ValueError(f"--param {text!r} malformed; expected name:type[:min..max] with type one of "
                         f"{', '.join(TYPE_NAMES)} (string: name:string:a|b|c)")
    declared = analyses_pb2.ParameterDeclaration(name=name, type=TYPE_NAMES[type_name])
    if bounds and type_name == "string":
        declared.choices.extend(bounds.split("|"))
    elif bounds:
        low, sep, high = bounds.partition("..")
        if not sep:
            raise ValueError(f"--param {text!r}: range {bounds!r} malformed; expected min..max, e.g. 5..500 or 0.5..")
        declared.min, declared.max = low.strip(), high.strip()
    return declared


def _state(analysis: analyses_pb2.Analysis) -> str:
    name = STATE_NAMES.get(analysis.state, "?")
    return f"[{_STYLE.get(name, '')}]{name}[/]"


def _summary(analysis: analyses_pb2.Analysis) -> str:
    return (f"analysis [bold]{analysis.analysis_id}[/] {_state(analysis)} ({analysis.state_reason}) on product "
            f"{analysis.spec.product_id}, code sha256 {analysis.spec.code_sha256}")


def _params(analysis: analyses_pb2.Analysis) -> str:
    from shuniu.market.analyses import describe  # the CLI shows declarations as the exchange's messages do
    return ", ".join(describe(d) for d in analysis.spec.parameters) or "-"


def _outputs(analysis: analyses_pb2.Analysis) -> str:
    return ", ".join(f"{c.name}:{c.arrow_type}" for c in analysis.spec.output_schema)


@analyses_app.command("propose")
def analyses_propose(
    product: str = typer.Option(..., "--product", help="The product the code reads."),
    code: pathlib.Path = typer.Option(..., "--code", help="Python file defining run(table, **params) -> table."),
    output: list[str] = typer.Option(..., "--output", help="Output contract: name:type,… (bool, int64, float64, "
                                                             "string, date32)."),
    param: list[str] = typer.Option([], "--param", help="name:type[:min..max] or name:string:a|b; repeatable."),
    name: str = typer.Option("", "--name", help="Short name (default: the code file's name)."),
    description: str = typer.Option("", "--description", help="What it computes, for the approver."),
    request_id: str = typer.Option("", "--request-id", help="Idempotency key; reuse it to retry the same proposal."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Proposes code for a product; the product's holder (or the operator, by its policy) approves it by hash."""
    try:
        spec = analyses_pb2.AnalysisSpec(product_id=product, name=name or code.stem, description=description,
                                         source=code.read_text(), output_schema=parse_outputs(output),
                                         parameters=[parse_parameter(p) for p in param])
    except (ValueError, OSError) as err:
        fail(str(err))
    request = analyses_pb2.ProposeAnalysisRequest(request_id=request_id or new_request_id("analysis"), spec=spec)
    with rpc_errors(), Client(resolve_address(address)) as client:
        analysis = client.analyses.ProposeAnalysis(request, timeout=client.timeout_s).analysis
    if as_json:
        print_json(to_dict(analysis))
        return
    console.print(_summary(analysis), highlight=False)


DeciderOption = typer.Option(None, "--operator", help="Decider's name on a stack without certificates "
                                                      "(default: the login name).")
RequestIdOption = typer.Option("", "--request-id", help="Idempotency key; reuse it to retry the same decision.")


def _decide(rpc: str, request, decider: str | None, address: str | None, as_json: bool) -> None:
    with rpc_errors(), Client(resolve_address(address)) as client:
        analysis = getattr(client.analyses, rpc)(request, timeout=client.timeout_s,
                                                 metadata=((OPERATOR_METADATA, decider or getpass.getuser()),)).analysis
    if as_json:
        print_json(to_dict(analysis))
        return
    console.print(_summary(analysis), highlight=False)


@analyses_app.command("approve")
def analyses_approve(
    analysis_id: str,
    sha256: str = typer.Option(None, "--sha256", help="Hash of the code you reviewed (default: the proposal's, "
                                                      "as `analyses show` prints it)."),
    note: str = typer.Option("", "--note", help="Kept on the analysis."),
    operator: str = DeciderOption, request_id: str = RequestIdOption, as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Approves a proposed analysis: the code of that hash may then run on its product, under grants naming it."""
    if not sha256:
        with rpc_errors(), Client(resolve_address(address)) as client:
            sha256 = client.analyses.GetAnalysis(analyses_pb2.GetAnalysisRequest(analysis_id=analysis_id),
                                                 timeout=client.timeout_s).analysis.spec.code_sha256
    _decide("ApproveAnalysis", analyses_pb2.ApproveAnalysisRequest(
        request_id=request_id or new_request_id("approve-analysis"), analysis_id=analysis_id, code_sha256=sha256,
        note=note), operator, address, as_json)


@analyses_app.command("reject")
def analyses_reject(
    analysis_id: str, reason: str = typer.Option(..., "--reason", help="Why; kept on the analysis."),
    operator: str = DeciderOption, request_id: str = RequestIdOption, as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Rejects a proposed analysis."""
    _decide("RejectAnalysis", analyses_pb2.RejectAnalysisRequest(
        request_id=request_id or new_request_id("reject-analysis"), analysis_id=analysis_id, reason=reason),
        operator, address, as_json)


@analyses_app.command("ls")
def analyses_ls(
    product: str = typer.Option("", "--product", help="Only this product's analyses."),
    state: list[str] = typer.Option([], "--state", help="proposed, approved or rejected; repeatable."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Lists analyses with their product, state, hash, parameters and output contract."""
    wanted = {name: value for value, name in STATE_NAMES.items()}
    unknown = [s for s in state if s.lower() not in wanted]
    if unknown:
        fail(f"--state {unknown[0]!r} unknown; expected one of {', '.join(wanted)}")
    found: list[analyses_pb2.Analysis] = []
    token = ""
    with rpc_errors(), Client(resolve_address(address)) as client:
        while True:
            page = client.analyses.ListAnalyses(analyses_pb2.ListAnalysesRequest(
                product_id=product, states=[wanted[s.lower()] for s in state], page_size=1000, page_token=token),
                timeout=client.timeout_s)
            found += page.analyses
            token = page.next_page_token
            if not token:
                break
    if as_json:
        print_json({"analyses": [to_dict(a) for a in found], "total": len(found)})
        return
    table = Table(title=f"{len(found)} analyses", header_style="bold")
    for column in ("analysis", "product", "name", "state", "sha256", "parameters", "output", "decided by"):
        table.add_column(column, overflow="fold")
    for a in found:
        table.add_row(a.analysis_id, a.spec.product_id, a.spec.name, _state(a), a.spec.code_sha256[:12],
                      _params(a), _outputs(a), a.decided_by or "-")
    console.print(table)


@analyses_app.command("show")
def analyses_show(analysis_id: str, as_json: bool = JsonOption, address: str = AddressOption) -> None:
    """Prints one analysis: its decision, hash, parameters, output contract and source."""
    with rpc_errors(), Client(resolve_address(address)) as client:
        analysis = client.analyses.GetAnalysis(analyses_pb2.GetAnalysisRequest(analysis_id=analysis_id),
                                               timeout=client.timeout_s).analysis
    if as_json:
        print_json(to_dict(analysis))
        return
    console.print(_summary(analysis), highlight=False)
    when = dt.datetime.fromtimestamp(analysis.proposed_unix_ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    console.print(f"proposed by {analysis.proposed_by} at {when}; decided by {analysis.decided_by or '-'}",
                  highlight=False)
    console.print(f"parameters: {_params(analysis)}\noutput: {_outputs(analysis)}", highlight=False)
    console.print(analysis.spec.source, highlight=False, markup=False)
