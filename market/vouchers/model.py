"""Voucher records and their rules: state, subsidy account, outstanding amount, the cap. Pure.

A voucher's standing follows from its record, its remaining amount and the clock: nothing
left is EXHAUSTED, past `valid_until_unix_ms` with something left is LAPSED (the rest is
never drawn), else ACTIVE. An organisation's outstanding amount is what its unexpired
vouchers have left; issuing may not take it above the organisation's cap.
"""

from __future__ import annotations

from collections.abc import Iterable

from shuniu.market.ledger.model import account_id
from shuniu.market.vouchers.draw import HeldVoucher
from shuniu.protos.v1 import ledger_pb2

__all__ = ["DEFAULT_PROGRAMME", "cap_refusal", "held", "outstanding_fen", "shown", "state_of", "subsidy_account"]

DEFAULT_PROGRAMME = "exchange"  # vouchers issued without a programme are the exchange's own subsidy


def subsidy_account(programme: str) -> str:
    """The subsidy account behind a programme's vouchers, e.g. "subsidy:exchange"."""
    return account_id("subsidy", programme or DEFAULT_PROGRAMME)


def state_of(voucher: ledger_pb2.Voucher, remaining_fen: int, now_ms: int) -> int:
    if remaining_fen <= 0:
        return ledger_pb2.VOUCHER_STATE_EXHAUSTED
    if now_ms >= voucher.spec.valid_until_unix_ms:
        return ledger_pb2.VOUCHER_STATE_LAPSED
    return ledger_pb2.VOUCHER_STATE_ACTIVE


def shown(voucher: ledger_pb2.Voucher, remaining_fen: int, now_ms: int) -> ledger_pb2.Voucher:
    """The stored record with its state, used and remaining amounts as of `now_ms`."""
    out = ledger_pb2.Voucher()
    out.CopyFrom(voucher)
    out.remaining_fen = remaining_fen
    out.used_fen = voucher.spec.amount_fen - remaining_fen
    out.state = state_of(voucher, remaining_fen, now_ms)
    return out


def held(voucher: ledger_pb2.Voucher, remaining_fen: int) -> HeldVoucher:
    """What the draw needs of a voucher."""
    spec = voucher.spec
    return HeldVoucher(voucher.voucher_id, spec.org_id, remaining_fen, spec.valid_from_unix_ms, spec.valid_until_unix_ms,
                       frozenset(spec.eligible_compute_classes), frozenset(spec.eligible_sites),
                       subsidy_account(spec.programme))


def outstanding_fen(vouchers: Iterable[tuple[ledger_pb2.Voucher, int]], now_ms: int) -> int:
    """What the unexpired vouchers among (record, remaining fen) pairs have left."""
    return sum(left for v, left in vouchers if left > 0 and now_ms < v.spec.valid_until_unix_ms)


def cap_refusal(org_id: str, cap_fen: int | None, outstanding: int, amount_fen: int) -> str | None:
    """Why issuing `amount_fen` more to `org_id` is refused, or None when it fits the cap."""
    if cap_fen is None:
        return (f"org {org_id!r} has no voucher cap; set one first (SetVoucherCap, `shuniu vouchers cap "
                f"--org {org_id} --cap-fen N`)")
    if outstanding + amount_fen > cap_fen:
        return (f"voucher cap exceeded for org {org_id!r}: cap {cap_fen} fen, outstanding {outstanding} fen, "
                f"asked {amount_fen} fen; at most {max(cap_fen - outstanding, 0)} fen can be issued now")
    return None
