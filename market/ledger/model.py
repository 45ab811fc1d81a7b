"""Ledger values: account ids, postings and a batch's atomic posting set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shuniu.market.ledger.lines import PendingLines
from shuniu.protos.v1 import ledger_pb2

__all__ = ["ACCOUNT_KINDS", "MAX_AMOUNT_FEN", "POSTING_KIND_OF_PARTY", "BatchPosting", "LedgerPosting", "account_id", "account_kind", "split_account_id"]

# Account id prefix ("<kind>:<owner_id>") per AccountKind; the prefixes are the split's party types.
ACCOUNT_KINDS = {
    "buyer": ledger_pb2.ACCOUNT_KIND_BUYER,
    "holder": ledger_pb2.ACCOUNT_KIND_HOLDER,
    "compute_center": ledger_pb2.ACCOUNT_KIND_COMPUTE_CENTER,
    "exchange": ledger_pb2.ACCOUNT_KIND_EXCHANGE,
    "feedback_fund": ledger_pb2.ACCOUNT_KIND_FEEDBACK_FUND,
    "subsidy": ledger_pb2.ACCOUNT_KIND_SUBSIDY,
    "external": ledger_pb2.ACCOUNT_KIND_EXTERNAL,
}
_PREFIX_OF_KIND = {kind: prefix for prefix, kind in ACCOUNT_KINDS.items()}
# What a credit to each party of a revenue split is for.
POSTING_KIND_OF_PARTY = {
    "holder": ledger_pb2.POSTING_KIND_DATA,
    "feedback_fund": ledger_pb2.POSTING_KIND_FEEDBACK,
    "exchange": ledger_pb2.POSTING_KIND_EXCHANGE_FEE,
    "compute_center": ledger_pb2.POSTING_KIND_COMPUTE,
}
MAX_AMOUNT_FEN = 2**53  # the posting script sums in Lua numbers (doubles): exact below 2^53


def account_id(kind: str | int, owner_id: str) -> str:
    """"<kind>:<owner_id>", e.g. account_id("buyer", "acme") == "buyer:acme"."""
    prefix = kind if isinstance(kind, str) else _PREFIX_OF_KIND.get(kind)
    if prefix not in ACCOUNT_KINDS:
        raise ValueError(f"account kind {kind!r} unknown; expected one of {', '.join(ACCOUNT_KINDS)}")
    if not owner_id:
        raise ValueError("an account needs a non-empty owner id")
    return f"{prefix}:{owner_id}"


def split_account_id(account: str) -> tuple[int, str]:
    """(AccountKind, owner id) of an account id; ValueError if the prefix is unknown."""
    prefix, _, owner = account.partition(":")
    if prefix not in ACCOUNT_KINDS or not owner:
        raise ValueError(f"account id {account!r} is not <kind>:<owner>; kinds: {', '.join(ACCOUNT_KINDS)}")
    return ACCOUNT_KINDS[prefix], owner


def account_kind(account: str) -> int:
    return split_account_id(account)[0]


@dataclass(frozen=True)
class LedgerPosting:
    """amount_fen (> 0) moves from the debit account to the credit account, billed in `period`."""

    kind: int  # ledger_pb2.PostingKind
    debit_account_id: str
    credit_account_id: str
    amount_fen: int
    period: str
    original_period: str = ""  # usage period when it differs (late usage)
    product_id: str = ""
    price_version: int = 0
    voucher_id: str = ""  # the compute voucher (算力券) a POSTING_KIND_VOUCHER posting draws on

    def as_row(self) -> list:
        row = [self.kind, self.debit_account_id, self.credit_account_id, self.amount_fen, self.period,
               self.original_period, self.product_id, self.price_version]
        return [*row, self.voucher_id] if self.voucher_id else row  # rows without a voucher stay as they were

    @classmethod
    def from_row(cls, row: list) -> "LedgerPosting":
        return cls(*row)


@dataclass(frozen=True)
class BatchPosting:
    """Everything one usage batch writes to the ledger, in one atomic step."""

    batch_id: str
    postings: Sequence[LedgerPosting]  # a tuple, or PostingColumns (columns.py) from the biller
    charged_fen: int  # Σ of the batch's rated lines; the postings must add up to it exactly
    record_count: int
    # "product|buyer|period" -> (cumulative units the rating started from, units after)
    volume: dict[str, tuple[int, int]] = field(default_factory=dict)
    lines_ipc: bytes | PendingLines = b""  # rated lines (Arrow IPC) for statements, or columns serialised when posted
    plans: dict = field(default_factory=dict)  # the split plans used, to re-split lines in statements
    node_id: str = ""
    # Compute vouchers drawn (subsidy -> buyer postings, on top of the charged lines) and, per voucher,
    # (remaining fen before, after, valid until unix ms): the posting script checks and writes them.
    voucher_fen: int = 0
    voucher_balances: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    reference: str = ""  # a payment's bank reference, kept in the batch's summary

    def __post_init__(self) -> None:
        if hasattr(self.postings, "checked_total"):  # PostingColumns check their amounts and sides as arrays
            total = self.postings.checked_total(self.batch_id)
        else:
            total = 0
            for p in self.postings:
                assert 0 < p.amount_fen < MAX_AMOUNT_FEN, f"posting amount {p.amount_fen} fen outside 1..2^53-1"
                assert p.debit_account_id != p.credit_account_id, f"posting from {p.debit_account_id} to itself"
                total += p.amount_fen
        assert total == self.posted_fen, (f"batch {self.batch_id}: postings add to {total} fen, lines to "
                                          f"{self.charged_fen} and vouchers to {self.voucher_fen}")
        drawn = sum(before - after for before, after, _ in self.voucher_balances.values())
        assert all(0 <= after < before for before, after, _ in self.voucher_balances.values()), \
            f"batch {self.batch_id}: a voucher would go negative or draw nothing: {self.voucher_balances}"
        assert drawn == self.voucher_fen, f"batch {self.batch_id}: vouchers drop by {drawn} fen, draws add to {self.voucher_fen}"

    @property
    def posted_fen(self) -> int:
        """Σ of the batch's postings: the charged lines plus what vouchers paid the buyers."""
        return self.charged_fen + self.voucher_fen

    def account_totals(self) -> tuple[dict[str, int], dict[str, int]]:
        """(debits, credits) per account over the batch's postings, in account order."""
        totals = self.__dict__.get("_account_totals")
        if totals is None and hasattr(self.postings, "account_totals"):
            totals = self.postings.account_totals()
            object.__setattr__(self, "_account_totals", totals)
        if totals is None:  # summed once: the posting script and the biller's metrics both ask
            debits: dict[str, int] = {}
            credits: dict[str, int] = {}
            for p in self.postings:
                debits[p.debit_account_id] = debits.get(p.debit_account_id, 0) + p.amount_fen
                credits[p.credit_account_id] = credits.get(p.credit_account_id, 0) + p.amount_fen
            totals = (dict(sorted(debits.items())), dict(sorted(credits.items())))
            object.__setattr__(self, "_account_totals", totals)
        return dict(totals[0]), dict(totals[1])

    @property
    def periods(self) -> list[str]:
        if hasattr(self.postings, "period_names"):
            return sorted(self.postings.period_names())
        return sorted({p.period for p in self.postings})
