"""JobService: submit under a grant, read, list, cancel, watch, explain and plan jobs."""

from __future__ import annotations

import asyncio
import hashlib
import time

import grpc
import redis.asyncio as aioredis
from shuniu.market import analyses
from shuniu.market.catalog import ProductStore
from shuniu.market.grants import GrantStore
from shuniu.protos.v1 import catalog_pb2, grants_pb2, jobs_pb2, jobs_pb2_grpc
from shuniu.scheduler.control_plane import validate
from shuniu.scheduler.control_plane.errors import RequestError, invalid, not_found
from shuniu.scheduler.control_plane.idempotency import fingerprint
from shuniu.scheduler.control_plane.node_service import refusals
from shuniu.scheduler.jobs import admission, lifecycle, spec_rules
from shuniu.scheduler.jobs.job_scheduler import JobScheduler
from shuniu.scheduler.jobs.open_jobs import OpenJob
from shuniu.scheduler.jobs.store import JobStore
from shuniu.scheduler.jobs.submit_rounds import SubmitRounds, refused
from shuniu.scheduler.placement import explanation_proto, placement_proto

_MAX_PAGE = 1000


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _after(page_token: str) -> tuple[int, str] | None:
    """Where a listing goes on: the (submitted ms, job id) of the last job the previous page looked at."""
    if not page_token:
        return None
    ms, _, job_id = page_token.partition(":")
    if not ms.isdigit() or not job_id:
        raise invalid(f"page_token {page_token!r} is not one this service returned; pass next_page_token as is")
    return int(ms), job_id


def job_id_for(request_id: str) -> str:
    """A retried submit names the same job, so that its grant use is counted once."""
    return "job-" + hashlib.sha256(request_id.encode()).hexdigest()[:20]


