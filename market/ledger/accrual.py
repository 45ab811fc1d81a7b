"""Amounts below a fen, as the posting scripts keep them: a plain-Python twin of their rule. Pure.

The posting script (post_batch.lua) adds each usage posting's micro-fen below a fen to its (payer,
payee) pair's counter in the billed period and moves one fen more whenever the counter crosses a
fen; closing the period (close_period.lua) pays one fen more to each pair whose counter holds
500,000..999,999 micro-fen (四舍五入, half up) and drops the rest. `posted` and `rounded` say the same
for postings that were never sent to Redis: pure tests build statements from them.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping

from shuniu.market.ledger.columns import PostingColumns
from shuniu.market.ledger.model import LedgerPosting

__all__ = ["ROUND_UP_FROM_MICROFEN", "posted", "rounded"]

MICROFEN_PER_FEN = 1_000_000
ROUND_UP_FROM_MICROFEN = 500_000
_Pair = tuple[str, int, str, str]  # (billed period, kind, debit account, credit account)


def posted(postings: Iterable[LedgerPosting] | PostingColumns, accrued: MutableMapping[_Pair, int]) -> list[LedgerPosting]:
    """The postings a batch moves, given (and moving on) the pairs' `accrued` micro-fen."""
    if not isinstance(postings, PostingColumns) or postings.sub_microfen is None:
        return list(postings)
    carry = set()
    a, p = postings.accounts, postings.periods
    for i, (kind, debit, credit, period, sub) in enumerate(zip(*(x.tolist() for x in (
            postings.kind, postings.debit, postings.credit, postings.period, postings.sub_microfen)))):
        if not sub:
            continue
        pair = (p[period], kind, a[debit], a[credit])
        total = accrued.get(pair, 0) + sub
        if total >= MICROFEN_PER_FEN:
            carry.add(i)
            total -= MICROFEN_PER_FEN
        accrued[pair] = total
    return list(PostingColumns(postings.accounts, postings.periods, postings.kind, postings.debit, postings.credit,
                               postings.amount_fen, postings.period, postings.original_period, postings.rows,
                               postings.sub_microfen, frozenset(carry)))


def rounded(period: str, accrued: MutableMapping[_Pair, int]) -> list[LedgerPosting]:
    """The postings that close `period`: one fen to each pair holding 500,000..999,999 micro-fen; the period's counters
    are dropped."""
    pairs = sorted(pair for pair in accrued if pair[0] == period)
    out = [LedgerPosting(kind, debit, credit, 1, period) for _, kind, debit, credit in pairs
           if accrued[(period, kind, debit, credit)] >= ROUND_UP_FROM_MICROFEN]
    for pair in pairs:
        del accrued[pair]
    return out
