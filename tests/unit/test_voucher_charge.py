"""Vouchers in a batch's charge: postings per voucher beside the charged lines, balanced, and on the statements."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shuniu.market.billing import charge_batch, prepare_usage
from shuniu.market.ledger.accrual import posted, rounded
from shuniu.market.ledger.lines import read_lines
from shuniu.market.settlement import statement_lines
from shuniu.market.vouchers import HeldVoucher, voucher_used_fen
from shuniu.protos.v1 import ledger_pb2
from test_billing_charge import BOOK, NOV_MS, _batch, _record

NOW_MS = NOV_MS + 86_400_000


def _voucher(vid: str, org: str = "acme", remaining: int = 10**9, classes=(), sites=(), until: int = NOW_MS + 1) -> HeldVoucher:
    return HeldVoucher(vid, org, remaining, NOV_MS, until, frozenset(classes), frozenset(sites), "subsidy:henan-2026")


def _charge(batch: pa.RecordBatch, vouchers, closed=()):
    prepared = prepare_usage("b1", batch, BOOK)
    return charge_batch(prepared, BOOK, [0] * len(prepared.volume_fields), set(closed), "n1", vouchers, NOW_MS)


def _net(posting) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for p in posting.postings:
        out[p.debit_account_id] -= p.amount_fen
        out[p.credit_account_id] += p.amount_fen
    return dict(out)


def _compute_fen(posting, buyer: str) -> int:
    if not posting.lines_ipc:  # nothing charged
        return 0
    lines = read_lines(posting.lines_ipc).to_pydict()
    return sum(f for b, f in zip(lines["buyer_id"], lines["compute_fen"]) if b == buyer)


def test_a_voucher_pays_the_compute_charge_before_the_buyers_own_funds():
    batch = _batch(_record(1), _record(2, product_id="", price_version=0), _record(3, buyer_id="beta"))
    plain = _charge(batch, [])
    compute_fen = _compute_fen(plain, "acme")
    paid = _charge(batch, [_voucher("v-small", remaining=compute_fen // 3), _voucher("v-big", until=NOW_MS + 50)])
    drawn = [p for p in paid.postings if p.kind == ledger_pb2.POSTING_KIND_VOUCHER]
    assert [(p.voucher_id, p.debit_account_id, p.credit_account_id) for p in drawn] == [
        ("v-big", "subsidy:henan-2026", "buyer:acme"), ("v-small", "subsidy:henan-2026", "buyer:acme")]
    assert {p.voucher_id: p.amount_fen for p in drawn} == {"v-small": compute_fen // 3, "v-big": compute_fen - compute_fen // 3}
    assert paid.voucher_fen == compute_fen and paid.charged_fen == plain.charged_fen
    assert paid.voucher_balances == {"v-small": (compute_fen // 3, 0, NOW_MS + 1),
                                     "v-big": (10**9, 10**9 - compute_fen + compute_fen // 3, NOW_MS + 50)}
    net_plain, net_paid = _net(plain), _net(paid)
    assert net_paid["buyer:acme"] == net_plain["buyer:acme"] + compute_fen  # only data is left for acme to pay
    assert net_paid["subsidy:henan-2026"] == -compute_fen
    assert {a: f for a, f in net_paid.items() if not a.startswith(("buyer:", "subsidy:"))} == \
        {a: f for a, f in net_plain.items() if not a.startswith("buyer:")}  # payees get the same either way


def test_ineligible_class_site_or_expired_vouchers_draw_nothing():
    batch = _batch(_record(1), _record(2))
    for voucher in (_voucher("v", classes=[2]), _voucher("v", sites=["luoyang"]), _voucher("v", until=NOW_MS),
                    _voucher("v", org="beta")):
        posting = _charge(batch, [voucher])
        assert (posting.voucher_fen, posting.voucher_balances) == (0, {})
        assert all(p.kind != ledger_pb2.POSTING_KIND_VOUCHER for p in posting.postings)


_records = st.lists(st.fixed_dictionaries({
    "buyer_id": st.sampled_from(["acme", "beta"]), "site": st.sampled_from(["zhengzhou", "luoyang"]),
    "cpu_ms": st.integers(0, 10 * 3_600_000), "product_id": st.sampled_from(["", "traffic"]),
    "end_unix_ms": st.sampled_from([NOV_MS + 1000, NOV_MS + 31 * 86_400_000]),
}), min_size=1, max_size=30)
_held = st.lists(st.builds(_voucher, vid=st.sampled_from(["v1", "v2", "v3"]), org=st.sampled_from(["acme", "beta"]),
                           remaining=st.integers(1, 5_000), classes=st.sampled_from([(), (1,), (2,)]),
                           sites=st.sampled_from([(), ("zhengzhou",), ("luoyang",)])),
                 max_size=3, unique_by=lambda v: v.voucher_id)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_records, _held, st.sets(st.sampled_from(["2026-11"])))
def test_draws_balance_never_overdraw_and_the_statements_show_them(records, vouchers, closed):
    batch = _batch(*(_record(i, price_version=1 if r["product_id"] else 0, start_unix_ms=r["end_unix_ms"] - 1000, **r)
                     for i, r in enumerate(records)))
    posting = _charge(batch, vouchers, closed)  # BatchPosting asserts postings = lines + draws, draws = balance drops
    held = {v.voucher_id: v for v in vouchers}
    for vid, (before, after, _) in posting.voucher_balances.items():
        assert before == held[vid].remaining_fen and 0 <= after < before
    for buyer in ("acme", "beta"):
        drawn = sum(p.amount_fen for p in posting.postings
                    if p.kind == ledger_pb2.POSTING_KIND_VOUCHER and p.credit_account_id == f"buyer:{buyer}")
        assert drawn <= _compute_fen(posting, buyer)
    assert sum(_net(posting).values()) == 0
    accrued: dict = {}
    moved = posted(posting.postings, accrued)  # as the ledger posts them: each pair's fen crossed, then each period's close
    for period in {p.period for p in moved} | {pair[0] for pair in accrued}:
        lines = statement_lines(period, [("b1", moved + rounded(period, accrued), BOOK.plan_specs, posting.lines_ipc)])
        used = sum(p.amount_fen for p in posting.postings if p.kind == ledger_pb2.POSTING_KIND_VOUCHER and p.period == period)
        subsidy = lines.filter(pa.compute.starts_with(lines.column("account_id"), "subsidy:"))
        assert voucher_used_fen(subsidy) == used
        assert int(np.sum(subsidy.column("amount_fen").to_numpy())) == -used
