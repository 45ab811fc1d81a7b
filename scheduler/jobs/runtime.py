"""The job layer inside the control plane: its scheduler, its rebuild after a restart, and its hooks."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from shuniu.market import credit
from shuniu.market.catalog import ProductStore
from shuniu.market.grants import GrantStore
from shuniu.market.grants.store import jobs_key
from shuniu.protos.v1 import grants_pb2, jobs_pb2, nodes_pb2, runs_pb2
from shuniu.scheduler.background import stop_if_cancelled
from shuniu.scheduler.jobs import admission, lifecycle
from shuniu.scheduler.jobs.job_scheduler import JobScheduler
from shuniu.scheduler.jobs.node_requests import node_run_request
from shuniu.scheduler.jobs.open_jobs import OpenJob
from shuniu.scheduler.jobs.store import JobStore
from shuniu.scheduler.retention.mover import Retention

log = logging.getLogger("shuniu.scheduler")
GRANT_EVENTS_KEY = "shuniu:events:grants"


class JobRuntime:
    """Owns the scheduler and the tasks that feed it (grant revocations); one per control plane."""

    def __init__(self, plane) -> None:
        self.plane = plane
        self.store = JobStore(plane.redis, plane.cold)
        retention_s = plane.config.retention_s
        self.retention = Retention(plane.redis, self.store.cold, retention_s) if retention_s > 0 else None
        self.grants = GrantStore(plane.redis)
        self.products = ProductStore(plane.redis)
        dispatcher = None
        if plane.config.ray_address:
            from shuniu.scheduler.dispatch import RayDispatcher
            dispatcher = RayDispatcher(plane.config.ray_address)
        self.scheduler = JobScheduler(plane, self.store, self.build_requests, dispatcher, end_writes=self.end_writes)
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        if self.scheduler.dispatcher is not None:
            await asyncio.to_thread(self.scheduler.dispatcher.connect)
        await self.rebuild()
        self.scheduler.start()
        self._tasks.append(asyncio.create_task(self._follow_revocations(), name="grant-revocations"))
        if self.retention is not None:
            self._tasks.append(asyncio.create_task(self.retention.run(), name="retention"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.scheduler.stop()

    async def build_requests(self, placed: list[tuple[OpenJob, nodes_pb2.Node, int]]) -> list[runs_pb2.NodeRunRequest]:
        """The run requests of one pass; each grant and product is read once, all reads at once."""
        grant_ids = sorted({entry.job.spec.grant_id for entry, _, _ in placed})
        product_ids = sorted({p for entry, _, _ in placed for p in entry.product_columns})
        *grants, products = await asyncio.gather(*(self.grants.get(g) for g in grant_ids),
                                                 self.products.get_many(product_ids))
        by_grant = dict(zip(grant_ids, grants))
        by_product = {p.product_id: p for p in products}
        return [node_run_request(entry.job, by_grant[entry.job.spec.grant_id], by_product, entry.product_columns,
                                 node, tier, entry.dp_epsilon_milli) for entry, node, tier in placed]

    @staticmethod
    def end_writes(pipe, job: jobs_pb2.Job) -> None:
        """Queued with a job's terminal transition: the grant no longer counts it as running; a withheld
        output is a credit event (信用) of the buyer, one per job."""
        pipe.srem(jobs_key(job.spec.grant_id), job.job_id)
        if job.state == lifecycle.EGRESS_DENIED:
            credit.queue_event(pipe, credit.system_event(job.buyer_id, credit.EGRESS_DENIAL, job.job_id,
                                                         job.state_message, job.finished_unix_ms))

    async def rebuild(self) -> None:
        """Requeues every open job from Redis; attempts in flight died with the old driver's Ray tasks."""
        now_ms = time.time_ns() // 1_000_000
        scheduler = self.scheduler
        for job in await self.store.open_jobs():
            grant = await self.grants.get(job.spec.grant_id, now_ms)
            products = {p.product_id: p for p in await self.products.get_many([p.product_id for p in job.spec.products])}
            plan = admission.plan_admission(job.spec, grant, products, now_ms)
            entry = OpenJob(job, {}, (), "", 0, time.monotonic())
            scheduler.open[job.job_id] = entry
            if isinstance(plan, admission.Refusal):
                await scheduler.move(entry, lifecycle.CANCELLED, plan.reason, f"after restart: {plan.message}")
                continue
            entry.product_columns, entry.domain_node_ids = plan.product_columns, plan.domain_node_ids
            entry.anchor_site, entry.dp_epsilon_milli = plan.anchor_site, plan.dp_epsilon_milli
            entry.domain = scheduler.table.domains.intern(plan.domain_node_ids)
            if job.state == lifecycle.PENDING:
                await scheduler.move(entry, lifecycle.ADMITTED, "admitted", "admitted after restart")
            if job.state in lifecycle.ACTIVE:
                await scheduler.fail_attempt(entry, jobs_pb2.FAILURE_CATEGORY_SYSTEM_ERROR,
                                             "the control plane restarted while the job was placed")
            elif job.state == lifecycle.ADMITTED:
                scheduler.queue.add(entry.queued())
        if scheduler.open:
            log.info("rebuilt %d open job(s) from Redis", len(scheduler.open))

    async def _follow_revocations(self) -> None:
        """Cancels the running jobs of a revoked grant (the grants stream names them)."""
        last = "$"
        while True:
            stop_if_cancelled()
            try:
                replies = await self.plane.redis.xread({GRANT_EVENTS_KEY: last}, block=1000, count=100)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001  (Redis away: retry, the stream keeps the events)
                log.warning("reading grant events failed: %s", err)
                await asyncio.sleep(1.0)
                continue
            for _, entries in replies:
                for entry_id, fields in entries:
                    last = entry_id
                    await self._on_grant_event({k.decode(): v.decode() for k, v in fields.items()})

    async def _on_grant_event(self, event: dict[str, str]) -> None:
        if event.get("to") not in (grants_pb2.GrantState.Name(grants_pb2.GRANT_STATE_REVOKED),
                                   str(grants_pb2.GRANT_STATE_REVOKED)):
            return
        grant_id = event.get("grant_id", "")
        listed = set(json.loads(event.get("cancel_job_ids") or "[]"))
        async with self.scheduler.lock:
            for entry in list(self.scheduler.open.values()):
                if entry.job.spec.grant_id == grant_id or entry.job.job_id in listed:
                    await self.scheduler.cancel(entry.job.job_id, "grant_revoked",
                                                f"grant {grant_id} was revoked: {event.get('reason', '')}")
