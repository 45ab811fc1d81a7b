"""A batch's postings as columns: numpy arrays over small name tables, no Python object per posting.

A usage batch posts one posting per (buyer, usage period, party): ~1,500 for a 20,000-record
batch. Built, checked, summed per account and stored as columns, they cost a few array
operations instead of 1,500 objects and dicts. `PostingColumns` is still a sequence of
LedgerPosting for the readers that want objects (settlement, `ledger show`): those are made
on first use.

Stored form (the `postings` hash of the ledger, JSON): the columns as integer lists with
their name tables, `{"accounts": [...], "periods": [...], "columns": {"kind": [...],
"debit": [...], "credit": [...], "amount_fen": [...], "period": [...], "original_period":
[...]}, "rows": [...]}`, where `rows` holds any further postings (compute-voucher draws,
payments) as LedgerPosting rows. Bodies written before columns existed hold only `postings`
(rows); `postings_of_body` and `account_sums_of_body` read both.

Usage postings accrue amounts below a fen (docs/billing.md, "Amounts below a fen"): the biller's
`amount_fen` is then the whole fen of the posting's exact amount and `sub_microfen` (0..999,999 micro-fen)
the rest, which the posting script adds to the (payer, payee) pair's accrual counter. A posting whose
counter crosses a fen moves one fen more; the script lists those postings in the stored body's
`carry` (indexes into the columns). A posting that moves 0 fen (all of it accrued) is no posting.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from shuniu.market.ledger.model import MAX_AMOUNT_FEN, LedgerPosting

__all__ = ["COLUMN_NAMES", "MICROFEN_PER_FEN", "PostingColumns", "exact_sum", "account_sums_of_body", "postings_body", "postings_of_body"]

COLUMN_NAMES = ("kind", "debit", "credit", "amount_fen", "period", "original_period")
MICROFEN_PER_FEN = 1_000_000


@dataclass(frozen=True, eq=False)
class PostingColumns(Sequence):
    """Postings as columns (debit/credit index `accounts`, period/original_period index `periods`), then `rows`."""

    accounts: tuple[str, ...]
    periods: tuple[str, ...]  # may hold "": the original period of a posting billed in its own period
    kind: np.ndarray  # int64 ledger_pb2.PostingKind
    debit: np.ndarray  # int64
    credit: np.ndarray  # int64
    amount_fen: np.ndarray  # int64, each in 1..2^53-1
    period: np.ndarray  # int64
    original_period: np.ndarray  # int64
    rows: tuple[LedgerPosting, ...] = ()  # postings that name a product, price version or voucher
    sub_microfen: np.ndarray | None = None  # int64 0..999,999 per column posting: accrued, not (yet) moved
    carry: frozenset = frozenset()  # column postings whose accrual crossed a fen when posted: one fen more

    def __len__(self) -> int:
        moved = int(np.count_nonzero(self.amount_fen)) + sum(1 for i in self.carry if not self.amount_fen[i])
        return moved + len(self.rows)

    def __getitem__(self, index):
        return self._postings()[index]

    def __iter__(self) -> Iterator[LedgerPosting]:
        return iter(self._postings())

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    __hash__ = None

    def _postings(self) -> tuple[LedgerPosting, ...]:
        made = self.__dict__.get("_made")
        if made is None:
            a, p = self.accounts, self.periods
            made = tuple(LedgerPosting(kind, a[d], a[c], fen + (i in self.carry), p[period], p[original])
                         for i, (kind, d, c, fen, period, original) in enumerate(zip(*(getattr(self, n).tolist() for n in COLUMN_NAMES)))
                         if fen or i in self.carry)
            made += self.rows
            object.__setattr__(self, "_made", made)
        return made

    def checked_total(self, batch_id: str) -> int:
        """Σ amount_fen; AssertionError if an amount is outside 1..2^53-1 or a posting moves money to its own account.

        With `sub_microfen`, a posting's whole fen may be 0 when its micro-fen are 1..999,999. The total is exact (a
        Python int) past int64 and 2^53: a batch's postings may add up to more than one posting may hold."""
        amount = self.amount_fen
        low = 1 if self.sub_microfen is None else 0
        assert not len(amount) or (amount.min() >= low and amount.max() < MAX_AMOUNT_FEN), \
            f"batch {batch_id}: a posting amount is outside 1..2^53-1 fen"
        if self.sub_microfen is not None:
            sub = self.sub_microfen
            assert sub.shape == amount.shape and (not len(sub) or (sub.min() >= 0 and sub.max() < MICROFEN_PER_FEN)), \
                f"batch {batch_id}: sub_microfen must be 0..999,999, one per posting"
            assert not ((amount == 0) & (sub == 0)).any(), f"batch {batch_id}: a posting of 0 micro-fen"
        assert len(set(self.accounts)) == len(self.accounts), f"batch {batch_id}: account names repeat"
        assert not (self.debit == self.credit).any(), f"batch {batch_id}: a posting moves money to its own account"
        total = exact_sum(amount)
        for row in self.rows:
            assert 0 < row.amount_fen < MAX_AMOUNT_FEN, f"posting amount {row.amount_fen} fen outside 1..2^53-1"
            assert row.debit_account_id != row.credit_account_id, f"posting from {row.debit_account_id} to itself"
            total += row.amount_fen
        return total

    def account_totals(self) -> tuple[dict[str, int], dict[str, int]]:
        """(debits, credits) per account, in account order."""
        sums = []
        for side, attribute in ((self.debit, "debit_account_id"), (self.credit, "credit_account_id")):
            totals = _sums(self.accounts, side, self.amount_fen)
            for row in self.rows:
                account = getattr(row, attribute)
                totals[account] = totals.get(account, 0) + row.amount_fen
            sums.append(dict(sorted(totals.items())))
        return sums[0], sums[1]

    def period_names(self) -> set[str]:
        return {self.periods[k] for k in np.unique(self.period).tolist()} | {row.period for row in self.rows}


