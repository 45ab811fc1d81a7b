"""Readable Markdown summaries of a statement and of a closed period."""

from __future__ import annotations

import pyarrow as pa

from shuniu.protos.v1 import ledger_pb2, settlement_pb2

__all__ = ["period_summary", "statement_summary", "yuan"]

_KIND_NAMES = {v: k.removeprefix("POSTING_KIND_").lower() for k, v in ledger_pb2.PostingKind.items()}


def yuan(fen: int) -> str:
    """Fen as yuan with two decimals, exact: 123456 -> '1,234.56'."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def statement_summary(statement: settlement_pb2.Statement, lines: pa.Table) -> str:
    """Balances, then totals by kind and by product; every line is in the Parquet file."""
    s = statement
    out = [
        f"# Statement {s.period} — {s.account_id}", "",
        "| | yuan |", "| --- | ---: |",
        f"| opening balance | {yuan(s.opening_balance_fen)} |",
        f"| charges (money out) | {yuan(s.charges_fen)} |",
        f"| revenue (money in) | {yuan(s.revenue_fen)} |",
        f"| of which late usage from earlier periods | {yuan(s.late_adjustment_fen)} |",
        f"| closing balance | {yuan(s.closing_balance_fen)} |", "",
        f"{s.line_count:,} lines, each traceable to its usage record, job, grant and price version.", "",
    ]  # fmt: skip
    if lines.num_rows:
        by = lines.group_by(["kind", "product_id", "price_version"]).aggregate([("amount_fen", "sum"), ("line_id", "count")])
        rows = sorted(zip(*(by.column(c).to_pylist() for c in ("kind", "product_id", "price_version", "amount_fen_sum", "line_id_count"))))
        out += ["| kind | product | price version | lines | yuan |", "| --- | --- | ---: | ---: | ---: |"]
        out += [f"| {_KIND_NAMES.get(k, k)} | {p or '(compute)'} | {v if p else ''} | {n:,} | {yuan(a)} |" for k, p, v, a, n in rows]
    return "\n".join(out) + "\n"


def period_summary(period: settlement_pb2.Period, statements: list[settlement_pb2.Statement]) -> str:
    out = [
        f"# Settlement of period {period.period}", "",
        f"{len(statements)} statements; buyers charged {yuan(period.total_charged_fen)} yuan; "
        f"{period.late_records:,} usage records from earlier periods billed here.", "",
        "| account | opening | charges | revenue | closing | lines |", "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]  # fmt: skip
    out += [f"| {s.account_id} | {yuan(s.opening_balance_fen)} | {yuan(s.charges_fen)} | {yuan(s.revenue_fen)} | "
            f"{yuan(s.closing_balance_fen)} | {s.line_count:,} |" for s in statements]
    return "\n".join(out) + "\n"
