"""Statement lines of postings that move money between two accounts with no rated line behind them.

A compute voucher (算力券) paying a buyer's compute charge, or a payment recorded into or out of
an account, is one posting and no usage line. On statements it is two lines: a credit line on
the account it pays into and the matching debit line on the account it comes from. Line ids
name the batch, the voucher (or "payment") and the period, so each posting is one line per side.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from shuniu.market.ledger.model import LedgerPosting
from shuniu.protos.v1 import ledger_pb2

__all__ = ["TRANSFER_KINDS", "transfer_lines"]

TRANSFER_KINDS = (ledger_pb2.POSTING_KIND_VOUCHER, ledger_pb2.POSTING_KIND_PAYMENT)
_TAG = {ledger_pb2.POSTING_KIND_VOUCHER: "v", ledger_pb2.POSTING_KIND_PAYMENT: "p"}


def transfer_lines(batch_id: str, postings: Iterable[LedgerPosting], schema: pa.Schema) -> pa.Table | None:
    """Statement lines (in `schema`) of a batch's voucher and payment postings of one period; None when there are none."""
    moved = [p for p in postings if p.kind in _TAG]
    if not moved:
        return None
    rows: dict[str, list] = {f.name: [] for f in schema}
    for p in moved:
        line_id = f"{batch_id}:{p.voucher_id or 'payment'}:{p.original_period or p.period}:{_TAG[p.kind]}"
        for account, counterparty, amount, suffix in ((p.credit_account_id, p.debit_account_id, p.amount_fen, ""),
                                                      (p.debit_account_id, p.credit_account_id, -p.amount_fen,
                                                       f"@{p.debit_account_id}")):
            values = {"line_id": line_id + suffix, "account_id": account, "kind": p.kind, "amount_fen": amount,
                      "counterparty": counterparty, "line_fen": p.amount_fen, "original_period": p.original_period,
                      "batch_id": batch_id, "amount_millifen": amount * 1000, "line_millifen": p.amount_fen * 1000}
            for name, column in rows.items():
                column.append(values.get(name, "" if schema.field(name).type == pa.string() else 0))
    return pa.table({f.name: pa.array(rows[f.name], f.type) for f in schema}, schema=schema)