def exact_sum(values: np.ndarray) -> int:
    """Σ of non-negative int64 values as a Python int: NumPy's sum while it cannot wrap, else 31-bit halves apart."""
    if not len(values) or int(values.max()) <= (2**63 - 1) // len(values):
        return int(values.sum())
    return int((values >> 31).sum()) * 2**31 + int((values & (2**31 - 1)).sum())


def _sums(names: Sequence[str], index: np.ndarray, amount_fen: np.ndarray) -> dict[str, int]:
    """Σ amount per name, exact: in int64 while the amounts add up to less than 2^63, else in 31-bit halves apart."""
    if exact_sum(amount_fen) < 2**63:
        out = np.zeros(len(names), dtype=np.int64)
        np.add.at(out, index, amount_fen)
        return {names[k]: v for k, v in zip(np.flatnonzero(out).tolist(), out[out != 0].tolist())}
    high, low = np.zeros(len(names), dtype=np.int64), np.zeros(len(names), dtype=np.int64)
    np.add.at(high, index, amount_fen >> 31)
    np.add.at(low, index, amount_fen & (2**31 - 1))
    return {names[k]: h * 2**31 + lo for k, h, lo in zip(range(len(names)), high.tolist(), low.tolist()) if h or lo}


def postings_body(postings: Sequence[LedgerPosting]) -> dict:
    """The stored form of a batch's postings (without plans and time), columns when they are columns."""
    if not isinstance(postings, PostingColumns):
        return {"postings": [p.as_row() for p in postings]}
    columns = {name: getattr(postings, name).tolist() for name in COLUMN_NAMES}
    if postings.sub_microfen is not None:
        columns["sub_microfen"] = postings.sub_microfen.tolist()
    body = {"accounts": list(postings.accounts), "periods": list(postings.periods), "columns": columns,
            "rows": [p.as_row() for p in postings.rows]}
    if postings.carry:
        body["carry"] = sorted(postings.carry)
    return body


def postings_of_body(body: dict) -> list[LedgerPosting]:
    """Every posting of a stored body, in either form."""
    if "columns" not in body:
        return [LedgerPosting.from_row(r) for r in body["postings"]]
    a, p, c = body["accounts"], body["periods"], body["columns"]
    carry = set(body.get("carry", ()))
    made = [LedgerPosting(kind, a[d], a[cr], fen + (i in carry), p[period], p[original])
            for i, (kind, d, cr, fen, period, original) in enumerate(zip(*(c[n] for n in COLUMN_NAMES))) if fen or i in carry]
    return made + [LedgerPosting.from_row(r) for r in body["rows"]]


def account_sums_of_body(body: dict) -> tuple[dict[str, int], dict[str, int], int]:
    """(debits per account, credits per account, postings) of a stored body, in either form."""
    if "columns" not in body:
        debits: dict[str, int] = {}
        credits: dict[str, int] = {}
        rows = [LedgerPosting.from_row(r) for r in body["postings"]]
        count = 0
    else:
        c = body["columns"]
        amount = np.array(c["amount_fen"], dtype=np.int64)
        if body.get("carry"):
            amount[np.array(body["carry"], dtype=np.int64)] += 1
        debits = _sums(body["accounts"], np.array(c["debit"], dtype=np.int64), amount)
        credits = _sums(body["accounts"], np.array(c["credit"], dtype=np.int64), amount)
        rows = [LedgerPosting.from_row(r) for r in body["rows"]]
        count = int(np.count_nonzero(amount))
    for p in rows:
        debits[p.debit_account_id] = debits.get(p.debit_account_id, 0) + p.amount_fen
        credits[p.credit_account_id] = credits.get(p.credit_account_id, 0) + p.amount_fen
    return debits, credits, count + len(rows)
