"""Drawing compute vouchers (算力券): which vouchers pay how much of each compute charge. Pure.

The biller sums a batch's compute charges into groups — one per buyer, compute class, site
and usage period — and never hands a record to this module, so a draw costs the same for a
batch of ten records as for one of twenty thousand. For each group, in the order given, the
buyer's vouchers that cover the group's class and site and are valid at the time of billing
pay first, oldest expiry first (ties by voucher id), each at most what it has left; whatever
they leave is the buyer's own part. Expiry is judged at billing time: a voucher pays nothing
once `valid_until_unix_ms` has passed (the unspent rest lapses), nor before `valid_from_unix_ms`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["ChargeGroup", "Draw", "DrawResult", "HeldVoucher", "draw_order", "draw_vouchers"]


@dataclass(frozen=True)
class HeldVoucher:
    """A voucher as the draw sees it: who holds it, what it has left, when and where it pays."""

    voucher_id: str
    org_id: str
    remaining_fen: int
    valid_from_unix_ms: int
    valid_until_unix_ms: int
    classes: frozenset[int] = frozenset()  # empty: every compute class
    sites: frozenset[str] = frozenset()  # empty: every site
    subsidy_account: str = "subsidy:exchange"

    def __post_init__(self) -> None:
        assert self.remaining_fen >= 0, f"voucher {self.voucher_id}: remaining {self.remaining_fen} fen is negative"

    def valid_at(self, now_ms: int) -> bool:
        return self.valid_from_unix_ms <= now_ms < self.valid_until_unix_ms

    def covers(self, compute_class: int, site: str) -> bool:
        return (not self.classes or compute_class in self.classes) and (not self.sites or site in self.sites)


@dataclass(frozen=True)
class ChargeGroup:
    """A buyer's compute charges of one batch that share class, site and usage period."""

    buyer_id: str
    compute_class: int
    site: str
    amount_fen: int


@dataclass(frozen=True)
class Draw:
    """`amount_fen` (> 0) of group `group` paid by voucher `voucher_id`."""

    group: int
    voucher_id: str
    amount_fen: int


@dataclass(frozen=True)
class DrawResult:
    draws: tuple[Draw, ...]
    own_fen: tuple[int, ...]  # per group: the part the buyer pays itself
    remaining_fen: dict[str, int]  # per voucher that paid anything: what it has left afterwards

    @property
    def drawn_fen(self) -> int:
        return sum(d.amount_fen for d in self.draws)


def draw_order(vouchers: Iterable[HeldVoucher]) -> list[HeldVoucher]:
    """Oldest expiry first; ties by voucher id, so that every biller draws in the same order."""
    return sorted(vouchers, key=lambda v: (v.valid_until_unix_ms, v.voucher_id))


def draw_vouchers(groups: Sequence[ChargeGroup], vouchers: Iterable[HeldVoucher], now_ms: int) -> DrawResult:
    """Split each group's amount into voucher draws and the buyer's own part."""
    by_buyer: dict[str, list[HeldVoucher]] = {}
    for v in draw_order(vouchers):
        if v.valid_at(now_ms) and v.remaining_fen > 0:
            by_buyer.setdefault(v.org_id, []).append(v)
    left = {v.voucher_id: v.remaining_fen for held in by_buyer.values() for v in held}
    draws: list[Draw] = []
    own: list[int] = []
    for index, group in enumerate(groups):
        assert group.amount_fen >= 0, f"charge group {index}: amount {group.amount_fen} fen is negative"
        due = group.amount_fen
        for v in by_buyer.get(group.buyer_id, ()):
            if not due:
                break
            take = min(due, left[v.voucher_id])
            if take and v.covers(group.compute_class, group.site):
                draws.append(Draw(index, v.voucher_id, take))
                left[v.voucher_id] -= take
                due -= take
        own.append(due)
    drawn = {d.voucher_id for d in draws}
    return DrawResult(tuple(draws), tuple(own), {vid: fen for vid, fen in left.items() if vid in drawn})
