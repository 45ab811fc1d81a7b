"""`shuniu vouchers …`: compute vouchers (算力券) — issue, list, and the per-organisation cap."""

from __future__ import annotations

import datetime
import time

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
from shuniu.market.settlement import yuan
from shuniu.protos.v1 import common_pb2, ledger_pb2

vouchers_app = typer.Typer(help="Compute vouchers (算力券): compute charges draw on them before the buyer's own funds.",
                           no_args_is_help=True)
app.add_typer(vouchers_app, name="vouchers")

_CST = datetime.timezone(datetime.timedelta(hours=8))
_CLASSES = {"general": common_pb2.COMPUTE_CLASS_GENERAL, "ai": common_pb2.COMPUTE_CLASS_AI, "hpc": common_pb2.COMPUTE_CLASS_HPC}
_CLASS_NAMES = {v: k for k, v in _CLASSES.items()}
_STATES = {"active": ledger_pb2.VOUCHER_STATE_ACTIVE, "exhausted": ledger_pb2.VOUCHER_STATE_EXHAUSTED,
           "lapsed": ledger_pb2.VOUCHER_STATE_LAPSED}
_STATE_NAMES = {v: k for k, v in _STATES.items()}
_STATE_STYLE = {"active": "green", "exhausted": "dim", "lapsed": "yellow"}


def _unix_ms(value: str, what: str) -> int:
    """A time given as YYYY-MM-DD (midnight, China Standard Time), +Nd / +Nh from now, or Unix ms."""
    if value.startswith("+") and value[1:-1].isdigit() and value[-1] in "dh":
        return int(time.time() * 1000) + int(value[1:-1]) * (86_400_000 if value[-1] == "d" else 3_600_000)
    if value.isdigit():
        return int(value)
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        fail(f"{what} {value!r} not understood; expected YYYY-MM-DD, +30d, +12h or Unix milliseconds")
    return int(datetime.datetime(day.year, day.month, day.day, tzinfo=_CST).timestamp() * 1000)


def _day(unix_ms: int) -> str:
    return datetime.datetime.fromtimestamp(unix_ms / 1000, _CST).strftime("%Y-%m-%d %H:%M")


@vouchers_app.command("issue")
def issue(
    org: str = typer.Option(..., "--org", help="Organisation (buyer id) the voucher is issued to."),
    amount_fen: int = typer.Option(..., "--amount-fen", help="Face value in fen (100 fen = 1 yuan)."),
    valid_until: str = typer.Option(..., "--valid-until", help="End of validity: YYYY-MM-DD (CST), +30d, +12h or Unix ms."),
    valid_from: str = typer.Option("", "--valid-from", help="Start of validity (default: now); same forms."),
    classes: list[str] = typer.Option([], "--class", help="Eligible compute class (general, ai, hpc); repeat; none: all."),
    sites: list[str] = typer.Option([], "--site", help="Eligible site (e.g. zhengzhou); repeat; none: every site."),
    programme: str = typer.Option("", "--programme", help="Subsidy programme; its account is subsidy:<programme> "
                                  "(default subsidy:exchange)."),
    address: str = AddressOption,
    as_json: bool = JsonOption,
) -> None:
    """Issue a voucher to an organisation, within its cap (see `shuniu vouchers cap`)."""
    for name in classes:
        if name not in _CLASSES:
            fail(f"--class {name!r} unknown; expected one of {', '.join(_CLASSES)}")
    spec = ledger_pb2.VoucherSpec(
        org_id=org, amount_fen=amount_fen, valid_until_unix_ms=_unix_ms(valid_until, "--valid-until"),
        valid_from_unix_ms=_unix_ms(valid_from, "--valid-from") if valid_from else 0,
        eligible_compute_classes=[_CLASSES[c] for c in classes], eligible_sites=sites, programme=programme)
    with Client(resolve_address(address)) as client, rpc_errors():
        result = client.vouchers.IssueVoucher(ledger_pb2.IssueVoucherRequest(request_id=new_request_id("voucher"), spec=spec),
                                              timeout=client.timeout_s)
    v = result.voucher
    _answer(result, as_json, f"voucher {v.voucher_id} issued to {v.spec.org_id}: {yuan(v.spec.amount_fen)} ¥, valid "
                             f"{_day(v.spec.valid_from_unix_ms)} → {_day(v.spec.valid_until_unix_ms)} CST, {_eligible(v.spec)}")


