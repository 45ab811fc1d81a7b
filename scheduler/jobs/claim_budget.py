"""Admission's side of a product's verification policy: per-key claim counts, and refused claims counted.

The pure rules (operators per column, narrowest range) refuse in `admission.plan_admission`; this
module does the I/O: it counts each verify job's claims per key and period in Redis before the job
is admitted, and counts every refused claim on the grant's record and in Prometheus.
"""

from __future__ import annotations

from collections.abc import Mapping

from shuniu.market.catalog.verification import RULE_PER_KEY, claims_per_key, period_index
from shuniu.market.grants.claims import ClaimCounter
from shuniu.monitoring import metrics
from shuniu.protos.v1 import catalog_pb2, jobs_pb2
from shuniu.scheduler.jobs.admission import Refusal

POLICY_REASON = "verify_policy:"


async def count_claims(counter: ClaimCounter, job_id: str, spec: jobs_pb2.JobSpec,
                       products: Mapping[str, catalog_pb2.Product], now_ms: int) -> Refusal | None:
    """Counts a verify job's claims per key against each product's limit; the refusal naming the rule if over.

    Counted before the grant's own counters: a job refused there has still spent its claims,
    which errs on the side of the data's subjects. A retried submit (same job id) counts once.
    """
    if spec.WhichOneof("args") != "verify":
        return None
    for asked in spec.products:
        product = products[asked.product_id]
        if not product.spec.HasField("verification"):
            continue  # no policy: admission already refused a sensitive product's claims
        period, period_s = period_index(product, now_ms)
        per_key = claims_per_key(spec.verify.claims, product.product_id)
        limit = product.spec.verification.max_claims_per_key
        counted = await counter.count(job_id=job_id, grant_id=spec.grant_id, product_id=product.product_id,
                                      period=period, period_s=period_s, per_key=per_key, limit=limit)
        if not counted.allowed:
            return Refusal(f"{POLICY_REASON}{RULE_PER_KEY}",
                           f"{product.product_id} answers at most {limit} claims per key per {period_s:,} s under one "
                           f"grant; this key has {counted.used} this period and the job asks {counted.asked} more",
                           "RESOURCE_EXHAUSTED")
    return None


async def record_refused(counter: ClaimCounter, refusal: Refusal, spec: jobs_pb2.JobSpec) -> None:
    """Counts a verify job's claims refused by a verification policy (the grant's record and Prometheus)."""
    if not refusal.reason.startswith(POLICY_REASON) or spec.WhichOneof("args") != "verify":
        return
    claims = len(spec.verify.claims)
    metrics.VERIFY_CLAIMS_REFUSED.labels(refusal.reason.removeprefix(POLICY_REASON)).inc(claims)
    await counter.record_refusal(spec.grant_id, claims)
