"""`shuniu grants …`: apply for a grant per scenario (一场景一申请), decide, revoke and read grants."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import pathlib
import re
import time

import typer
from google.protobuf import json_format
from rich.table import Table

from shuniu.cli._app import (
    AddressOption, JsonOption, app, console, fail, print_json, resolve_address, rpc_errors, to_dict,
)
from shuniu.client import Client, new_request_id
from shuniu.market._names import JOB_KIND_NAMES, PURPOSE_CATEGORY_NAMES, name_of, value_of
from shuniu.protos.v1 import common_pb2, grants_pb2
from shuniu.protos.metadata import OPERATOR_METADATA

grants_app = typer.Typer(help="Apply for, decide and read grants (one scenario, one grant).", no_args_is_help=True)
app.add_typer(grants_app, name="grants")

STATE_NAMES = {v: k.removeprefix("GRANT_STATE_").lower() for k, v in grants_pb2.GrantState.items() if v}
_STATE_STYLE = {"pending": "yellow", "approved": "green", "rejected": "red", "revoked": "red", "expired": "dim"}
_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
_EXPIRY_HELP = "a duration such as 30d, 12h or 2w, or an ISO date or time such as 2025-07-01 or 2025-07-01T08:00+08:00"


def parse_expiry(text: str, now_ms: int) -> int:
    """Expiry in unix ms from a duration after `now_ms` or an ISO date/time (UTC unless it says otherwise)."""
    match = _DURATION.match(text.strip())
    if match:
        return now_ms + int(match[1]) * _UNIT_MS[match[2]]
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"expires {text!r} unreadable; expected {_EXPIRY_HELP}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return int(when.timestamp() * 1000)


def parse_product_columns(values: list[str]) -> list[tuple[str, list[str]]]:
    """`ID:col1,col2` values as (product id, columns)."""
    out = []
    for value in values:
        product_id, _, columns = value.partition(":")
        names = [c.strip() for c in columns.split(",") if c.strip()]
        if not product_id or not names:
            raise ValueError(f"product {value!r} malformed; expected ID:col1,col2 (the columns the grant allows)")
        out.append((product_id, names))
    return out


def spec_from_json(doc: dict, now_ms: int) -> grants_pb2.GrantSpec:
    """A GrantSpec from its JSON form; also takes `expires` like --expires and kinds/categories by short name."""
    doc = dict(doc)
    if "expires" in doc:
        doc["expires_unix_ms"] = parse_expiry(str(doc.pop("expires")), now_ms)
    if "job_kinds" in doc:
        doc["job_kinds"] = [value_of(JOB_KIND_NAMES, str(k), "job_kinds") if not _enum_name(k) else k
                            for k in doc["job_kinds"]]
    if isinstance(doc.get("purpose_category"), str) and not _enum_name(doc["purpose_category"]):
        doc["purpose_category"] = value_of(PURPOSE_CATEGORY_NAMES, doc["purpose_category"], "purpose_category")
    try:
        return json_format.ParseDict(doc, grants_pb2.GrantSpec())
    except json_format.ParseError as err:
        raise ValueError(f"spec: {err}") from None


def _enum_name(value) -> bool:
    return isinstance(value, str) and value.isupper()


def _build_spec(opts: dict, spec_file: pathlib.Path | None, now_ms: int) -> grants_pb2.GrantSpec:
    """The spec file (if any) with every given flag applied on top."""
    spec = spec_from_json(json.loads(spec_file.read_text()), now_ms) if spec_file else grants_pb2.GrantSpec(
        purpose_category=common_pb2.PURPOSE_CATEGORY_COMMERCIAL, expires_unix_ms=parse_expiry("30d", now_ms))
    for field in ("buyer_id", "scenario", "purpose", "justification"):
        if opts[field] is not None:
            setattr(spec, field, opts[field])
    if opts["category"] is not None:
        spec.purpose_category = value_of(PURPOSE_CATEGORY_NAMES, opts["category"], "--category")
    if opts["product"]:
        del spec.products[:]
        spec.products.extend(common_pb2.ProductColumns(product_id=p, columns=c)
                             for p, c in parse_product_columns(opts["product"]))
    if opts["kind"]:
        spec.job_kinds[:] = [value_of(JOB_KIND_NAMES, k, "--kind") for k in opts["kind"]]
    if opts["expires"] is not None:
        spec.expires_unix_ms = parse_expiry(opts["expires"], now_ms)
    for field in ("max_rows", "max_calls", "max_budget_fen", "max_dp_epsilon_milli"):
        if opts[field] is not None:
            setattr(spec.limits, field, opts[field])
    for field in ("max_output_rows", "max_output_bytes", "min_group_size", "dp_epsilon_per_job_milli"):
        if opts[field] is not None:
            setattr(spec.egress, field, opts[field])
    if opts["dp_noise"] is not None:
        spec.egress.require_dp_noise = opts["dp_noise"]
    if opts["analysis"]:
        spec.analysis_ids[:] = opts["analysis"]
    return spec


def _state(grant: grants_pb2.Grant) -> str:
    name = STATE_NAMES.get(grant.state, "?")
    return f"[{_STATE_STYLE.get(name, '')}]{name}[/]"


def _when(unix_ms: int) -> str:
    return dt.datetime.fromtimestamp(unix_ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if unix_ms else "-"


def _summary(grant: grants_pb2.Grant) -> str:
    return f"grant [bold]{grant.grant_id}[/] {_state(grant)} ({grant.state_reason})"


@grants_app.command("apply")
def grants_apply(
    buyer_id: str = typer.Option(None, "--buyer", help="Buyer id (数据需求方)."),
    scenario: str = typer.Option(None, help="The one scenario the grant serves."),
    purpose: str = typer.Option(None, help="Purpose code the products allow, e.g. credit."),
    category: str = typer.Option(None, help="public_governance, public_interest or commercial (default)."),
    product: list[str] = typer.Option([], help="ID:col1,col2 — a product and the columns granted; repeatable."),
    kind: list[str] = typer.Option([], help="Job kind: aggregate, verify, model or custom; repeatable."),
    expires: str = typer.Option(None, help=f"Expiry: {_EXPIRY_HELP} (default 30d)."),
    max_rows: int = typer.Option(None, help="Most rows read over the grant's life (0: not set)."),
    max_calls: int = typer.Option(None, help="Most jobs run under the grant."),
    max_budget_fen: int = typer.Option(None, help="Most money spent, fen."),
    max_dp_epsilon_milli: int = typer.Option(None, "--max-epsilon-milli", help="DP budget, thousandths of ε."),
    max_output_rows: int = typer.Option(None, help="Most rows in one output."),
    max_output_bytes: int = typer.Option(None, help="Most bytes in one output."),
    min_group_size: int = typer.Option(None, help="Smallest group a grouped output may hold (k)."),
    dp_noise: bool = typer.Option(None, "--dp-noise/--no-dp-noise", help="Require DP noise on aggregate outputs."),
    dp_epsilon_per_job_milli: int = typer.Option(None, "--epsilon-per-job-milli",
                                                 help="ε per noisy output, thousandths."),
    justification: str = typer.Option(None, help="Free text for the operator."),
    analysis: list[str] = typer.Option([], "--analysis", help="An approved analysis the grant's custom jobs may run "
                                                              "(required for custom above public); repeatable."),
    spec_file: pathlib.Path = typer.Option(None, "--spec", help="GrantSpec as JSON; flags given override it."),
    request_id: str = typer.Option("", help="Idempotency key; reuse it, with an absolute --expires, to retry the "
                                            "same application."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Applies for a grant; public and small internal grants are approved at once, others wait for an operator."""
    opts = dict(locals())
    try:
        spec = _build_spec(opts, spec_file, int(time.time() * 1000))
    except (ValueError, OSError) as err:
        fail(str(err))
    request = grants_pb2.ApplyGrantRequest(request_id=request_id or new_request_id("grant"), spec=spec)
    with rpc_errors(), Client(resolve_address(address)) as client:
        grant = client.grants.ApplyGrant(request, timeout=client.timeout_s).grant
    if as_json:
        print_json(to_dict(grant))
        return
    console.print(_summary(grant), highlight=False)


