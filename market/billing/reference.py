"""The reference rater: the same batches billed with the plain-Python twins, per account, in fen.

Slow on purpose (it is the specification, not the path): it rates each batch with
`rate_inputs_twin` (data lines in milli-fen, compute lines to the micro-fen), splits each line's milli-fen and
its micro-fen below them with `split_twin` and sums each (payer, payee, billed period) pair's micro-fen in
Python integers; a pair has been posted the whole fen of its sum while its period is open (docs/billing.md,
"Amounts below a fen"). Tests and the benchmark compare
the ledger to it to the fen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Container, Iterable

import numpy as np
import pyarrow as pa

from shuniu.market.billing.book import PriceSource
from shuniu.market.billing.charge import prepare_usage
from shuniu.market.ledger import account_id, billed_period, month_name
from shuniu.market.rating import rate_inputs_twin
from shuniu.market.split.hamilton import split_twin

__all__ = ["reference_balances"]


def reference_balances(batches: Iterable[tuple[str, pa.RecordBatch]], source: PriceSource,
                       closed: Container[str] = ()) -> dict[str, int]:
    """Balance (credits - debits) per account after billing `batches` in the order given."""
    volumes: dict[str, int] = defaultdict(int)
    pairs: dict[tuple[str, str, str], int] = defaultdict(int)  # (payer, payee, billed period) -> micro-fen
    for batch_id, batch in batches:
        book = source.book_for(batch)
        prepared = prepare_usage(batch_id, batch, book)
        before = np.array([volumes[f] for f in prepared.volume_fields], dtype=np.int64)
        rated = rate_inputs_twin(prepared.inputs, book.tables, before, prepared.volume_slot)
        for f, after in zip(prepared.volume_fields, rated.units_after.tolist()):
            volumes[f] = after
        rows = batch.to_pylist()
        months = [billed_period(month_name(int(m)), closed) for m in prepared.month_values]
        billed = [months[k] for k in prepared.month_code.tolist()]
        for i, row in enumerate(rows):
            buyer = account_id("buyer", row["buyer_id"])
            lines = [(("compute", row["compute_center"]), int(rated.compute_millifen[i]), int(rated.compute_rest_microfen[i])),
                     (("data", row["product_id"]), int(rated.data_millifen[i]), 0)]
            for key, amount, rest in lines:
                if amount <= 0 and rest <= 0:
                    continue
                plan = book.plans.plan_keys.index(key)
                lo, hi = int(book.plans.plan_offsets[plan]), int(book.plans.plan_offsets[plan + 1])
                parties = [book.plans.parties[int(k)] for k in book.plans.slot_party[lo:hi]]
                milli_parts, rest_parts = split_twin(book.plans, [plan, plan], [amount, rest])
                for (party_type, party_id), milli, micro in zip(parties, milli_parts, rest_parts):
                    pairs[(buyer, account_id(party_type, party_id), billed[i])] += milli * 1000 + micro
    balances: dict[str, int] = defaultdict(int)
    for (payer, payee, _), microfen in pairs.items():
        balances[payer] -= microfen // 1_000_000
        balances[payee] += microfen // 1_000_000
    return {a: b for a, b in balances.items() if b}
