"""Payments (收付款): money paid into an account from outside the exchange, or out of it, as one posting.

A buyer settling its bill, or the exchange paying a holder its revenue, moves money between the
account and `external:bank`, the world outside the ledger. The payment is posted like a usage
batch, by the same atomic script, under the batch id "payment:<request id>": a retried request
finds its idempotency record and changes nothing. Pure.
"""

from __future__ import annotations

from shuniu.market.ledger.model import MAX_AMOUNT_FEN, BatchPosting, LedgerPosting, split_account_id
from shuniu.protos.v1 import ledger_pb2

__all__ = ["BANK_ACCOUNT", "PaymentError", "payment_batch", "payment_batch_id"]

BANK_ACCOUNT = "external:bank"
MAX_REFERENCE_CHARS = 200


class PaymentError(ValueError):
    """A payment that cannot be recorded; the message names the field and what is accepted."""


def payment_batch_id(request_id: str) -> str:
    return f"payment:{request_id}"


def payment_batch(request_id: str, account: str, amount_fen: int, reference: str, period: str) -> BatchPosting:
    """The posting of a payment of `amount_fen` into `account` (out of it when negative), billed in `period`."""
    if not request_id:
        raise PaymentError("request_id is empty; a payment needs one so that a retry cannot pay twice")
    try:
        split_account_id(account)
    except ValueError as err:
        raise PaymentError(f"account_id: {err}") from None
    if account == BANK_ACCOUNT:
        raise PaymentError(f"account_id {BANK_ACCOUNT} is the outside world's side of every payment; name the payer's or payee's account")
    if amount_fen == 0 or abs(amount_fen) >= MAX_AMOUNT_FEN:
        raise PaymentError(f"amount_fen is {amount_fen}; expected a non-zero amount below 2^53 fen "
                           "(> 0 pays into the account, < 0 pays out of it)")
    if len(reference) > MAX_REFERENCE_CHARS:
        raise PaymentError(f"reference has {len(reference)} characters; at most {MAX_REFERENCE_CHARS}")
    debit, credit = (BANK_ACCOUNT, account) if amount_fen > 0 else (account, BANK_ACCOUNT)
    posting = LedgerPosting(ledger_pb2.POSTING_KIND_PAYMENT, debit, credit, abs(amount_fen), period)
    return BatchPosting(payment_batch_id(request_id), (posting,), charged_fen=abs(amount_fen), record_count=0,
                        reference=reference)
