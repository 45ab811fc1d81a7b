"""`shuniu negative-list …`: the operator's negative list (负面清单) of items and uses that may not be traded."""

from __future__ import annotations

import typer
from rich.table import Table

from shuniu.cli._app import AddressOption, JsonOption, app, console, print_json, resolve_address, rpc_errors, to_dict
from shuniu.cli.products_cmd import enum_value
from shuniu.client import Client, new_request_id
from shuniu.market._names import GRADE_NAMES, JOB_KIND_NAMES, PURPOSE_CATEGORY_NAMES
from shuniu.market.negative_list import describe
from shuniu.protos.v1 import negative_list_pb2 as nl_pb2

negative_list_app = typer.Typer(help="The negative list (负面清单): items and uses that may not be traded.",
                                no_args_is_help=True)
app.add_typer(negative_list_app, name="negative-list")


def list_entries(client: Client) -> list[nl_pb2.NegativeListEntry]:
    """Every entry in force, following pages."""
    entries: list[nl_pb2.NegativeListEntry] = []
    token = ""
    while True:
        page = client.negative_list.ListEntries(
            nl_pb2.NegativeListServiceListEntriesRequest(page_size=1000, page_token=token), timeout=client.timeout_s)
        entries += page.entries
        token = page.next_page_token
        if not token:
            return entries


@negative_list_app.command("ls")
def negative_list_ls(as_json: bool = JsonOption, address: str = AddressOption) -> None:
    """Lists the entries in force."""
    with rpc_errors(), Client(resolve_address(address)) as client:
        entries = list_entries(client)
    if as_json:
        print_json({"entries": [to_dict(e) for e in entries], "total": len(entries)})
        return
    table = Table(title=f"{len(entries)} negative-list entries", header_style="bold")
    for column in ("entry", "forbids", "reason", "legal basis", "added by"):
        table.add_column(column, no_wrap=column == "entry", overflow="fold")
    for e in entries:
        table.add_row(e.entry_id, describe(e), e.reason, e.legal_basis, e.added_by)
    console.print(table)


@negative_list_app.command("add")
def negative_list_add(
    reason: str = typer.Option(..., help="Why the item may not be traded; shown on every refusal."),
    column_tag: str = typer.Option("", help="A column tag, e.g. biometric."),
    job_kind: str = typer.Option("", help="A job kind: aggregate, verify, model, custom."),
    purpose: str = typer.Option("", help="A purpose code."),
    purpose_category: str = typer.Option("", help="public_governance, public_interest or commercial."),
    grade: str = typer.Option("", help="A grade: public, internal, sensitive, core."),
    legal_basis: str = typer.Option("", help="The rule or law the entry comes from."),
    added_by: str = typer.Option("operator", help="Who adds it."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Adds an entry; it matches when every field it sets matches. Products and grants afterwards are checked."""
    entry = nl_pb2.NegativeListEntry(
        column_tag=column_tag, purpose=purpose, reason=reason, legal_basis=legal_basis, added_by=added_by,
        job_kind=enum_value(JOB_KIND_NAMES, job_kind, "job kind"), grade=enum_value(GRADE_NAMES, grade, "grade"),
        purpose_category=enum_value(PURPOSE_CATEGORY_NAMES, purpose_category, "purpose category"),
    )
    with rpc_errors(), Client(resolve_address(address)) as client:
        added = client.negative_list.AddEntry(nl_pb2.NegativeListServiceAddEntryRequest(
            request_id=new_request_id("negative-list-add"), entry=entry), timeout=client.timeout_s).entry
    if as_json:
        print_json(to_dict(added))
        return
    console.print(f"entry {added.entry_id} added: forbids {describe(added)}", highlight=False)


@negative_list_app.command("rm")
def negative_list_rm(entry_id: str, reason: str = typer.Option("", help="Why, for the audit trail."),
                     address: str = AddressOption) -> None:
    """Removes an entry."""
    with rpc_errors(), Client(resolve_address(address)) as client:
        removed = client.negative_list.RemoveEntry(nl_pb2.NegativeListServiceRemoveEntryRequest(
            request_id=new_request_id("negative-list-rm"), entry_id=entry_id, reason=reason), timeout=client.timeout_s).entry
    console.print(f"entry {removed.entry_id} removed", highlight=False)