@grants_app.command("ls")
def grants_ls(
    buyer_id: str = typer.Option("", "--buyer", help="Only this buyer's grants."),
    state: list[str] = typer.Option([], help="Only grants in this state (pending, approved, …); repeatable."),
    product_id: str = typer.Option("", "--product", help="Only grants covering this product."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Lists grants with their state, scope and use."""
    try:
        states = [value_of(STATE_NAMES, s, "--state") for s in state]
    except ValueError as err:
        fail(str(err))
    found: list[grants_pb2.Grant] = []
    token = ""
    with rpc_errors(), Client(resolve_address(address)) as client:
        while True:
            page = client.grants.ListGrants(grants_pb2.ListGrantsRequest(
                buyer_id=buyer_id, states=states, product_id=product_id, page_size=1000, page_token=token),
                timeout=client.timeout_s)
            found += page.grants
            token = page.next_page_token
            if not token:
                break
    if as_json:
        print_json({"grants": [to_dict(g) for g in found], "total": len(found)})
        return
    table = Table(title=f"{len(found)} grants", header_style="bold")
    for column in ("grant", "buyer", "scenario", "state", "products", "kinds", "expires", "rows", "calls", "spent fen"):
        table.add_column(column, justify="right" if column in ("rows", "calls", "spent fen") else "left",
                         overflow="fold")
    for g in found:
        table.add_row(g.grant_id, g.spec.buyer_id, g.spec.scenario, _state(g),
                      ", ".join(p.product_id for p in g.spec.products),
                      ", ".join(name_of(JOB_KIND_NAMES, k) for k in g.spec.job_kinds), _when(g.spec.expires_unix_ms),
                      _used(g.usage.rows, g.spec.limits.max_rows), _used(g.usage.calls, g.spec.limits.max_calls),
                      _used(g.usage.spent_fen, g.spec.limits.max_budget_fen))
    console.print(table)


def _used(value: int, limit: int) -> str:
    return f"{value:,}/{limit:,}" if limit else f"{value:,}"


@grants_app.command("show")
def grants_show(grant_id: str, address: str = AddressOption) -> None:
    """Prints one grant, with its usage counters, as JSON."""
    with rpc_errors(), Client(resolve_address(address)) as client:
        grant = client.grants.GetGrant(grants_pb2.GetGrantRequest(grant_id=grant_id), timeout=client.timeout_s).grant
    print_json(to_dict(grant))


OperatorOption = typer.Option(None, "--operator", help="Operator deciding (default: the login name).")
RequestIdOption = typer.Option("", "--request-id", help="Idempotency key; reuse it to retry the same decision.")


def _decide(rpc: str, request, operator: str | None, address: str | None):
    """Sends an operator decision as `operator`, prints the grant it leaves, and returns the response."""
    with rpc_errors(), Client(resolve_address(address)) as client:
        response = getattr(client.grants, rpc)(request, timeout=client.timeout_s,
                                               metadata=((OPERATOR_METADATA, operator or getpass.getuser()),))
    console.print(_summary(response.grant), highlight=False)
    return response


@grants_app.command("approve")
def grants_approve(grant_id: str, note: str = typer.Option("", "--note", "--reason", help="Kept on the grant."),
                   operator: str = OperatorOption, request_id: str = RequestIdOption,
                   address: str = AddressOption) -> None:
    """Approves a pending grant; the product prices in force now are locked into it."""
    _decide("ApproveGrant", grants_pb2.ApproveGrantRequest(
        request_id=request_id or new_request_id("approve"), grant_id=grant_id, note=note), operator, address)


@grants_app.command("reject")
def grants_reject(grant_id: str, reason: str = typer.Option(..., help="Why; kept on the grant."),
                  operator: str = OperatorOption, request_id: str = RequestIdOption,
                  address: str = AddressOption) -> None:
    """Rejects a pending grant."""
    _decide("RejectGrant", grants_pb2.RejectGrantRequest(
        request_id=request_id or new_request_id("reject"), grant_id=grant_id, reason=reason), operator, address)


@grants_app.command("revoke")
def grants_revoke(grant_id: str, reason: str = typer.Option(..., help="Why; kept on the grant."),
                  operator: str = OperatorOption, request_id: str = RequestIdOption,
                  address: str = AddressOption) -> None:
    """Revokes an approved grant; the jobs running under it are listed for cancelling."""
    response = _decide("RevokeGrant", grants_pb2.RevokeGrantRequest(
        request_id=request_id or new_request_id("revoke"), grant_id=grant_id, reason=reason), operator, address)
    console.print(f"jobs to cancel: {', '.join(response.cancelled_job_ids) or 'none'}", highlight=False)
