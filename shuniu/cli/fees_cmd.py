"""`shuniu fees …`: public-data operators' fee schedules (公共数据授权运营) and their yearly reports."""

from __future__ import annotations

import datetime
import json
import pathlib

import typer
from google.protobuf import json_format
from rich.markdown import Markdown
from rich.table import Table

from shuniu.cli._app import AddressOption, JsonOption, app, console, fail, print_json, resolve_address, rpc_errors, to_dict
from shuniu.client import Client, new_request_id
from shuniu.market.public_data import BASIS_NAMES
from shuniu.market.settlement import yuan
from shuniu.protos.v1 import settlement_pb2

fees_app = typer.Typer(help="Fee schedules of public-data operators (公共数据授权运营) and their yearly reports.",
                       invoke_without_command=True)
app.add_typer(fees_app, name="fees")


@fees_app.callback()
def fees_ls(
    ctx: typer.Context,
    operator: str = typer.Option("", "--operator", help="Only this operator's schedules."),
    product: str = typer.Option("", "--product", help="Only schedules that price this product."),
    history: bool = typer.Option(False, "--history", help="Also superseded versions."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Lists the published fee schedules in force, one row per product fee."""
    if ctx.invoked_subcommand is not None:
        return
    request = settlement_pb2.ListFeeSchedulesRequest(operator_id=operator, product_id=product, include_history=history)
    with rpc_errors(), Client(resolve_address(address)) as client:
        schedules = client.fees.ListFeeSchedules(request, timeout=client.timeout_s).schedules
    if as_json:
        print_json({"schedules": [to_dict(s) for s in schedules], "total": len(schedules)})
        return
    table = Table(title=f"{len(schedules)} fee schedules", header_style="bold")
    for column in ("schedule", "v", "operator", "department", "product", "basis", "fee (yuan)", "per units",
                   "ceiling (yuan)", "allowance (yuan/year)", "published (UTC)"):
        table.add_column(column, justify="right" if "yuan" in column or column in ("v", "per units") else "left")
    for s in schedules:
        allowance = yuan(s.allowed_cost_fen + s.allowed_profit_fen + s.allowed_tax_fen)
        published = datetime.datetime.fromtimestamp(s.published_unix_ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M")
        for n, item in enumerate(s.items):
            first = n == 0
            table.add_row(s.fee_schedule_id if first else "", str(s.version) if first else "", s.operator_id if first else "",
                          s.authorizing_department_id if first else "", item.product_id, BASIS_NAMES.get(item.basis, "?"),
                          yuan(item.fee_fen), f"{item.unit_size or 1:,}", yuan(item.ceiling_fen),
                          allowance if first else "", published if first else "")  # fmt: skip
    console.print(table)


@fees_app.command("publish")
def fees_publish(
    file: pathlib.Path = typer.Argument(..., help="A FeeSchedule as JSON (fields as in settlement.proto); "
                                                   "fee_schedule_id set publishes a new version of it."),
    request_id: str = typer.Option("", help="Idempotency key (default: a new one)."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Publishes a fee schedule: each fee becomes its product's commercial price (a new price version)."""
    try:
        schedule = json_format.ParseDict(json.loads(file.read_text()), settlement_pb2.FeeSchedule())
    except (OSError, ValueError, json_format.ParseError) as err:
        fail(f"{file}: {err}; expected a JSON FeeSchedule with operator_id, authorizing_department_id, items, "
             "allowed_cost_fen, allowed_profit_fen, allowed_tax_fen")
    request = settlement_pb2.PublishFeeScheduleRequest(request_id=request_id or new_request_id("fees"), schedule=schedule)
    with rpc_errors(), Client(resolve_address(address)) as client:
        published = client.fees.PublishFeeSchedule(request, timeout=client.timeout_s).schedule
    if as_json:
        print_json(to_dict(published))
        return
    console.print(f"published fee schedule {published.fee_schedule_id} version {published.version} of "
                  f"{published.operator_id}: {len(published.items)} products re-priced", highlight=False)


@fees_app.command("report")
def fees_report(
    operator: str = typer.Option(..., "--operator", help="The authorized operator."),
    year: int = typer.Option(..., "--year", help="Calendar year, e.g. 2027."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """An operator's yearly report: revenue, calls, public-interest calls served free, true-ups (Parquet + summary)."""
    request = settlement_pb2.GetOperatorReportRequest(operator_id=operator, year=year)
    with rpc_errors(), Client(resolve_address(address)) as client:
        report = client.fees.GetOperatorReport(request, timeout=client.timeout_s)
    if as_json:
        print_json(to_dict(report))
        return
    console.print(Markdown(report.summary))
    console.print(f"Parquet: {report.parquet_path}", highlight=False, soft_wrap=True)
