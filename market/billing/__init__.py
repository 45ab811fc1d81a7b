"""Billing: usage batches from the stream, rated, split and posted to the ledger exactly once."""

from shuniu.market.billing.biller import DEAD_LETTER_REASONS, Biller, BillerConfig, dead_letter_counts
from shuniu.market.billing.book import BillingPolicy, DeadLetter, PriceSource
from shuniu.market.billing.charge import LINES_SCHEMA, PriceBook, charge_batch, prepare_usage
from shuniu.market.billing.reference import reference_balances

__all__ = [
    "DEAD_LETTER_REASONS",
    "LINES_SCHEMA",
    "Biller",
    "BillerConfig",
    "BillingPolicy",
    "DeadLetter",
    "PriceBook",
    "PriceSource",
    "charge_batch",
    "dead_letter_counts",
    "prepare_usage",
    "reference_balances",
]
