"""The double-entry ledger (复式记账): accounts, postings per batch, periods, and the check."""

from shuniu.market.ledger.columns import PostingColumns
from shuniu.market.ledger.model import ACCOUNT_KINDS, BatchPosting, LedgerPosting, account_id, split_account_id
from shuniu.market.ledger.periods import billed_period, month_name, next_period, parse_period, period_of_ms, periods_of_ms
from shuniu.market.ledger.store import LedgerStore, PostOutcome, ledger_key, postings_matching

__all__ = [
    "ACCOUNT_KINDS",
    "BatchPosting",
    "LedgerPosting",
    "LedgerStore",
    "PostOutcome",
    "PostingColumns",
    "account_id",
    "billed_period",
    "ledger_key",
    "month_name",
    "next_period",
    "parse_period",
    "period_of_ms",
    "periods_of_ms",
    "postings_matching",
    "split_account_id",
]
