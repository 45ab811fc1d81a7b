"""SettlementService: closes periods into statements and serves them and the data price index.

Statements are written under $SHUNIU_STATE_DIR/settlement (the state directory the CLI and
the local stack use; `.shuniu` in the working directory when unset). Closing is itself
idempotent: closing a closed period rebuilds byte-identical files and returns the same
answer, so a retried request_id needs no separate record.
"""

from __future__ import annotations

import asyncio
import os
import pathlib

import grpc
import redis

from shuniu.market.ledger import parse_period
from shuniu.market.ledger.model import ACCOUNT_KINDS
from shuniu.market.settlement import SettlementError, SettlementStore, StatementMismatch
from shuniu.monitoring import metrics
from shuniu.protos.v1 import settlement_pb2, settlement_pb2_grpc
from shuniu.scheduler.control_plane import validate
from shuniu.scheduler.control_plane.errors import RequestError, failed_precondition, invalid, not_found
from shuniu.scheduler.control_plane.ledger_service import offset_page
from shuniu.scheduler.control_plane.node_service import refusals

__all__ = ["SettlementService", "settlement_root"]


def settlement_root() -> pathlib.Path:
    """The state directory: $SHUNIU_STATE_DIR, else .shuniu (as the CLI's state_dir)."""
    return pathlib.Path(os.environ.get("SHUNIU_STATE_DIR", ".shuniu")).resolve()


def _period(value: str, field: str = "period", required: bool = True) -> str:
    if not value and not required:
        return value
    try:
        parse_period(value)
    except ValueError:
        raise invalid(f"{field} {value!r} is not a period; expected YYYY-MM, e.g. 2026-11") from None
    return value


class SettlementService(settlement_pb2_grpc.SettlementServiceServicer):
    def __init__(self, redis_url: str, root: pathlib.Path | None = None) -> None:
        self.store = SettlementStore(redis.Redis.from_url(redis_url, socket_timeout=60), root or settlement_root())
        self._closing = asyncio.Lock()  # one close at a time: they write the same files

    @refusals
    async def ClosePeriod(self, request: settlement_pb2.ClosePeriodRequest, context):
        validate.request_id(request.request_id)
        period = _period(request.period)
        async with self._closing:
            try:
                record, statements = await asyncio.to_thread(self.store.close, period)
            except SettlementError as err:
                metrics.SETTLEMENT_RUNS.labels("refused").inc()
                raise failed_precondition(str(err)) from None
            except StatementMismatch as err:
                metrics.SETTLEMENT_RUNS.labels("mismatch").inc()
                raise RequestError(grpc.StatusCode.INTERNAL, f"statements refused: {err}") from None
        metrics.SETTLEMENT_RUNS.labels("closed").inc()
        return settlement_pb2.ClosePeriodResponse(period=record, statements=statements)

    @refusals
    async def GetStatement(self, request: settlement_pb2.GetStatementRequest, context):
        if request.statement_id:
            period, _, account = request.statement_id.partition("/")
        else:
            period, account = request.period, request.account_id
        _period(period)
        if not account:
            raise invalid("give statement_id (e.g. 2026-11/buyer:acme), or period and account_id")
        found = [s for s in await asyncio.to_thread(self.store.statements, period) if s.account_id == account]
        if not found:
            raise not_found(f"no statement of {account!r} for {period}; is the period closed (`shuniu settle --period {period}`)?")
        statement = found[0]
        lines = await asyncio.to_thread(self.store.statement_lines, statement)
        rows, token = offset_page(lines.to_pylist(), request.page_size, request.page_token)
        return settlement_pb2.GetStatementResponse(statement=statement, lines=[_line(r) for r in rows], next_page_token=token)

    @refusals
    async def ListStatements(self, request: settlement_pb2.ListStatementsRequest, context):
        _period(request.period, required=False)
        if request.account_kind and request.account_kind not in ACCOUNT_KINDS.values():
            raise invalid(f"account_kind {request.account_kind} unknown; expected one of {sorted(ACCOUNT_KINDS.values())}")
        statements = [s for s in await asyncio.to_thread(self.store.statements, request.period)
                      if (not request.account_id or s.account_id == request.account_id)
                      and (not request.account_kind or s.account_kind == request.account_kind)]
        page, token = offset_page(statements, request.page_size, request.page_token)
        return settlement_pb2.ListStatementsResponse(statements=page, next_page_token=token, total=len(statements))

    @refusals
    async def GetPriceIndex(self, request: settlement_pb2.GetPriceIndexRequest, context):
        _period(request.from_period, "from_period", required=False)
        _period(request.to_period, "to_period", required=False)
        points, _ = await asyncio.to_thread(self.store.price_index)
        points = [p for p in points if (not request.category or p.category == request.category)
                  and (not request.from_period or p.period >= request.from_period)
                  and (not request.to_period or p.period <= request.to_period)]
        base = min((p.period for p in points if p.index_value == 100.0 and not p.suppressed), default="")
        return settlement_pb2.GetPriceIndexResponse(base_period=base, points=points, min_transactions=self.store.min_transactions,
                                                    min_distinct_parties=self.store.min_parties)


def _line(row: dict) -> settlement_pb2.StatementLine:
    return settlement_pb2.StatementLine(
        line_id=row["line_id"], kind=row["kind"], amount_fen=row["amount_fen"], job_id=row["job_id"], grant_id=row["grant_id"],
        product_id=row["product_id"], price_version=row["price_version"], record_ids=[row["record_id"]],
        quantity=row["quantity"], guided_cap_reduction_fen=row["guided_cap_reduction_fen"],
        original_period=row["original_period"])
