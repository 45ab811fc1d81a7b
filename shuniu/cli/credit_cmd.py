"""`shuniu credit …`: participant credit records (信用) — scores, standings and the events behind them."""

from __future__ import annotations

import datetime as dt
import getpass

import typer
from rich.table import Table

from shuniu.cli._app import (
    AddressOption,
    JsonOption,
    app,
    console,
    fail,
    print_json,
    resolve_address,
    rpc_errors,
    to_dict,
)
from shuniu.client import Client, new_request_id
from shuniu.market.credit import KIND_NAMES
from shuniu.protos.v1 import credit_pb2
from shuniu.protos.metadata import OPERATOR_METADATA

credit_app = typer.Typer(help="Credit records (信用): each organisation's score and the events behind it.",
                         no_args_is_help=True)
app.add_typer(credit_app, name="credit")
_KINDS = {name: kind for kind, name in KIND_NAMES.items()}


def when_utc(unix_ms: int) -> str:
    return dt.datetime.fromtimestamp(unix_ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if unix_ms else "-"


def standing_text(record: credit_pb2.CreditRecord) -> str:
    if record.blocked:
        return "[red]blocked: may not submit jobs[/]"
    if record.needs_operator:
        return "[yellow]grants need an operator[/]"
    return "[green]in good standing[/]"


def _listing(address: str | None, method: str, request, field: str) -> list:
    """Every item of a paged CreditService listing."""
    items: list = []
    with rpc_errors(), Client(resolve_address(address)) as client:
        while True:
            page = getattr(client.credit, method)(request, timeout=client.timeout_s)
            items += getattr(page, field)
            if not page.next_page_token:
                return items
            request.page_token = page.next_page_token


def _print(items: list, field: str, as_json: bool, title: str, columns: tuple[str, ...], rows) -> None:
    """One JSON document, or a table whose numeric columns (score, events, points) are right-aligned."""
    if as_json:
        print_json({field: [to_dict(i) for i in items], "total": len(items)})
        return
    table = Table(title=title, header_style="bold")
    for column in columns:
        table.add_column(column, justify="right" if column in ("score", "events", "points") else "left", overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@credit_app.command("show")
def credit_show(org_id: str, as_json: bool = JsonOption, address: str = AddressOption) -> None:
    """Shows one organisation's score and standing."""
    with rpc_errors(), Client(resolve_address(address)) as client:
        record = client.credit.GetCreditRecord(credit_pb2.GetCreditRecordRequest(org_id=org_id),
                                               timeout=client.timeout_s).record
    if as_json:
        print_json(to_dict(record))
        return
    console.print(f"{record.org_id}: score {record.score} / 1000, {standing_text(record)}; "
                  f"{record.events} event(s), last {when_utc(record.updated_unix_ms)}")


@credit_app.command("list")
def credit_list(blocked: bool = typer.Option(False, "--blocked", help="Only organisations blocked from submitting."),
                as_json: bool = JsonOption, address: str = AddressOption) -> None:
    """Lists organisations with credit events, lowest score first."""
    records = _listing(address, "ListCreditRecords", credit_pb2.ListCreditRecordsRequest(blocked_only=blocked,
                                                                                         page_size=1000), "records")
    _print(records, "records", as_json, f"{len(records)} organisation(s){' blocked' if blocked else ''}",
           ("organisation", "score", "standing", "events", "last event"),
           ((r.org_id, str(r.score), standing_text(r), str(r.events), when_utc(r.updated_unix_ms)) for r in records))


@credit_app.command("events")
def credit_events(org_id: str, as_json: bool = JsonOption, address: str = AddressOption) -> None:
    """Lists one organisation's credit events, newest first."""
    events = _listing(address, "ListCreditEvents", credit_pb2.ListCreditEventsRequest(org_id=org_id, page_size=1000),
                      "events")
    _print(events, "events", as_json, f"{len(events)} credit event(s) of {org_id}",
           ("when", "kind", "points", "cause", "note", "by"),
           ((when_utc(e.recorded_unix_ms), KIND_NAMES.get(e.kind, str(e.kind)), f"{e.points:+d}", e.subject_id, e.note,
             e.recorded_by) for e in events))


@credit_app.command("record")
def credit_record(
    org_id: str,
    points: int = typer.Option(..., help="Score change: + or - for an adjustment; a penalty is negative (0: default)."),
    note: str = typer.Option(..., help="Why; kept with the event and in the audit log."),
    kind: str = typer.Option("adjustment", help=f"One of {', '.join(_KINDS)}."),
    subject: str = typer.Option("", help="The cause (job, grant or statement id); required for a penalty."),
    operator: str = typer.Option(None, "--operator", help="Operator recording it (default: the login name)."),
    request_id: str = typer.Option("", "--request-id", help="Idempotency key; reuse it to retry."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Records an operator's credit event (an adjustment, or a penalty the system cannot see)."""
    if kind not in _KINDS:
        fail(f"kind {kind!r} unknown; expected one of {', '.join(_KINDS)}")
    event = credit_pb2.CreditEvent(org_id=org_id, kind=_KINDS[kind], points=points, subject_id=subject, note=note)
    with rpc_errors(), Client(resolve_address(address)) as client:
        answer = client.credit.RecordCreditEvent(
            credit_pb2.RecordCreditEventRequest(request_id=request_id or new_request_id("credit-record"), event=event),
            timeout=client.timeout_s, metadata=((OPERATOR_METADATA, operator or getpass.getuser()),))
    if as_json:
        print_json({"event": to_dict(answer.event), "record": to_dict(answer.record)})
        return
    console.print(f"event {answer.event.event_id} recorded ({answer.event.points:+d}); {answer.record.org_id} now "
                  f"scores {answer.record.score}, {standing_text(answer.record)}")
