"""`shuniu holder usage`: a data holder's live view of who used its products, how much, and the revenue due."""

from __future__ import annotations

import getpass

import typer
from rich.table import Table

from shuniu.cli._app import (
    AddressOption,
    JsonOption,
    app,
    console,
    print_json,
    resolve_address,
    rpc_errors,
    to_dict,
)
from shuniu.cli.credit_cmd import when_utc
from shuniu.client import Client
from shuniu.market._names import PURPOSE_CATEGORY_NAMES, name_of
from shuniu.protos.v1 import usage_pb2

holder_app = typer.Typer(help="A data holder's view of its products' use (可控可计量).", no_args_is_help=True)
app.add_typer(holder_app, name="holder")


def _yuan(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"


@holder_app.command("usage")
def holder_usage(
    holder: str = typer.Option(None, "--holder", help="The holder (default: the login name; a holder sees its own)."),
    product: str = typer.Option("", "--product", help="Only this product of the holder."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Lists, per product, buyer, grant and purpose: jobs, rows, calls and the revenue due (billed, settled or not)."""
    request = usage_pb2.ListHolderUsageRequest(holder_id=holder or getpass.getuser(), product_id=product,
                                               page_size=1000)
    rows: list[usage_pb2.HolderUsageRow] = []
    with rpc_errors(), Client(resolve_address(address)) as client:
        while True:
            page = client.usage.ListHolderUsage(request, timeout=client.timeout_s)
            rows += page.rows
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token
    due_fen = page.revenue_due_total_fen
    if as_json:
        print_json({"holder_id": request.holder_id, "rows": [to_dict(r) for r in rows], "total": len(rows),
                    "revenue_due_total_fen": due_fen})
        return
    table = Table(title=f"use of {request.holder_id}'s products: {len(rows)} row(s), {_yuan(due_fen)} due",
                  header_style="bold")
    for column in ("product", "buyer", "grant", "purpose", "jobs", "rows", "calls", "revenue due", "last used"):
        table.add_column(column, justify="right" if column in ("jobs", "rows", "calls", "revenue due") else "left",
                         overflow="fold")
    for r in rows:
        table.add_row(r.product_id, r.buyer_id, r.grant_id,
                      f"{r.purpose} ({name_of(PURPOSE_CATEGORY_NAMES, r.purpose_category)})", f"{r.jobs:,}",
                      f"{r.rows:,}", f"{r.calls:,}", _yuan(r.revenue_due_fen), when_utc(r.last_used_unix_ms))
    console.print(table)
