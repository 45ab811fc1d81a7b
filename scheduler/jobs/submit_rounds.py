"""Admission of the submits that arrive together: one read, one count and one write per round.

Each SubmitJob waits on its own future; one task takes every submit queued by then as a round.
A round reads the idempotency records, grants and products together, checks admission per job
(pure), counts the grant uses in one pipeline of scripts (each counts after the ones before it,
as if sent alone), and stores every admitted job with its request's answer in one MULTI. Rounds
run one after another, so a retry always sees the answer of the round that admitted its request
id; a request id twice in one round waits for the next. Under a burst a round holds many jobs,
so Redis round trips and fsyncs are paid per round rather than per job.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
from collections.abc import Sequence

import grpc
from shuniu.market import credit
from shuniu.market.grants import Ask, GrantUse
from shuniu.market.grants.claims import ClaimCounter
from shuniu.monitoring import metrics
from shuniu.protos.v1 import catalog_pb2, grants_pb2, jobs_pb2
from shuniu.scheduler.control_plane.errors import RequestError
from shuniu.scheduler.control_plane.idempotency import prior_responses, queue_idempotency_record, replayed
from shuniu.scheduler.jobs import admission, claim_budget, lifecycle, spec_rules
from shuniu.scheduler.jobs.open_jobs import OpenJob
from shuniu.scheduler.jobs.store import queue_job_write

_REFUSAL_CODES = {name: getattr(grpc.StatusCode, name) for name in
                  ("NOT_FOUND", "FAILED_PRECONDITION", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "INVALID_ARGUMENT")}


def refused(refusal: admission.Refusal) -> RequestError:
    metrics.ADMISSION_REFUSALS.labels(metrics.admission_reason(refusal.reason)).inc()
    return RequestError(_REFUSAL_CODES[refusal.code], f"{refusal.reason}: {refusal.message}")


@dataclasses.dataclass
class Submit:
    """One SubmitJob waiting for its round."""

    request: jobs_pb2.SubmitJobRequest
    spec: jobs_pb2.JobSpec  # checked and normalized
    fp: bytes
    job_id: str
    done: asyncio.Future


@dataclasses.dataclass
class _Admitted:
    submit: Submit
    plan: admission.AdmissionPlan
    grant: grants_pb2.Grant
    entry: OpenJob


def admitted_job(entry: OpenJob, submit: Submit, plan: admission.AdmissionPlan, buyer_id: str,
                 now_ms: int) -> tuple[jobs_pb2.Job, jobs_pb2.Job]:
    """The job as stored at PENDING and then ADMITTED (both transitions are written with their events)."""
    job = entry.job
    job.job_id, job.buyer_id, job.request_id = submit.job_id, buyer_id, submit.request.request_id
    job.state, job.attempt, job.seq, job.submitted_unix_ms = lifecycle.PENDING, 1, 1, now_ms
    job.quote.CopyFrom(plan.quote)
    job.quote.quote_id = f"q-{submit.job_id}"
    pending = jobs_pb2.Job()
    pending.CopyFrom(job)
    lifecycle.transition(job, lifecycle.ADMITTED, "admitted", "grant, budget and quota allow it", now_ms)
    job.seq = 2
    return pending, job


class SubmitRounds:
    """Queues submits and admits them a round at a time; see the module docstring."""

    def __init__(self, service) -> None:
        self.service = service  # JobService: redis, grants, products, scheduler, ttl_s, refuse_if_never
        self._queued: list[Submit] = []
        self._drainer: asyncio.Task | None = None
        self.credit = credit.CreditStore(service.redis)
        self._violations: list = []  # credit events of the round's refusals for reaching outside a grant
        self.claims = ClaimCounter(service.redis)
        self._claim_refusals: list = []  # (refusal, spec) of the round's verify jobs a verification policy refused

    async def submit(self, request: jobs_pb2.SubmitJobRequest, spec: jobs_pb2.JobSpec, fp: bytes,
                     job_id: str) -> jobs_pb2.SubmitJobResponse:
        done = asyncio.get_running_loop().create_future()
        self._queued.append(Submit(request, spec, fp, job_id, done))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            first, later = _split_repeats(batch)
            self._queued[:0] = later
            try:
                await self._round(first)
            except Exception as exc:  # Redis gone, say: every submit of the round hears it
                for s in first:
                    _fail(s, exc)

    async def _round(self, batch: list[Submit]) -> None:
        svc = self.service
        now_ms = time.time_ns() // 1_000_000
        priors, grants, products = await asyncio.gather(
            prior_responses(svc.redis, [(s.request.request_id, s.fp) for s in batch]),
            svc.grants.get_many_with_records({s.spec.grant_id for s in batch}, now_ms),
            svc.products.get_many({p.product_id for s in batch for p in s.spec.products}))
        priors = await self._moved_priors(batch, priors)
        by_product = {p.product_id: p for p in products}
        # One read per buyer per round: its credit standing (信用) decides whether it may submit.
        standings = await self.credit.standings({g.spec.buyer_id for g, _ in grants.values()}, now_ms)
        queued_now: collections.Counter[str] = collections.Counter()
        admitted, refusals = [], []
        for s, prior in zip(batch, priors):
            if isinstance(prior, RequestError):
                _fail(s, prior)
            elif prior is not None:  # a retry: the grant use and the job were stored by the first request
                _answer(s, jobs_pb2.SubmitJobResponse.FromString(prior))
            else:
                try:
                    admitted.append(self._admit(s, grants.get(s.spec.grant_id), by_product, now_ms, queued_now,
                                                standings))
                except RequestError as err:
                    refusals.append((s, err))
        await self._record_violations()  # stored before the refused hear why
        await self._record_claim_refusals()
        for s, err in refusals:
            _fail(s, err)
        admitted = await self._count_claims(admitted, by_product, now_ms)
        counted = await self._count(admitted, grants, now_ms)
        await self._store(counted, now_ms)

    async def _moved_priors(self, batch: list[Submit], priors: list) -> list:
        """Answers found in the cold store: retention moves a finished job with its submit's idempotency
        record (Redis is read first, and a move writes the cold store before deleting from Redis)."""
        moved = await self.service.jobs.moved_requests([s.job_id for s, p in zip(batch, priors) if p is None])
        out = []
        for s, prior in zip(batch, priors):
            if s.job_id not in moved:
                out.append(prior)
                continue
            fp, response, job = moved[s.job_id]
            if fp is None:  # the record had expired before the move; the job still answers: never make it again
                out.append(jobs_pb2.SubmitJobResponse(job=jobs_pb2.Job.FromString(job)).SerializeToString())
                continue
            try:
                out.append(replayed(s.request.request_id, s.fp, [fp, response]))
            except RequestError as err:
                out.append(err)
        return out

    def _admit(self, s: Submit, grant_and_record: tuple | None, products: dict[str, catalog_pb2.Product],
               now_ms: int, queued_now: collections.Counter, standings: dict) -> _Admitted:
        """Admission of one job of the round (pure but for the scheduler's fleet), or a RequestError."""
        grant = grant_and_record[0] if grant_and_record else None
        plan = admission.plan_admission(s.spec, grant, {p.product_id: products[p.product_id]
                                                        for p in s.spec.products if p.product_id in products}, now_ms)
        if isinstance(plan, admission.Refusal):
            if plan.reason in admission.GRANT_VIOLATION_REASONS:  # the job id is fixed by the request id
                self._violations.append(credit.system_event(grant.spec.buyer_id, credit.GRANT_VIOLATION, s.job_id,
                                                            f"{plan.reason}: {plan.message}", now_ms))
            self._claim_refusals.append((plan, s.spec))
            raise refused(plan)
        refusal = admission.credit_refusal(standings.get(grant.spec.buyer_id), self.credit.policy)
        if refusal is not None:
            raise refused(refusal)
        entry = OpenJob(jobs_pb2.Job(), plan.product_columns, plan.domain_node_ids, plan.anchor_site,
                        plan.dp_epsilon_milli, time.monotonic())
        entry.job.spec.CopyFrom(s.spec)
        self.service.refuse_if_never(entry)
        buyer = grant.spec.buyer_id
        refusal = admission.quota_refusal(self.service.scheduler.queue.waiting(buyer) + queued_now[buyer],
                                          admission.DEFAULT_MAX_PENDING_JOBS)
        if refusal is not None:
            raise refused(refusal)
        queued_now[buyer] += 1
        return _Admitted(s, plan, grant, entry)

    async def _record_violations(self) -> None:
        """Writes the round's grant-violation credit events in one round trip (each once per job id)."""
        events, self._violations = self._violations, []
        if events:
            async with self.service.redis.pipeline(transaction=False) as pipe:
                for event in events:
                    credit.queue_event(pipe, event)
                await pipe.execute()

    async def _record_claim_refusals(self) -> None:
        refusals, self._claim_refusals = self._claim_refusals, []
        for refusal, spec in refusals:
            await claim_budget.record_refused(self.claims, refusal, spec)

    async def _count_claims(self, admitted: list[_Admitted], products: dict, now_ms: int) -> list[_Admitted]:
        """Counts verify jobs' claims per key (the product's verification policy); the refused hear why."""
        kept = []
        for a in admitted:
            refusal = await claim_budget.count_claims(self.claims, a.submit.job_id, a.submit.spec, products, now_ms)
            if refusal is None:
                kept.append(a)
                continue
            await claim_budget.record_refused(self.claims, refusal, a.submit.spec)
            _fail(a.submit, refused(refusal))
        return kept

    async def _count(self, admitted: list[_Admitted], grants: dict, now_ms: int) -> list[_Admitted]:
        """Counts every admitted job's grant use (the job recorded as running there); the refused hear why.

        A use counted before (a retried submit) is not counted again; its grant is read once more,
        so that a revocation since the first try refuses the job.
        """
        if not admitted:
            return []
        uses = [GrantUse(a.submit.spec.grant_id, a.submit.spec.kind, a.plan.product_columns,
                         Ask(a.plan.rows, 1, a.submit.spec.price_cap_fen, a.plan.dp_epsilon_milli), now_ms,
                         a.submit.job_id, a.submit.job_id) for a in admitted]
        records = {g: record for g, (_, record) in grants.items()}
        decisions = await self.service.grants.consume_many(uses, records)
        repeated = {a.submit.spec.grant_id for a, d in zip(admitted, decisions) if d.allowed and d.repeated}
        current = await self.service.grants.get_many_with_records(repeated, now_ms) if repeated else {}
        counted = []
        for a, decision in zip(admitted, decisions):
            if not decision.allowed:
                _fail(a.submit, refused(admission.grant_refusal(decision.rule, decision.message)))
            elif decision.repeated and current[a.submit.spec.grant_id][0].state != grants_pb2.GRANT_STATE_APPROVED:
                _fail(a.submit, RequestError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"grant_revoked: grant {a.submit.spec.grant_id} was revoked or expired during admission"))
            else:
                counted.append(a)
        return counted

    async def _store(self, counted: list[_Admitted], now_ms: int) -> None:
        """Writes every counted job and its request's answer in one MULTI, then queues them."""
        if not counted:
            return
        svc = self.service
        stored = []
        async with svc.redis.pipeline(transaction=True) as pipe:
            for a in counted:
                pending, job = admitted_job(a.entry, a.submit, a.plan, a.grant.spec.buyer_id, now_ms)
                response = jobs_pb2.SubmitJobResponse(job=job)
                queue_job_write(pipe, pending, jobs_pb2.JOB_STATE_UNSPECIFIED, now_ms)
                queue_job_write(pipe, job, lifecycle.PENDING, now_ms)
                queue_idempotency_record(pipe, a.submit.request.request_id, a.submit.fp,
                                         response.SerializeToString(), svc.ttl_s)
                stored.append((a, response))
            await pipe.execute()
        for a, response in stored:  # synchronous: no pass or transition can interleave
            metrics.ADMITTED.labels(spec_rules.KIND_ARGS[a.submit.spec.kind]).inc()
            svc.scheduler.add_admitted(a.entry)
            svc.scheduler.notify(a.entry.job, lifecycle.PENDING)
            _answer(a.submit, response)


def _split_repeats(batch: Sequence[Submit]) -> tuple[list[Submit], list[Submit]]:
    """The first submit of each request id, and the repeats (for the next round)."""
    seen: set[str] = set()
    first, later = [], []
    for s in batch:
        (later if s.request.request_id in seen else first).append(s)
        seen.add(s.request.request_id)
    return first, later


def _answer(s: Submit, response: jobs_pb2.SubmitJobResponse) -> None:
    if not s.done.done():  # a caller that went away is not told; its job stands, as a retry would find
        s.done.set_result(response)


def _fail(s: Submit, exc: BaseException) -> None:
    if not s.done.done():
        s.done.set_exception(exc)
