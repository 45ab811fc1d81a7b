"""FeeScheduleService: authorized operators' fee schedules (公共数据授权运营) and their yearly reports.

Publishing a version re-prices each product it lists through the catalog's price path
(`catalog.apply_price`): a new price version whose unit, fee and unit size follow the item
and whose guided cap is the ceiling, so quotes already locked keep their version. The
schedule version, every product and the audit event commit in one MULTI under WATCH, once
per request id; a refused schedule stores nothing.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc
import redis.asyncio as aioredis

from shuniu.market import catalog, public_data
from shuniu.market.catalog import ProductStore, product_key, queue_product_write
from shuniu.market.public_data import FeeError, fee_schedule_key, operator_months_key, parse_months, parse_versions
from shuniu.market.public_data.fees import NOT_FOUND, PRECONDITION
from shuniu.market.public_data.store import FEE_EVENTS_KEY, FEE_SCHEDULES_KEY
from shuniu.protos.v1 import catalog_pb2, settlement_pb2, settlement_pb2_grpc
from shuniu.scheduler.control_plane import validate
from shuniu.scheduler.control_plane.catalog_service import catalog_refusals
from shuniu.scheduler.control_plane.errors import RequestError, invalid, not_found
from shuniu.scheduler.control_plane.idempotency import fingerprint, run_idempotent
from shuniu.scheduler.control_plane.node_service import refusals
from shuniu.scheduler.control_plane.settlement_service import settlement_root
from shuniu.security.caller import current_actor

__all__ = ["FeeScheduleService"]

_CODES = {NOT_FOUND: grpc.StatusCode.NOT_FOUND, PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION}
_EVENTS_MAXLEN = 10_000
_MIN_YEAR, _MAX_YEAR = 2000, 2999


def _refused(err: FeeError) -> RequestError:
    return RequestError(_CODES.get(err.kind, grpc.StatusCode.INVALID_ARGUMENT), err.message)


class FeeScheduleService(settlement_pb2_grpc.FeeScheduleServiceServicer):
    def __init__(self, client: aioredis.Redis, request_id_ttl_s: int) -> None:
        self.redis = client
        self.products = ProductStore(client)
        self.request_id_ttl_s = request_id_ttl_s

    @refusals
    async def PublishFeeSchedule(self, request: settlement_pb2.PublishFeeScheduleRequest, context):
        validate.request_id(request.request_id)
        schedule = request.schedule
        product_ids = [item.product_id for item in schedule.items]
        for i, product_id in enumerate(product_ids):
            if not product_id or len(product_id) > 128:
                raise invalid(f"schedule.items[{i}].product_id is empty or too long; expected a product id "
                              "(see `shuniu products ls`)")
        watch = [product_key(p) for p in dict.fromkeys(product_ids)]
        if schedule.fee_schedule_id:
            watch.append(fee_schedule_key(schedule.fee_schedule_id))

        async def plan(pipe):
            published, products = await self._publishable(pipe, schedule)
            now_ms = int(time.time() * 1000)
            published.effective_unix_ms = published.published_unix_ms = now_ms
            repriced = []
            for item in published.items:
                product = products[item.product_id]
                with catalog_refusals():
                    after = catalog.apply_price(product, public_data.pricing_for_item(item, product), now_ms)
                after.spec.public_data.fee_schedule_id = published.fee_schedule_id
                repriced.append(after)

            def writes(p):
                for product in repriced:
                    queue_product_write(p, product, new_price=True)
                p.hset(fee_schedule_key(published.fee_schedule_id), str(published.version),
                       published.SerializeToString(deterministic=True))
                p.sadd(FEE_SCHEDULES_KEY, published.fee_schedule_id)
                p.xadd(FEE_EVENTS_KEY, {
                    "fee_schedule_id": published.fee_schedule_id, "version": published.version,
                    "operator_id": published.operator_id, "product_ids": ",".join(product_ids),
                    "price_versions": ",".join(str(r.spec.pricing.price_version) for r in repriced),
                    "unix_ms": now_ms, "actor": current_actor()}, maxlen=_EVENTS_MAXLEN, approximate=True)

            return writes, settlement_pb2.PublishFeeScheduleResponse(schedule=published).SerializeToString()

        raw, _ = await run_idempotent(self.redis, request.request_id,
                                      fingerprint("PublishFeeSchedule", request.SerializeToString(deterministic=True)),
                                      watch, plan, self.request_id_ttl_s)
        return settlement_pb2.PublishFeeScheduleResponse.FromString(raw)

    async def _publishable(self, pipe, schedule: settlement_pb2.FeeSchedule
                           ) -> tuple[settlement_pb2.FeeSchedule, dict[str, catalog_pb2.Product]]:
        """The version to store (id and version assigned) and the products it names; raises RequestError."""
        published = settlement_pb2.FeeSchedule()
        published.CopyFrom(schedule)
        if schedule.fee_schedule_id:
            versions = parse_versions(await pipe.hgetall(fee_schedule_key(schedule.fee_schedule_id)))
            if not versions:
                raise not_found(f"fee schedule {schedule.fee_schedule_id!r} not found; leave fee_schedule_id empty to "
                                "create one, or see `shuniu fees`")
            if versions[-1].operator_id != schedule.operator_id:
                raise invalid(f"schedule.operator_id {schedule.operator_id!r}: fee schedule {schedule.fee_schedule_id} "
                              f"belongs to {versions[-1].operator_id!r}; expected the same operator")
            published.version = versions[-1].version + 1
        else:
            published.fee_schedule_id, published.version = f"fs-{uuid.uuid4().hex[:12]}", 1
        products: dict[str, catalog_pb2.Product | None] = {}
        for item in schedule.items:
            raw = await pipe.get(product_key(item.product_id))
            products[item.product_id] = None if raw is None else catalog_pb2.Product.FromString(raw)
        try:
            public_data.check_schedule(schedule, products)
        except FeeError as err:
            raise _refused(err) from None
        return published, products

    @refusals
    async def ListFeeSchedules(self, request: settlement_pb2.ListFeeSchedulesRequest, context):
        out = []
        for schedule_id in sorted(i.decode() for i in await self.redis.smembers(FEE_SCHEDULES_KEY)):
            versions = parse_versions(await self.redis.hgetall(fee_schedule_key(schedule_id)))
            if not versions or (request.operator_id and versions[-1].operator_id != request.operator_id):
                continue
            for version in versions if request.include_history else versions[-1:]:
                if not request.product_id or any(i.product_id == request.product_id for i in version.items):
                    out.append(version)
        return settlement_pb2.ListFeeSchedulesResponse(schedules=out)

    @refusals
    async def GetOperatorReport(self, request: settlement_pb2.GetOperatorReportRequest, context):
        if not request.operator_id or len(request.operator_id) > 128:
            raise invalid("operator_id is empty or too long; expected the authorized operator's id")
        if not _MIN_YEAR <= request.year <= _MAX_YEAR:
            raise invalid(f"year is {request.year}; expected a calendar year {_MIN_YEAR} to {_MAX_YEAR}, e.g. 2027")
        months = [m for p, m in parse_months(await self.redis.hgetall(operator_months_key(request.operator_id))).items()
                  if p.startswith(f"{request.year:04d}-")]
        if not months:
            raise not_found(f"no settled month of operator {request.operator_id!r} in {request.year}; months are "
                            "recorded when their period closes (`shuniu settle --period YYYY-MM`)")
        report = public_data.operator_report(request.operator_id, request.year, months)
        await asyncio.to_thread(public_data.write_report, report, months, settlement_root() / "settlement" / "operators")
        return report