def _answer(result, as_json: bool, text: str) -> None:
    """A mutation's answer: the response as JSON, or one line of text."""
    if as_json:
        print_json(to_dict(result))
    else:
        console.print(text)


def _eligible(spec: ledger_pb2.VoucherSpec) -> str:
    classes = ",".join(_CLASS_NAMES.get(c, str(c)) for c in spec.eligible_compute_classes) or "every class"
    sites = ",".join(spec.eligible_sites) or "every site"
    return f"{classes} at {sites}"


@vouchers_app.command("list")
def list_vouchers(
    org: str = typer.Option("", "--org", help="One organisation (shows its cap and outstanding amount)."),
    states: list[str] = typer.Option([], "--state", help="active, exhausted or lapsed; repeat (default: all)."),
    address: str = AddressOption,
    as_json: bool = JsonOption,
) -> None:
    """Vouchers with what each has used and has left; lapsed ones show the amount that lapsed."""
    for name in states:
        if name not in _STATES:
            fail(f"--state {name!r} unknown; expected one of {', '.join(_STATES)}")
    vouchers, token = [], ""
    with Client(resolve_address(address)) as client, rpc_errors():
        while True:
            page = client.vouchers.ListVouchers(ledger_pb2.ListVouchersRequest(
                org_id=org, states=[_STATES[s] for s in states], page_size=1000, page_token=token), timeout=client.timeout_s)
            vouchers += page.vouchers
            token = page.next_page_token
            if not token:
                break
    if as_json:
        print_json({"vouchers": [to_dict(v) for v in vouchers], "total": len(vouchers),
                    **({"org_id": org, "cap_fen": page.cap_fen, "outstanding_fen": page.outstanding_fen} if org else {})})
        return
    title = f"{len(vouchers)} vouchers"
    if org:
        title += f" of {org}: cap {yuan(page.cap_fen)} ¥, outstanding {yuan(page.outstanding_fen)} ¥"
    table = Table(title=title, header_style="bold", title_justify="left")
    for column in ("voucher", "org", "state", "amount ¥", "used ¥", "left ¥", "valid until (CST)", "eligible", "subsidy"):
        table.add_column(column, justify="right" if "¥" in column else "left")
    for v in vouchers:
        state = _STATE_NAMES.get(v.state, str(v.state))
        table.add_row(v.voucher_id, v.spec.org_id, f"[{_STATE_STYLE.get(state, 'white')}]{state}[/]", yuan(v.spec.amount_fen),
                      yuan(v.used_fen), yuan(v.remaining_fen), _day(v.spec.valid_until_unix_ms), _eligible(v.spec),
                      v.spec.programme or "exchange")
    console.print(table)


@vouchers_app.command("cap")
def cap(
    org: str = typer.Option(..., "--org", help="Organisation (buyer id)."),
    cap_fen: int = typer.Option(..., "--cap-fen", help="Most it may hold unspent in vouchers at once, in fen."),
    address: str = AddressOption,
    as_json: bool = JsonOption,
) -> None:
    """Set an organisation's voucher cap; issuing above it is refused."""
    with Client(resolve_address(address)) as client, rpc_errors():
        result = client.vouchers.SetVoucherCap(ledger_pb2.SetVoucherCapRequest(
            request_id=new_request_id("voucher-cap"), org_id=org, cap_fen=cap_fen), timeout=client.timeout_s)
    _answer(result, as_json, f"voucher cap of {result.org_id}: {yuan(result.cap_fen)} ¥ "
                             f"(outstanding {yuan(result.outstanding_fen)} ¥)")