class JobService(jobs_pb2_grpc.JobServiceServicer):
    def __init__(self, client: aioredis.Redis, scheduler: JobScheduler, request_id_ttl_s: int) -> None:
        self.redis = client
        self.scheduler = scheduler
        self.jobs: JobStore = scheduler.store  # reads the control plane's cold files, as retention writes them
        self.grants = GrantStore(client)
        self.products = ProductStore(client)
        self.analyses = analyses.AnalysisStore(client)
        self.ttl_s = request_id_ttl_s
        self.rounds = SubmitRounds(self)

    async def _products(self, spec: jobs_pb2.JobSpec) -> dict[str, catalog_pb2.Product]:
        found = await self.products.get_many([p.product_id for p in spec.products])
        return {p.product_id: p for p in found}

    async def admit(self, spec: jobs_pb2.JobSpec, now_ms: int
                    ) -> tuple[admission.AdmissionPlan, OpenJob, grants_pb2.Grant]:
        """A submit's first checks (grant scope, products, credit), counting nothing: the plan, the job's queue
        entry and its grant, or a RequestError naming why a submit would refuse (for PlanJob; submits go by
        `SubmitRounds`). `refuse_unqueueable` makes the rest."""
        grant, products = await asyncio.gather(self.grants.get(spec.grant_id, now_ms), self._products(spec))
        plan = admission.plan_admission(spec, grant, products, now_ms)
        if isinstance(plan, admission.Refusal):
            raise refused(plan)
        standings = await self.rounds.credit.standings({grant.spec.buyer_id}, now_ms)  # 信用: as a submit would
        blocked = admission.credit_refusal(standings.get(grant.spec.buyer_id), self.rounds.credit.policy)
        if blocked is not None:
            raise refused(blocked)
        entry = OpenJob(jobs_pb2.Job(spec=spec), plan.product_columns, plan.domain_node_ids, plan.anchor_site,
                        plan.dp_epsilon_milli, time.monotonic())
        return plan, entry, grant

    def refuse_unqueueable(self, entry: OpenJob, grant: grants_pb2.Grant, plan: admission.AdmissionPlan,
                           now_ms: int) -> None:
        """A submit's last checks, in its order, counting nothing: a node could ever run it, the buyer's queue
        quota, the grant's limits (rows, calls, budget, ε) as they stand."""
        self.refuse_if_never(entry)
        buyer = grant.spec.buyer_id
        for refusal in (admission.quota_refusal(self.scheduler.queue.waiting(buyer), admission.DEFAULT_MAX_PENDING_JOBS),
                        admission.limits_refusal(grant, entry.job.spec, plan, now_ms)):
            if refusal is not None:
                raise refused(refusal)

    async def resolve_custom(self, spec: jobs_pb2.JobSpec) -> None:
        """Rule approved-analysis (market/analyses/use.py), before anything is stored: custom code above public
        grade runs only as an approved analysis; its approved code, output contract and typed parameter values
        replace what the buyer sent. Analyses never change once decided, so reading them here is final."""
        if spec.WhichOneof("args") != "custom":
            return
        grant, products, analysis = await asyncio.gather(
            self.grants.get(spec.grant_id), self._products(spec), self.analyses.get(spec.custom.analysis_id))
        try:
            spec.custom.CopyFrom(analyses.resolve_custom(spec, grant, products, analysis))
        except analyses.AnalysisRefusal as err:
            raise refused(admission.Refusal(err.rule, err.message, err.kind)) from None

    def refuse_if_never(self, entry: OpenJob) -> None:
        """Refuses a job that no node of the fleet's shape could ever run, whatever the load."""
        self.scheduler.sync_shape()
        entry.domain = self.scheduler.table.domains.intern(entry.domain_node_ids)
        decision = self.scheduler.placer.never(self.scheduler.placement_request(entry))
        if decision is not None:
            rejections = decision.explanation.rejections
            removed = ", ".join(f"{r.filter} removed {r.nodes_removed}" for r in rejections)
            # The last filter that removed nodes is the one that left none: it says what would run.
            last = next((r for r in reversed(rejections) if r.nodes_removed), None)
            why = f"{last.filter}: {last.reason}; " if last is not None and last.reason else ""
            raise RequestError(grpc.StatusCode.FAILED_PRECONDITION,
                               f"unsatisfiable: no node of this fleet can ever run the job ({removed}); {why}"
                               "see `shuniu plan` for what each filter removed")

    @refusals
    async def SubmitJob(self, request, context):
        validate.request_id(request.request_id)
        spec = jobs_pb2.JobSpec()
        spec.CopyFrom(request.spec)
        spec_rules.check_spec(spec)
        spec_rules.normalize(spec)
        await self.resolve_custom(spec)
        fp = fingerprint("SubmitJob", request.SerializeToString(deterministic=True))
        return await self.rounds.submit(request, spec, fp, job_id_for(request.request_id))

    async def _job(self, job_id: str) -> jobs_pb2.Job:
        entry = self.scheduler.open.get(job_id)
        if entry is not None:
            return entry.job
        job = await self.jobs.get(job_id) if job_id else None
        if job is None:
            raise not_found(f"job {job_id!r} not found (see `shuniu jobs ls`)")
        return job

    @refusals
    async def GetJob(self, request, context):
        return jobs_pb2.GetJobResponse(job=await self._job(request.job_id))

    @refusals
    async def ListJobs(self, request, context):
        size = request.page_size or 100
        if not 0 < size <= _MAX_PAGE:
            raise invalid(f"page_size {request.page_size} out of range; expected 1..{_MAX_PAGE} (0 means 100)")
        after = _after(request.page_token)
        # A grant's jobs are all of one buyer: its index is the narrower one when both are given.
        index = (("grant", request.grant_id) if request.grant_id else
                 ("buyer", request.buyer_id) if request.buyer_id else None)
        states = set(request.states)

        def selects(job: jobs_pb2.Job) -> bool:
            return ((not states or job.state in states) and (not request.buyer_id or job.buyer_id == request.buyer_id)
                    and (not request.grant_id or job.spec.grant_id == request.grant_id))

        found: list[jobs_pb2.Job] = []
        more = True
        while len(found) < size and more:
            keys, more = await self.jobs.page(index, after, size)
            jobs = await self.jobs.get_anywhere([job_id for _, job_id in keys])
            for at, key in enumerate(keys):
                job = self._live(jobs.get(key[1]))
                after = key
                if job is not None and selects(job):
                    found.append(job)
                    if len(found) == size:
                        more = more or at + 1 < len(keys)
                        break
        token = f"{after[0]}:{after[1]}" if more and after is not None else ""
        # The index counts itself; a filter it does not hold (states, a buyer within a grant) is counted by reading.
        total = (await self.jobs.total(index) if not states and not (request.grant_id and request.buyer_id)
                 else await self._count(index, selects))
        return jobs_pb2.ListJobsResponse(jobs=found, next_page_token=token, total=total)

    def _live(self, job: jobs_pb2.Job | None) -> jobs_pb2.Job | None:
        """An open job as the scheduler holds it now (its stored record may lag a transition)."""
        entry = self.scheduler.open.get(job.job_id) if job is not None else None
        return entry.job if entry is not None else job

    async def _count(self, index, selects) -> int:
        """Jobs of `index` that `selects` keeps, read a page of ids and records at a time (no index holds states)."""
        total, after, more = 0, None, True
        while more:
            keys, more = await self.jobs.page(index, after, _MAX_PAGE)
            jobs = await self.jobs.get_anywhere([job_id for _, job_id in keys])
            total += sum(1 for _, job_id in keys if (job := self._live(jobs.get(job_id))) is not None and selects(job))
            after = keys[-1] if keys else after
        return total

    @refusals
    async def CancelJob(self, request, context):
        validate.request_id(request.request_id)
        async with self.scheduler.lock:
            job = await self.scheduler.cancel(request.job_id, "cancelled",
                                              request.reason or "cancelled by request")
        if job is None:
            job = await self._job(request.job_id)
            if job.state != lifecycle.CANCELLED:
                raise RequestError(grpc.StatusCode.FAILED_PRECONDITION,
                                   f"job {job.job_id} already ended {lifecycle.name(job.state)}; nothing to cancel")
        return jobs_pb2.CancelJobResponse(job=job)

    async def WatchJob(self, request, context):
        try:
            job = await self._job(request.job_id)
        except RequestError as err:
            await context.abort(err.code, err.message)
        changes: asyncio.Queue = asyncio.Queue()
        watchers = self.scheduler.watchers.setdefault(request.job_id, set())
        watchers.add(changes)
        try:
            job = self.scheduler.open[job.job_id].job if job.job_id in self.scheduler.open else job
            yield jobs_pb2.WatchJobResponse(job=job, to_state=job.state, seq=job.seq,
                                            changed_unix_ms=_now_ms())
            while job.state not in lifecycle.TERMINAL:
                job, old = await changes.get()
                yield jobs_pb2.WatchJobResponse(job=job, from_state=old, to_state=job.state, seq=job.seq,
                                                changed_unix_ms=_now_ms())
        finally:
            watchers.discard(changes)
            if not watchers:
                self.scheduler.watchers.pop(request.job_id, None)

    @refusals
    async def ExplainJob(self, request, context):
        job = await self._job(request.job_id)
        response = jobs_pb2.ExplainJobResponse(job_id=job.job_id, state=job.state, state_reason=job.state_reason)
        entry = self.scheduler.open.get(job.job_id)
        if entry is not None and job.state in lifecycle.QUEUED:
            decision = self.scheduler.placer.plan(self.scheduler.placement_request(entry), time.monotonic())
            response.explanation.CopyFrom(explanation_proto(decision.explanation))
            response.queue_position = self.scheduler.queue_position(job.job_id)
        return response

    @refusals
    async def PlanJob(self, request, context):
        spec = jobs_pb2.JobSpec()
        spec.CopyFrom(request.spec)
        spec_rules.check_spec(spec)
        spec_rules.normalize(spec)
        await self.resolve_custom(spec)
        response = jobs_pb2.PlanJobResponse(admissible=True)
        now_ms = _now_ms()
        try:
            plan, entry, grant = await self.admit(spec, now_ms)
        except RequestError as err:
            if err.code == grpc.StatusCode.NOT_FOUND:
                raise
            response.admissible, response.admission_reason = False, err.message
            return response
        response.quote.CopyFrom(plan.quote)
        try:  # refused here, the placement explanation still says what each filter removed
            self.refuse_unqueueable(entry, grant, plan, now_ms)
        except RequestError as err:
            response.admissible, response.admission_reason = False, err.message
        self.scheduler.sync_table()
        entry.domain = self.scheduler.table.domains.intern(plan.domain_node_ids)
        decision = self.scheduler.placer.plan(self.scheduler.placement_request(entry), time.monotonic())
        response.explanation.CopyFrom(explanation_proto(decision.explanation))
        if decision.placed and response.admissible:
            response.placement.CopyFrom(placement_proto(decision))
        return response

    @refusals
    async def GetJobResult(self, request, context):
        job = await self._job(request.job_id)
        if job.state != lifecycle.SUCCEEDED:
            raise RequestError(grpc.StatusCode.FAILED_PRECONDITION,
                               f"job {job.job_id} is {lifecycle.name(job.state)}; only a SUCCEEDED job has a released "
                               "output" + (f" (egress denied: {job.state_message})" if job.state == lifecycle.EGRESS_DENIED
                                           else ""))
        data = await self.jobs.result(job)
        if data is None:
            raise not_found(f"the output of job {job.job_id} is no longer kept")
        return jobs_pb2.GetJobResultResponse(job_id=job.job_id, result=job.result, arrow_ipc=data)
