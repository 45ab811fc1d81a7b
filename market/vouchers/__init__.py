"""Compute vouchers (算力券): issued to organisations, drawn by their compute charges before their own funds."""

from shuniu.market.vouchers.apply import BatchDraws, draw_batch
from shuniu.market.vouchers.draw import (
    ChargeGroup,
    Draw,
    DrawResult,
    HeldVoucher,
    draw_order,
    draw_vouchers,
)
from shuniu.market.vouchers.model import (
    cap_refusal,
    held,
    outstanding_fen,
    shown,
    state_of,
    subsidy_account,
)
from shuniu.market.vouchers.statement import (
    voucher_used_fen,
)
from shuniu.market.vouchers.store import VOUCHER_EVENTS_KEY, held_vouchers

__all__ = [
    "VOUCHER_EVENTS_KEY",
    "BatchDraws",
    "ChargeGroup",
    "Draw",
    "DrawResult",
    "HeldVoucher",
    "cap_refusal",
    "draw_batch",
    "draw_order",
    "draw_vouchers",
    "held",
    "held_vouchers",
    "outstanding_fen",
    "shown",
    "state_of",
    "subsidy_account",
    "voucher_used_fen",
]
