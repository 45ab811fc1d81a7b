"""The accrual rule of amounts below a fen, held against a real Redis by an independent reference.

Any sequence of batches of exact micro-fen lines between buyers and payees is posted by the real
posting script and closed by the real closing script; a reference written here in Python integers
(sharing no code with the ledger) says what each account must hold: while a period is open, each
(payer, payee) pair the whole fen of its micro-fen; once closed, its total rounded once, half up.
After every posting, debits equal credits, each pair's posted fen and its counter add up to exactly
its micro-fen, and the ledger's own check passes (docs/billing.md, "Amounts below a fen").
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shuniu.market.ledger import BatchPosting, LedgerStore, PostingColumns
from shuniu.protos.v1 import ledger_pb2

BUYERS = ("buyer:acme", "buyer:beta")
PAYEES = (("compute_center:cc-1", ledger_pb2.POSTING_KIND_COMPUTE), ("exchange:exchange", ledger_pb2.POSTING_KIND_EXCHANGE_FEE),
          ("holder:h-bus", ledger_pb2.POSTING_KIND_DATA))
PERIODS = ("2026-11", "2026-12")

# A line: (buyer, payee, period, micro-fen) drawn across sub-milli-fen, sub-fen and large amounts alike (up to the
# largest a rated line can be: 2^62 milli-fen).
_line = st.tuples(st.integers(0, len(BUYERS) - 1), st.integers(0, len(PAYEES) - 1), st.integers(0, len(PERIODS) - 1),
                  st.one_of(st.integers(1, 999), st.integers(1, 999_999), st.integers(1, 10**9), st.integers(1, 2**62 * 1000)))
_batches = st.lists(st.lists(_line, min_size=1, max_size=12), min_size=1, max_size=8)


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def _batch(batch_id: str, lines: list[tuple[int, int, int, int]]) -> BatchPosting:
    """One posting per (buyer, payee, period) of the lines: their micro-fen as whole fen and the rest, as the biller sends them
    (a posting of 2^53 fen or more in pieces below it, the rest on the first)."""
    sums: dict[tuple[int, int, int], int] = defaultdict(int)
    for buyer, payee, period, millifen in lines:
        sums[(buyer, payee, period)] += millifen
    keys = sorted(sums)
    accounts = (*BUYERS, *(name for name, _ in PAYEES))
    column = lambda values: np.array(values, dtype=np.int64)  # noqa: E731
    pieces = []  # (key, fen, micro-fen)
    for k in keys:
        fen, micro = divmod(sums[k], 10**6)
        while fen >= 2**53:
            pieces.append((k, 2**52, micro))
            fen, micro = fen - 2**52, 0
        pieces.append((k, fen, micro))
    postings = PostingColumns(
        accounts=accounts, periods=PERIODS, kind=column([PAYEES[p][1] for (_, p, _), _, _ in pieces]),
        debit=column([b for (b, _, _), _, _ in pieces]), credit=column([len(BUYERS) + p for (_, p, _), _, _ in pieces]),
        amount_fen=column([f for _, f, _ in pieces]), period=column([t for (_, _, t), _, _ in pieces]),
        original_period=column([0] * len(pieces)), sub_microfen=column([m for _, _, m in pieces]))
    return BatchPosting(batch_id, postings, charged_fen=sum(sums[k] // 10**6 for k in keys), record_count=len(lines))


def _posted_per_pair(ledger: LedgerStore) -> dict[tuple[str, str, str], int]:
    out: dict[tuple[str, str, str], int] = defaultdict(int)
    for _, p, _ in ledger.iter_postings():
        out[(p.debit_account_id, p.credit_account_id, p.period)] += p.amount_fen
    return dict(out)


def _balances(pair_fen: dict[tuple[str, str, str], int]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for (payer, payee, _), fen in pair_fen.items():
        out[payer] -= fen
        out[payee] += fen
    return {a: f for a, f in out.items() if f}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(_batches)
def test_accrued_amounts_post_the_whole_fen_crossed_and_round_once_at_close(client, batches):
    client.flushall()
    ledger = LedgerStore(client)
    exact: dict[tuple[str, str, str], int] = defaultdict(int)  # the reference: each pair's micro-fen
    for n, lines in enumerate(batches):
        assert ledger.post(_batch(f"b{n}", lines)).status == "posted"
        for buyer, payee, period, microfen in lines:
            exact[(BUYERS[buyer], PAYEES[payee][0], PERIODS[period])] += microfen
        totals = {k.decode(): int(v) for k, v in client.hgetall("shuniu:ledger:totals").items()}
        assert totals["debits_fen"] == totals["credits_fen"]
        posted = _posted_per_pair(ledger)
        for (payer, payee, period), microfen in exact.items():
            kind = dict(PAYEES)[payee]
            counter = int(client.hget(f"shuniu:ledger:accrual:{period}", f"{kind}|{payer}|{payee}") or 0)
            # Nothing lost, nothing made: the fen posted and the counter are the pair's micro-fen exactly.
            assert (posted.get((payer, payee, period), 0), counter) == divmod(microfen, 10**6)
        assert {a.account_id: a.balance_fen for a in ledger.accounts() if a.balance_fen} == _balances(
            {pair: m // 10**6 for pair, m in exact.items()})
        assert ledger.check().ok

    for k, period in enumerate(PERIODS):
        ledger.close_period(period)
        due = {pair: (m + 500_000) // 10**6 if pair[2] in PERIODS[:k + 1] else m // 10**6 for pair, m in exact.items()}
        assert _posted_per_pair(ledger) == {pair: f for pair, f in due.items() if f}
        assert {a.account_id: a.balance_fen for a in ledger.accounts() if a.balance_fen} == _balances(due)
        assert not client.exists(f"shuniu:ledger:accrual:{period}")
        check = ledger.check()
        assert check.ok and check.total_debits_fen == check.total_credits_fen


def test_a_batch_that_would_take_the_ledger_past_int64_fen_is_refused_and_changes_nothing(client):
    """Redis counters hold at most 2^63-1 and a script is not rolled back when a command fails: the posting script
    refuses such a batch before writing anything (the totals bound every account's debits and credits)."""
    client.flushall()
    ledger = LedgerStore(client)
    assert ledger.post(_batch("b0", [(0, 0, 0, 2**62 * 10**6 + 999_999)])).status == "posted"  # 2^62 fen: 1,024 pieces
    before = {k: client.hgetall(k) for k in (b"shuniu:ledger:totals", b"shuniu:ledger:debits", b"shuniu:ledger:credits",
                                             b"shuniu:ledger:batches", b"shuniu:ledger:accrual:2026-11")}
    with pytest.raises(redis.ResponseError, match=r"ledger full: debits_fen 4611686018427387904 plus this batch's 4611686018427387904"):
        ledger.post(_batch("b1", [(1, 1, 0, 2**62 * 10**6)]))
    assert {k: client.hgetall(k) for k in before} == before and ledger.check().ok
    assert ledger.post(_batch("b2", [(1, 1, 0, (2**62 - 2) * 10**6)])).status == "posted"  # up to 2^63 - 1 fen, with the carry
    check = ledger.check()
    assert check.ok and check.total_debits_fen == check.total_credits_fen == 2**63 - 2
