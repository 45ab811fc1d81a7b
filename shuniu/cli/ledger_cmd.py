"""`shuniu ledger …` (balances, the check), `shuniu settle` (close a period) and `shuniu index` (data price index)."""

from __future__ import annotations

import typer
from rich.table import Table

from shuniu.cli._app import AddressOption, JsonOption, app, console, err_console, fail, print_json, resolve_address, rpc_errors, to_dict
from shuniu.client import Client, new_request_id
from shuniu.market.settlement import yuan
from shuniu.protos.v1 import ledger_pb2, settlement_pb2

ledger_app = typer.Typer(help="The double-entry ledger: balances and the proof that it balances.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
_KIND_NAMES = {v: k.removeprefix("ACCOUNT_KIND_").lower() for k, v in ledger_pb2.AccountKind.items()}
_SETTLE_TIMEOUT_S = 600.0


@ledger_app.command("balance")
def balance(
    account: str = typer.Option("", help="One account, e.g. buyer:acme (default: every account)."),
    address: str = AddressOption,
    as_json: bool = JsonOption,
) -> None:
    """Balances (credits − debits) of every account, or of one."""
    with Client(resolve_address(address)) as client, rpc_errors():
        if account:
            accounts = [client.ledger.GetBalance(ledger_pb2.GetBalanceRequest(account_id=account), timeout=client.timeout_s).account]
        else:
            accounts, token = [], ""
            while True:
                page = client.ledger.ListAccounts(ledger_pb2.ListAccountsRequest(page_size=1000, page_token=token), timeout=client.timeout_s)
                accounts += page.accounts
                token = page.next_page_token
                if not token:
                    break
    if as_json:
        print_json([to_dict(a) for a in accounts])
        return
    table = Table(title=f"{len(accounts)} accounts", header_style="bold", title_justify="left")
    for column in ("account", "kind", "debits ¥", "credits ¥", "balance ¥"):
        table.add_column(column, justify="left" if column in ("account", "kind") else "right")
    for a in accounts:
        table.add_row(a.account_id, _KIND_NAMES.get(a.kind, str(a.kind)), yuan(a.debits_fen), yuan(a.credits_fen), yuan(a.balance_fen))
    console.print(table)


@ledger_app.command("check")
def check(address: str = AddressOption, as_json: bool = JsonOption) -> None:
    """Recompute every balance from the postings; exit 1 unless debits = credits and every balance matches."""
    with Client(resolve_address(address), timeout_s=120) as client, rpc_errors():
        result = client.ledger.CheckLedger(ledger_pb2.CheckLedgerRequest(), timeout=client.timeout_s)
    if as_json:
        print_json(to_dict(result))
    else:
        verdict = "[green]balanced[/]" if result.ok else "[red]NOT balanced[/]"
        console.print(f"ledger {verdict}: debits {yuan(result.total_debits_fen)} ¥, credits {yuan(result.total_credits_fen)} ¥, "
                      f"{result.accounts_checked:,} accounts, {result.postings_checked:,} postings recomputed")
        for m in result.mismatches:
            console.print(f"  [red]{m.account_id}[/]: stored {yuan(m.stored_fen)} ¥, postings say {yuan(m.recomputed_fen)} ¥")
    if not result.ok:
        raise typer.Exit(1)


@ledger_app.command("pay")
def pay(
    account: str = typer.Option(..., help="Account paid into (or out of), e.g. buyer:acme or holder:state-grid."),
    amount_fen: int = typer.Option(..., help="Fen; > 0 pays into the account (a buyer settling its bill), < 0 pays out."),
    reference: str = typer.Option("", help="Bank or payment reference."),
    request_id: str = typer.Option("", help="Idempotency key (default: a new one); reuse it to retry safely."),
    address: str = AddressOption,
    as_json: bool = JsonOption,
) -> None:
    """Record a payment (收付款) between an account and the bank, as one posting (operators)."""
    request = ledger_pb2.RecordPaymentRequest(request_id=request_id or new_request_id(), account_id=account,
                                              amount_fen=amount_fen, reference=reference)
    with Client(resolve_address(address)) as client, rpc_errors():
        result = client.ledger.RecordPayment(request, timeout=client.timeout_s)
    if as_json:
        print_json(to_dict(result))
        return
    p = result.posting
    console.print(f"payment of {yuan(p.amount_fen)} ¥ from {p.debit_account_id} to {p.credit_account_id} in {p.period}; "
                  f"{result.account.account_id} balance {yuan(result.account.balance_fen)} ¥", highlight=False)


@app.command("settle")
def settle(
    period: str = typer.Option(..., help="Period to close, YYYY-MM (e.g. 2026-11)."),
    address: str = AddressOption,
    as_json: bool = JsonOption,
) -> None:
    """Close a period: statements per party (Parquet + Markdown); late usage goes to the next period."""
    with Client(resolve_address(address), timeout_s=_SETTLE_TIMEOUT_S) as client, rpc_errors():
        with err_console.status(f"closing {period} …"):
            result = client.settlement.ClosePeriod(settlement_pb2.ClosePeriodRequest(request_id=new_request_id("settle"), period=period),
                                                   timeout=client.timeout_s)
    if as_json:
        print_json(to_dict(result))
        return
    p = result.period
    console.print(f"period {p.period} closed: {p.statements} statements, buyers charged {yuan(p.total_charged_fen)} ¥, "
                  f"{p.late_records:,} late records billed here; manifest sha256 {p.manifest_sha256[:16]}…")
    table = Table(header_style="bold")
    for column in ("account", "opening ¥", "charges ¥", "revenue ¥", "closing ¥", "lines", "file"):
        table.add_column(column, justify="left" if column in ("account", "file") else "right")
    for s in result.statements:
        table.add_row(s.account_id, yuan(s.opening_balance_fen), yuan(s.charges_fen), yuan(s.revenue_fen),
                      yuan(s.closing_balance_fen), f"{s.line_count:,}", s.parquet_path)
    console.print(table)


@app.command("index")
def index(
    category: str = typer.Option("", help="One product category (default: all)."),
    from_statements: str = typer.Option("", help="Recompute offline from the statement files in this settlement folder "
                                                 "(<state dir>/settlement) instead of asking the exchange."),
    min_transactions: int = typer.Option(3, min=1, help="With --from-statements: transactions a cell needs to be shown."),
    min_parties: int = typer.Option(2, min=1, help="With --from-statements: distinct buyers and sellers a cell needs."),
    address: str = AddressOption,
    as_json: bool = JsonOption,
) -> None:
    """The data price index (数据要素市场价格指数): chained Törnqvist per category, base period = 100 (docs/price-index.md)."""
    if from_statements:
        from shuniu.market.settlement.index_rebuild import index_from_statements  # noqa: PLC0415

        try:
            points, _ = index_from_statements(from_statements, min_transactions, min_parties)
        except FileNotFoundError as err:
            fail(str(err))
        result = settlement_pb2.GetPriceIndexResponse(points=[p for p in points if not category or p.category == category],
                                                      min_transactions=min_transactions, min_distinct_parties=min_parties)
    else:
        with Client(resolve_address(address)) as client, rpc_errors():
            result = client.settlement.GetPriceIndex(settlement_pb2.GetPriceIndexRequest(category=category),
                                                     timeout=client.timeout_s)
    if as_json:
        print_json(to_dict(result))
        return
    if not result.points:
        fail("no settled data transactions yet; close a period with `shuniu settle --period YYYY-MM`")
    table = Table(title=f"data price index (base = 100; cells under {result.min_transactions} transactions or "
                        f"{result.min_distinct_parties} buyers or sellers suppressed)", header_style="bold", title_justify="left")
    for column in ("category", "period", "index", "transactions", "parties", "turnover ¥"):
        table.add_column(column, justify="left" if column in ("category", "period") else "right")
    for p in result.points:
        table.add_row(p.category, p.period, "—" if p.suppressed else f"{p.index_value:.2f}", f"{p.transactions:,}",
                      f"{p.distinct_parties:,}", yuan(p.turnover_fen))
    console.print(table)
