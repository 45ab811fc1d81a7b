"""A batch's voucher draws as ledger postings, from its compute lines summed per group. Pure.

The biller's `charge_batch` hands over its compute lines as arrays; they are summed per
(buyer, usage period, compute class, site) with numpy — no Python loop per record — and
only the few groups of buyers that hold vouchers reach the draw. Each voucher's draw becomes
one posting per usage period: the subsidy account behind the voucher pays the buyer
(POSTING_KIND_VOUCHER, debit subsidy, credit buyer), next to the buyer's own compute
postings, in the same atomic write as the rest of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from shuniu.market.ledger.model import LedgerPosting, account_id
from shuniu.market.vouchers.draw import ChargeGroup, HeldVoucher, draw_vouchers
from shuniu.protos.v1 import ledger_pb2

__all__ = ["NO_DRAWS", "BatchDraws", "draw_batch"]

_CLASSES = 4  # ComputeClass values 0..3


@dataclass(frozen=True)
class BatchDraws:
    """The voucher postings of one batch and each drawn voucher's (remaining before, after, valid until ms)."""

    postings: tuple[LedgerPosting, ...] = ()
    drawn_fen: int = 0
    balances: dict[str, tuple[int, int, int]] = field(default_factory=dict)


NO_DRAWS = BatchDraws()


def draw_batch(buyer_code: np.ndarray, month_code: np.ndarray, compute_class: np.ndarray, site: pa.Array,
               compute_fen: np.ndarray, buyer_names: Sequence[str], usage_names: Sequence[str],
               billed_names: Sequence[str], vouchers: Sequence[HeldVoucher], now_ms: int) -> BatchDraws:
    """Draw the vouchers of the batch's buyers on its compute charges (every array has one entry per record)."""
    holders = {v.org_id for v in vouchers}
    holder_codes = [i for i, name in enumerate(buyer_names) if name in holders]
    if not holder_codes:
        return NO_DRAWS
    lines = np.flatnonzero((compute_fen > 0) & np.isin(buyer_code, holder_codes))
    if not lines.size:
        return NO_DRAWS
    sites = pc.dictionary_encode(site.take(pa.array(lines)))
    site_code = sites.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    site_names = sites.dictionary.to_pylist()
    n_months, n_sites = len(usage_names), len(site_names)
    key = ((buyer_code[lines] * n_months + month_code[lines]) * _CLASSES + compute_class[lines].astype(np.int64)) * n_sites + site_code
    keys, inverse = np.unique(key, return_inverse=True)
    # Float sums are exact: charge_batch has checked that the whole batch is below 2^53 fen.
    sums = np.bincount(inverse, weights=compute_fen[lines].astype(np.float64), minlength=len(keys)).astype(np.int64)
    rest, site_of = np.divmod(keys, n_sites)
    rest, class_of = np.divmod(rest, _CLASSES)
    buyer_of, month_of = np.divmod(rest, n_months)
    groups = [ChargeGroup(buyer_names[b], c, site_names[s], fen)
              for b, c, s, fen in zip(buyer_of.tolist(), class_of.tolist(), site_of.tolist(), sums.tolist())]
    result = draw_vouchers(groups, vouchers, now_ms)
    if not result.draws:
        return NO_DRAWS
    held = {v.voucher_id: v for v in vouchers}
    per_posting: dict[tuple[str, int], int] = {}
    for d in result.draws:
        slot = (d.voucher_id, int(month_of[d.group]))
        per_posting[slot] = per_posting.get(slot, 0) + d.amount_fen
    postings = tuple(
        LedgerPosting(kind=ledger_pb2.POSTING_KIND_VOUCHER, debit_account_id=held[vid].subsidy_account,
                      credit_account_id=account_id("buyer", held[vid].org_id), amount_fen=fen, period=billed_names[m],
                      original_period=usage_names[m] if usage_names[m] != billed_names[m] else "", voucher_id=vid)
        for (vid, m), fen in sorted(per_posting.items()))
    balances = {vid: (held[vid].remaining_fen, after, held[vid].valid_until_unix_ms)
                for vid, after in sorted(result.remaining_fen.items())}
    return BatchDraws(postings, result.drawn_fen, balances)
