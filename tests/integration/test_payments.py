"""Payments (收付款) through LedgerService: one posting against the bank, idempotent, on the statements, and what
settles a bill for the unpaid-balance rule of credit records."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
import redis
import redis.asyncio as aioredis

from conftest import stored_state
from test_settlement import _bill
from shuniu.bench.billing import seed_market
from shuniu.market.credit import CreditStore
from shuniu.market.credit.unpaid import sweep_unpaid
from shuniu.market.ledger import LedgerStore, month_name, parse_period, period_of_ms
from shuniu.market.ledger.payments import BANK_ACCOUNT
from shuniu.nodes.usage import UsageSpool
from shuniu.protos.v1 import credit_pb2, ledger_pb2, settlement_pb2

DAY_MS = 86_400_000


@pytest.fixture
def billed(redis_url, tmp_path, monkeypatch, control_plane_factory):
    """A control plane over a ledger with November usage of several buyers."""
    monkeypatch.setenv("SHUNIU_STATE_DIR", str(tmp_path / "state"))
    client = redis.Redis.from_url(redis_url)
    market = seed_market(client)
    _bill(client, UsageSpool(tmp_path / "spool", market.nodes[0]), market, range(2))
    plane = control_plane_factory()
    with plane.client() as api:
        yield api, client, redis_url
    client.close()


def _debts(client: redis.Redis) -> dict[str, int]:
    return {a.account_id: -a.balance_fen for a in LedgerStore(client).accounts()
            if a.kind == ledger_pb2.ACCOUNT_KIND_BUYER and a.balance_fen < 0}


def _pay(api, account: str, amount_fen: int, request_id: str, reference: str = "") -> ledger_pb2.RecordPaymentResponse:
    return api.ledger.RecordPayment(ledger_pb2.RecordPaymentRequest(
        request_id=request_id, account_id=account, amount_fen=amount_fen, reference=reference), timeout=30)


def test_a_payment_is_one_posting_against_the_bank_and_a_retry_pays_once(billed):
    api, client, _ = billed
    (buyer, debt), *_ = sorted(_debts(client).items())
    paid = _pay(api, buyer, debt, "pay-1", "bank ref 0042")
    posting = paid.posting
    assert (posting.kind, posting.debit_account_id, posting.credit_account_id, posting.amount_fen) == (
        ledger_pb2.POSTING_KIND_PAYMENT, BANK_ACCOUNT, buyer, debt)
    assert posting.period == period_of_ms(int(time.time() * 1000))
    assert paid.account.balance_fen == 0
    again = _pay(api, buyer, debt, "pay-1", "bank ref 0042")
    assert again.posting == posting and again.account.balance_fen == 0
    refund = _pay(api, buyer, -100, "refund-1")
    assert (refund.posting.debit_account_id, refund.posting.credit_account_id, refund.account.balance_fen) == (
        buyer, BANK_ACCOUNT, -100)
    check = api.ledger.CheckLedger(ledger_pb2.CheckLedgerRequest(), timeout=60)
    assert check.ok and check.total_debits_fen == check.total_credits_fen


@pytest.mark.parametrize("account, amount_fen, request_id, reference, code, says", [
    ("buyer:b", 0, "r", "", grpc.StatusCode.INVALID_ARGUMENT, "non-zero"),
    ("buyer:b", 2**53, "r", "", grpc.StatusCode.INVALID_ARGUMENT, "below 2^53"),
    ("wallet:b", 10, "r", "", grpc.StatusCode.INVALID_ARGUMENT, "kinds:"),
    (BANK_ACCOUNT, 10, "r", "", grpc.StatusCode.INVALID_ARGUMENT, "outside world"),
    ("buyer:b", 10, "r", "x" * 201, grpc.StatusCode.INVALID_ARGUMENT, "at most 200"),
    ("buyer:b", 10, "", "", grpc.StatusCode.INVALID_ARGUMENT, "request_id"),
    ("buyer:b", 11, "pay-1", "", grpc.StatusCode.FAILED_PRECONDITION, "already recorded a payment of 10 fen"),
], ids=["zero", "too-large", "unknown-kind", "the-bank-itself", "long-reference", "no-request-id", "reused-request-id"])
def test_a_bad_payment_is_refused_naming_the_field_and_stores_nothing(billed, account, amount_fen, request_id, reference,
                                                                     code, says):
    api, _, redis_url = billed
    _pay(api, "buyer:b", 10, "pay-1")
    before = stored_state(redis_url, events=False)
    with pytest.raises(grpc.RpcError) as refused:
        _pay(api, account, amount_fen, request_id, reference)
    assert refused.value.code() == code and says in refused.value.details()
    assert stored_state(redis_url, events=False) == before


def test_payments_show_on_the_statements_and_settle_the_bill_for_credit(billed):
    api, client, redis_url = billed
    # Close every period up to the payment's, in order; each closed period's buyer statements are bills. A bill
    # is final once its period closed (amounts below a fen are rounded then): the payer pays it after.
    now_ms = int(time.time() * 1000)
    periods = [month_name(i) for i in range(parse_period("2026-11"), parse_period(period_of_ms(now_ms)) + 1)]
    statements = {}

    def close(period: str) -> None:
        closed = api.settlement.ClosePeriod(settlement_pb2.ClosePeriodRequest(request_id=f"close-{period}", period=period),
                                            timeout=120)
        statements.update({(period, s.account_id): s for s in closed.statements})

    for period in periods[:-1]:
        close(period)
    debts = _debts(client)
    assert len(debts) >= 2
    payer, unpaid = sorted(debts)[:2]
    _pay(api, payer, debts[payer], "pay-payer")
    close(periods[-1])
    paid_in = statements[(periods[-1], payer)]
    assert paid_in.revenue_fen >= debts[payer]  # payments are money into the account
    assert statements[(periods[-1], BANK_ACCOUNT)].charges_fen >= debts[payer]
    assert statements[("2026-11", payer)].charges_fen > 0

    async def sweep(at_ms: int) -> int:
        async with aioredis.from_url(redis_url) as aio:
            return await sweep_unpaid(aio, at_ms)

    later = now_ms + 40 * DAY_MS
    assert asyncio.run(sweep(later)) >= 1
    assert asyncio.run(sweep(later)) == 0, "one event per unpaid bill"

    async def events(org: str):
        async with aioredis.from_url(redis_url) as aio:
            return await CreditStore(aio).events(org)

    assert asyncio.run(events(payer.split(":", 1)[1])) == []
    assert [e.kind for e in asyncio.run(events(unpaid.split(":", 1)[1]))] == [credit_pb2.CREDIT_EVENT_KIND_UNPAID_BALANCE]
