"""Metrics of the usage path: batches billed or refused, records, fen charged."""

from __future__ import annotations

from prometheus_client import Counter

USAGE_BATCHES = Counter("shuniu_usage_batches_total", "Usage batches the biller finished, by outcome.",
                        ["outcome"])  # posted, duplicate, dead_letter
USAGE_RECORDS_BILLED = Counter("shuniu_usage_records_billed_total", "Usage records rated and posted to the ledger.")
USAGE_DEAD_LETTERS = Counter("shuniu_usage_dead_letters_total", "Usage batches sent to the dead-letter stream, by reason.",
                             ["reason"])  # a bounded set: see market/billing/biller.py DEAD_LETTER_REASONS
BILLED_FEN = Counter("shuniu_billing_charged_fen_total", "Fen charged to buyers by posted usage batches.")
