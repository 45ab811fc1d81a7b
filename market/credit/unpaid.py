"""Unpaid balances (欠费) as credit events: which buyer bills are past due and not covered by payments.

Rule: a buyer's statement of a closed period is a bill of its `charges_fen`, due
`unpaid_due_days` after the period closed. Money into the buyer's account (its ledger credits:
payments, vouchers, refunds) pays its bills oldest first. A bill still not covered once due is an
unpaid balance: one UNPAID_BALANCE event per statement (its id is the cause), recorded by the
sweep that runs in the control plane (`sweep_unpaid`), never twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import redis.asyncio as aioredis
from shuniu.market.credit.score import (
    DAY_MS,
    DEFAULT_POLICY,
    UNPAID_BALANCE,
    CreditPolicy,
)
from shuniu.market.credit.store import queue_event, system_event
from shuniu.market.ledger import ledger_key
from shuniu.market.settlement.close import settlement_key
from shuniu.protos.v1 import ledger_pb2, settlement_pb2


@dataclass(frozen=True)
class Bill:
    """A buyer statement as a bill: what it charged and when its period closed."""

    statement_id: str
    period: str
    account_id: str
    owner_id: str
    charges_fen: int
    closed_unix_ms: int


def unpaid_bills(bills: Iterable[Bill], paid_fen: int, now_ms: int, due_days: int) -> list[Bill]:
    """The bills of one account that are due at `now_ms` and not covered by `paid_fen`, paid oldest first."""
    left_fen = paid_fen
    unpaid = []
    for bill in sorted(bills, key=lambda b: b.period):
        left_fen -= bill.charges_fen
        if left_fen < 0 and now_ms >= bill.closed_unix_ms + due_days * DAY_MS:
            unpaid.append(bill)
    return unpaid


def unpaid_note(bill: Bill, due_days: int) -> str:
    return (f"statement {bill.statement_id} charged {bill.charges_fen} fen; not paid within {due_days} days "
            f"after period {bill.period} closed")


async def buyer_bills(client: aioredis.Redis) -> dict[str, list[Bill]]:
    """Every buyer statement of every closed period, by account."""
    periods = sorted(p.decode() for p in await client.smembers(settlement_key("periods")))
    async with client.pipeline(transaction=False) as pipe:
        for period in periods:
            pipe.get(settlement_key(f"period:{period}"))
            pipe.hgetall(settlement_key(f"statements:{period}"))
        replies = await pipe.execute()
    bills: dict[str, list[Bill]] = {}
    for raw_period, statements in zip(replies[::2], replies[1::2]):
        if raw_period is None:
            continue
        closed_ms = settlement_pb2.Period.FromString(raw_period).closed_unix_ms
        for raw in statements.values():
            s = settlement_pb2.Statement.FromString(raw)
            if s.account_kind == ledger_pb2.ACCOUNT_KIND_BUYER and s.charges_fen > 0:
                bills.setdefault(s.account_id, []).append(
                    Bill(s.statement_id, s.period, s.account_id, s.owner_id, s.charges_fen, closed_ms))
    return bills


async def sweep_unpaid(client: aioredis.Redis, now_ms: int, policy: CreditPolicy = DEFAULT_POLICY) -> int:
    """Records an UNPAID_BALANCE event for every bill past due and unpaid; returns how many were new."""
    bills = await buyer_bills(client)
    if not bills:
        return 0
    accounts = sorted(bills)
    paid = await client.hmget(ledger_key("credits"), accounts)
    due = [bill for account, paid_fen in zip(accounts, paid)
           for bill in unpaid_bills(bills[account], int(paid_fen or 0), now_ms, policy.unpaid_due_days)]
    if not due:
        return 0
    async with client.pipeline(transaction=False) as pipe:
        for bill in due:
            queue_event(pipe, system_event(bill.owner_id, UNPAID_BALANCE, bill.statement_id,
                                           unpaid_note(bill, policy.unpaid_due_days), now_ms, policy))
        replies = await pipe.execute()
    return sum(1 for written, _ in replies if written)
