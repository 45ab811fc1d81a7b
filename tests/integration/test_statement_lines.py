"""Every use on the statement: free lines with the rule that made them free, and sub-fen lines with their milli-fen.

Usage is billed by the real biller into a real Redis and the period closed by the real settlement;
the statement Parquet files are read back as a buyer or an auditor would read them
(docs/billing.md, "Statements").
"""

from __future__ import annotations

import pathlib

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import redis
from conftest import bill_synthetic_usage

from shuniu.bench.billing import seed_market
from shuniu.market.ledger import LedgerStore
from shuniu.market.ledger.lines import read_lines
from shuniu.market.settlement.close import SettlementStore


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def _billed_and_closed(client: redis.Redis, tmp_path: pathlib.Path) -> tuple[SettlementStore, dict]:
    market = seed_market(client)
    made, _ = bill_synthetic_usage(client, market, tmp_path / "spool", 400, prefix="s")
    settlement = SettlementStore(client, tmp_path / "state")
    settlement.close("2026-11")
    return settlement, made


def _statement(settlement: SettlementStore, account: str):
    (found,) = [s for s in settlement.statements("2026-11") if s.account_id == account]
    return pq.read_table(found.parquet_path)


def test_free_public_interest_use_is_a_zero_line_on_the_buyers_statement_with_its_rule(client, tmp_path):
    settlement, made = _billed_and_closed(client, tmp_path)
    ledger = LedgerStore(client)
    lines = [read_lines(ledger.lines(b)) for b in ledger.batch_order() if not b.startswith("rounding:")]
    free = [(buyer, record) for t in lines for buyer, record, is_free in zip(
        t.column("buyer_id").to_pylist(), t.column("record_id").to_pylist(), t.column("free").to_pylist()) if is_free]
    assert free, "the synthetic usage holds public-interest use of public data"
    for buyer in {b for b, _ in free}:
        statement = _statement(settlement, f"buyer:{buyer}")
        by_record = {(r, l.rsplit(":", 1)[1]): (fen, rule) for r, l, fen, rule in zip(*(statement.column(c).to_pylist() for c in (
            "record_id", "line_id", "amount_fen", "free_rule")))}
        for record in (r for b, r in free if b == buyer):
            assert by_record[(record, "d")] == (0, "public_interest")


def test_every_record_billed_in_the_period_is_a_line_on_its_buyers_statement(client, tmp_path):
    settlement, made = _billed_and_closed(client, tmp_path)
    for batch in made.values():
        for buyer in set(batch.column("buyer_id").to_pylist()):
            statement = _statement(settlement, f"buyer:{buyer}")
            shown = set(statement.column("record_id").to_pylist())
            mine = {r for r, b in zip(batch.column("record_id").to_pylist(), batch.column("buyer_id").to_pylist()) if b == buyer}
            assert mine <= shown
            free = statement.filter(pc.not_equal(statement.column("free_rule"), ""))
            assert set(pc.unique(free.column("free_rule")).to_pylist()) <= {"public_interest", "guided_cap", "zero_price"}
            assert (free.column("amount_millifen").to_numpy() == 0).all() and (free.column("amount_fen").to_numpy() == 0).all()


def test_statement_lines_keep_their_exact_amounts_and_add_up_to_the_ledger_in_fen(client, tmp_path):
    settlement, _ = _billed_and_closed(client, tmp_path)
    balances = {a.account_id: a.balance_fen for a in LedgerStore(client).accounts()}
    rests = 0
    for s in settlement.statements("2026-11"):
        table = pq.read_table(s.parquet_path)
        assert s.closing_balance_fen == balances.get(s.account_id, 0)
        assert int(pc.sum(table.column("amount_fen")).as_py() or 0) == balances.get(s.account_id, 0)
        rest = table.column("amount_rest_microfen").to_numpy()
        assert (abs(rest) < 1000).all() and ((rest == 0) | (np.sign(rest) == np.sign(table.column("amount_millifen").to_numpy()))).all()
        rests += int((rest != 0).sum())
        microfen = int(pc.sum(table.column("amount_millifen")).as_py() or 0) * 1000 + int(rest.sum())
        # An account is several pairs, each rounded once: it lies within half a fen per pair of its exact micro-fen.
        pairs = len(set(zip(table.column("counterparty").to_pylist(), table.column("kind").to_pylist())))
        assert abs(microfen - 10**6 * s.closing_balance_fen) <= 500_000 * pairs
    assert rests, "compute lines keep micro-fen below their milli-fen on the statements"
    first = {p.name: p.read_bytes() for p in (tmp_path / "state" / "settlement" / "2026-11").iterdir()}
    settlement.close("2026-11")  # a re-run rebuilds the same files byte for byte
    assert {p.name: p.read_bytes() for p in (tmp_path / "state" / "settlement" / "2026-11").iterdir()} == first
