"""LedgerService: balances, accounts, postings and the ledger check, read from the ledger in Redis.

The ledger store speaks synchronous redis-py (the biller's client); calls run it in a
worker thread so that the event loop keeps serving heartbeats.
"""

from __future__ import annotations

import asyncio

import redis

from shuniu.market.ledger import LedgerStore, account_id, postings_matching, split_account_id
from shuniu.market.ledger.model import ACCOUNT_KINDS
from shuniu.protos.v1 import ledger_pb2, ledger_pb2_grpc
from shuniu.scheduler.control_plane import validate
from shuniu.scheduler.control_plane.errors import invalid, not_found
from shuniu.scheduler.control_plane.node_service import refusals

__all__ = ["LedgerService", "offset_page"]


def offset_page(items: list, page_size: int, page_token: str) -> tuple[list, str]:
    """A page of `items` from the offset in `page_token` (a decimal number) and the next token."""
    size = validate.page_size(page_size)
    if page_token and not page_token.isdigit():
        raise invalid(f"page_token {page_token!r} is not one this service returned; pass next_page_token as given")
    start = int(page_token or 0)
    end = start + size
    return items[start:end], str(end) if end < len(items) else ""


class LedgerService(ledger_pb2_grpc.LedgerServiceServicer):
    def __init__(self, redis_url: str) -> None:
        self.store = LedgerStore(redis.Redis.from_url(redis_url, socket_timeout=30))

    @refusals
    async def GetBalance(self, request: ledger_pb2.GetBalanceRequest, context):
        account = request.account_id
        if not account:
            if not request.kind or not request.owner_id:
                raise invalid("give account_id (e.g. buyer:acme), or kind and owner_id")
            try:
                account = account_id(request.kind, request.owner_id)
            except ValueError as err:
                raise invalid(str(err)) from None
        try:
            split_account_id(account)
        except ValueError as err:
            raise invalid(str(err)) from None
        found = await asyncio.to_thread(self.store.account, account)
        if found is None:
            raise not_found(f"account {account!r} has no postings; see `shuniu ledger balance` for the accounts")
        return ledger_pb2.GetBalanceResponse(account=found)

    @refusals
    async def ListAccounts(self, request: ledger_pb2.ListAccountsRequest, context):
        if request.kind and request.kind not in ACCOUNT_KINDS.values():
            raise invalid(f"kind {request.kind} unknown; expected one of {sorted(ACCOUNT_KINDS.values())}")
        accounts = [a for a in await asyncio.to_thread(self.store.accounts)
                    if (not request.kind or a.kind == request.kind) and (not request.owner_id or a.owner_id == request.owner_id)]
        page, token = offset_page(accounts, request.page_size, request.page_token)
        return ledger_pb2.ListAccountsResponse(accounts=page, next_page_token=token, total=len(accounts))

    @refusals
    async def ListPostings(self, request: ledger_pb2.ListPostingsRequest, context):
        if request.job_id:
            raise invalid("job_id: postings are aggregated per batch; a job's lines are in the statements "
                          "(`shuniu settle` then GetStatement); filter by account_id, batch_id or period")

        def rows():
            return list(postings_matching(self.store.iter_postings(), account=request.account_id,
                                          batch_id=request.batch_id, period=request.period))

        found = await asyncio.to_thread(rows)
        page, token = offset_page(found, request.page_size, request.page_token)
        postings = [_posting(batch_id, p, posted_ms) for batch_id, p, posted_ms in page]
        return ledger_pb2.ListPostingsResponse(postings=postings, next_page_token=token, total=len(found))

    @refusals
    async def CheckLedger(self, request: ledger_pb2.CheckLedgerRequest, context):
        return await asyncio.to_thread(self.store.check)


def _posting(batch_id: str, p, posted_ms: int) -> ledger_pb2.Posting:
    return ledger_pb2.Posting(
        posting_id=f"{batch_id}/{p.kind}/{p.debit_account_id}/{p.credit_account_id}/{p.period}/{p.original_period}/{p.product_id}@{p.price_version}",
        batch_id=batch_id, kind=p.kind, debit_account_id=p.debit_account_id, credit_account_id=p.credit_account_id,
        amount_fen=p.amount_fen, period=p.period, original_period=p.original_period, product_id=p.product_id,
        price_version=p.price_version, posted_unix_ms=posted_ms)
