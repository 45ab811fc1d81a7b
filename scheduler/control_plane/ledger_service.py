"""LedgerService: balances, accounts, postings and the ledger check, read from the ledger in Redis.

The ledger store speaks synchronous redis-py (the biller's client); calls run it in a
worker thread so that the event loop keeps serving heartbeats.

A job's postings are those of the usage batches its runs wrote: each run meters itself in a batch of
its own, and the scheduler keeps the batch ids on the job (Job.usage_batch_ids), so the `job_id`
filter reads those batches and no other.
"""

from __future__ import annotations

import asyncio
import time

import redis

from shuniu.market.ledger import (
    LedgerStore,
    account_id,
    billed_period,
    ledger_key,
    period_of_ms,
    postings_matching,
    split_account_id,
)
from shuniu.market.ledger.model import ACCOUNT_KINDS, LedgerPosting
from shuniu.market.ledger.payments import PaymentError, payment_batch
from shuniu.market.vouchers.store import held_vouchers
from shuniu.protos.v1 import ledger_pb2, ledger_pb2_grpc
from shuniu.scheduler.control_plane import validate
from shuniu.scheduler.control_plane.errors import failed_precondition, invalid, not_found
from shuniu.scheduler.control_plane.node_service import refusals
from shuniu.scheduler.jobs.store import JobStore

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
    def __init__(self, redis_url: str, jobs: JobStore) -> None:
        self.store = LedgerStore(redis.Redis.from_url(redis_url, socket_timeout=30))
        self.jobs = jobs

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
        vouchers = [] if found.kind != ledger_pb2.ACCOUNT_KIND_BUYER else await asyncio.to_thread(
            held_vouchers, self.store.client, [found.owner_id], int(time.time() * 1000))
        return ledger_pb2.GetBalanceResponse(account=found, voucher_available_fen=sum(v.remaining_fen for v in vouchers))

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
        # An unknown job selects nothing, like an unknown batch: a party's own-account filter (security/roles.py)
        # then answers alike for another party's job and for a job that does not exist.
        batch_ids = None  # every batch
        if request.job_id:
            job = await self.jobs.get(request.job_id)
            batch_ids = list(dict.fromkeys(job.usage_batch_ids)) if job is not None else []

        def rows():
            source = self.store.iter_postings() if batch_ids is None else _postings_of(self.store, batch_ids)
            return list(postings_matching(source, account=request.account_id, batch_id=request.batch_id,
                                          period=request.period))

        found = await asyncio.to_thread(rows)
        page, token = offset_page(found, request.page_size, request.page_token)
        postings = [_posting(batch_id, p, posted_ms) for batch_id, p, posted_ms in page]
        return ledger_pb2.ListPostingsResponse(postings=postings, next_page_token=token, total=len(found))

    @refusals
    async def CheckLedger(self, request: ledger_pb2.CheckLedgerRequest, context):
        return await asyncio.to_thread(self.store.check)

    @refusals
    async def RecordPayment(self, request: ledger_pb2.RecordPaymentRequest, context):
        return await asyncio.to_thread(self._record_payment, request)

    def _record_payment(self, request: ledger_pb2.RecordPaymentRequest) -> ledger_pb2.RecordPaymentResponse:
        period = billed_period(period_of_ms(int(time.time() * 1000)), self.store.closed_periods())
        try:
            batch = payment_batch(request.request_id, request.account_id, request.amount_fen, request.reference, period)
        except PaymentError as err:
            raise invalid(str(err)) from None
        outcome = self.store.post(batch)
        if outcome.status not in ("posted", "duplicate"):  # a period closed between the read and the write
            raise failed_precondition(f"payment not recorded ({outcome.status}: {outcome.detail}); retry with the same request_id")
        (batch_id, (posting,), _, posted_ms), = self.store.batch_postings([batch.batch_id])
        asked = batch.postings[0]
        if (posting.debit_account_id, posting.credit_account_id, posting.amount_fen) != (
                asked.debit_account_id, asked.credit_account_id, asked.amount_fen):
            raise failed_precondition(f"request_id {request.request_id!r} already recorded a payment of "
                                      f"{posting.amount_fen} fen from {posting.debit_account_id} to "
                                      f"{posting.credit_account_id}; a new payment needs a new request_id")
        return ledger_pb2.RecordPaymentResponse(posting=_posting(batch_id, posting, posted_ms),
                                                account=self.store.account(request.account_id))


def _postings_of(store: LedgerStore, batch_ids: list[str]) -> list[tuple[str, LedgerPosting, int]]:
    """(batch id, posting, posted unix ms) of those of `batch_ids` the ledger has posted, oldest first."""
    posted = [b for b, summary in zip(batch_ids, store.client.hmget(ledger_key("batches"), batch_ids)) if summary] \
        if batch_ids else []
    found = sorted(store.batch_postings(posted), key=lambda batch: batch[3])  # ties keep the order the job learnt
    return [(batch_id, p, posted_ms) for batch_id, postings, _, posted_ms in found for p in postings]


def _posting(batch_id: str, p, posted_ms: int) -> ledger_pb2.Posting:
    return ledger_pb2.Posting(
        posting_id=f"{batch_id}/{p.kind}/{p.debit_account_id}/{p.credit_account_id}/{p.period}/{p.original_period}/{p.product_id}@{p.price_version}"
                   + (f"/{p.voucher_id}" if p.voucher_id else ""),
        batch_id=batch_id, kind=p.kind, debit_account_id=p.debit_account_id, credit_account_id=p.credit_account_id,
        amount_fen=p.amount_fen, period=p.period, original_period=p.original_period, product_id=p.product_id,
        price_version=p.price_version, posted_unix_ms=posted_ms, voucher_id=p.voucher_id)
