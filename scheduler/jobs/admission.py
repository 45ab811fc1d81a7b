"""Admission above placement: what a job reads, what it asks of its grant and quota, and its quote. Pure.

A job is admitted only when its grant is in force and covers its kind, products and columns,
the grant's remaining limits cover its rows, call, price cap and ε, and the buyer's quota has
room. `plan_admission` computes the ask; the grant's own atomic counter decides the limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shuniu.market.catalog import LISTED
from shuniu.market.catalog.verification import answer_refusal, release_epsilon_milli
from shuniu.market.credit import CreditPolicy, Standing, blocked_message
from shuniu.market.grants.use import Ask, check_limits
from shuniu.protos.v1 import catalog_pb2, common_pb2, grants_pb2, jobs_pb2

DEFAULT_MAX_PENDING_JOBS = 1_000


@dataclass(frozen=True)
class Refusal:
    """Why admission refuses: a machine reason ("grant_not_found", "limit:max_rows", …) and the message."""

    reason: str
    message: str
    code: str = "FAILED_PRECONDITION"  # the gRPC status name the edge answers with


@dataclass(frozen=True)
class AdmissionPlan:
    """What an admitted job reads and asks of its grant."""

    product_columns: dict[str, list[str]]
    rows: int
    dp_epsilon_milli: int
    domain_node_ids: tuple[str, ...]  # where its data may be read: the intersection of its products' domains
    anchor_site: str
    quote: jobs_pb2.PriceQuote


def job_epsilon_milli(spec: jobs_pb2.JobSpec, grant: grants_pb2.Grant) -> int:
    """ε the job will spend: its own noise, or the grant's per-job ε when the grant requires noise."""
    own = spec.aggregate.dp_epsilon_milli if spec.WhichOneof("args") == "aggregate" else 0
    if grant.spec.egress.require_dp_noise:
        return max(own, grant.spec.egress.dp_epsilon_per_job_milli)
    return own


def plan_admission(
    spec: jobs_pb2.JobSpec,
    grant: grants_pb2.Grant | None,
    products: Mapping[str, catalog_pb2.Product],
    now_ms: int,
) -> AdmissionPlan | Refusal:
    """Checks the grant's scope and the products; returns what to ask of the grant, or a refusal."""
    if grant is None:
        return Refusal("grant_not_found", f"grant {spec.grant_id!r} not found", "NOT_FOUND")
    if grant.state != grants_pb2.GRANT_STATE_APPROVED:
        state = grants_pb2.GrantState.Name(grant.state).removeprefix("GRANT_STATE_")
        return Refusal(f"grant_{state.lower()}", f"grant {grant.grant_id} is {state}; only an APPROVED grant runs jobs")
    if grant.spec.expires_unix_ms and grant.spec.expires_unix_ms <= now_ms:
        return Refusal("grant_expired", f"grant {grant.grant_id} expired at {grant.spec.expires_unix_ms} (unix ms)")
    if spec.kind not in grant.spec.job_kinds:
        kind = common_pb2.JobKind.Name(spec.kind).removeprefix("JOB_KIND_").lower()
        allowed = ", ".join(common_pb2.JobKind.Name(k).removeprefix("JOB_KIND_").lower() for k in grant.spec.job_kinds)
        return Refusal("job_kind", f"grant {grant.grant_id} does not allow kind {kind}; it allows {allowed}")
    granted = {p.product_id: list(p.columns) for p in grant.spec.products}
    columns: dict[str, list[str]] = {}
    for asked in spec.products:
        if asked.product_id not in granted:
            return Refusal("product_outside_grant", f"product {asked.product_id!r} is not in grant {grant.grant_id}; "
                           f"it covers {', '.join(sorted(granted))}", "PERMISSION_DENIED")
        outside = sorted(set(asked.columns) - set(granted[asked.product_id]))
        if outside:
            return Refusal("columns_outside_grant", f"column(s) {outside} of {asked.product_id} are not granted; "
                           f"granted: {granted[asked.product_id]}", "PERMISSION_DENIED")
        columns[asked.product_id] = list(asked.columns) or granted[asked.product_id]
    missing = sorted(set(columns) - set(products))
    if missing:
        return Refusal("product_not_found", f"product(s) {missing} not found", "NOT_FOUND")
    unlisted = sorted(p for p in columns if products[p].state != LISTED)
    if unlisted:
        return Refusal("product_not_listed", f"product(s) {unlisted} are not LISTED")
    budgeted = answer_refusal(spec, [products[p] for p in columns])  # verification policy, DP bounds
    if budgeted is not None:
        return Refusal(*budgeted)
    domain = set(products[spec.products[0].product_id].spec.domain_node_ids)
    for product_id in columns:
        domain &= set(products[product_id].spec.domain_node_ids)
    if not domain:
        return Refusal("no_common_domain", "the products' data domains share no node, so no node may read them all",
                       "INVALID_ARGUMENT")
    first = products[spec.products[0].product_id]
    quote = jobs_pb2.PriceQuote(
        quote_id="", estimated_max_fen=spec.price_cap_fen, locked_unix_ms=now_ms,
        product_prices=[common_pb2.ProductPriceVersion(product_id=p, price_version=products[p].spec.pricing.price_version)
                        for p in columns],
    )
    return AdmissionPlan(
        product_columns=columns,
        rows=sum(products[p].spec.row_count for p in columns),
        dp_epsilon_milli=max(job_epsilon_milli(spec, grant), release_epsilon_milli(spec, [products[p] for p in columns])),
        domain_node_ids=tuple(sorted(domain)),
        anchor_site=spec.anchor_site or first.spec.home_site,
        quote=quote,
    )


def quota_refusal(pending: int, max_pending: int) -> Refusal | None:
    if pending >= max_pending:
        return Refusal("quota:max_pending_jobs", f"quota max_pending_jobs: {max_pending:,} allowed, "
                       f"{pending:,} queued; wait for jobs to start or ask an operator for more", "RESOURCE_EXHAUSTED")
    return None


def grant_ask(spec: jobs_pb2.JobSpec, plan: AdmissionPlan) -> Ask:
    """What one job counts against its grant's limits: the rows it may read, one call, its price cap, its ε."""
    return Ask(plan.rows, 1, spec.price_cap_fen, plan.dp_epsilon_milli)


def limits_refusal(grant: grants_pb2.Grant, spec: jobs_pb2.JobSpec, plan: AdmissionPlan, now_ms: int) -> Refusal | None:
    """The refusal a submit's grant count would give on the grant as read (counting nothing), or None: a plan's check."""
    decision = check_limits(grant.spec.limits, grant.usage, grant_ask(spec, plan), now_ms)
    return None if decision.allowed else grant_refusal(decision.rule, decision.message)


def grant_refusal(rule: str, message: str) -> Refusal:
    """A refusal from the grant's atomic counter (`UseDecision`), as admission reports it."""
    code = "RESOURCE_EXHAUSTED" if rule.startswith("limit:") else "FAILED_PRECONDITION"
    reason = {"limit:max_budget_fen": "budget"}.get(rule, rule)
    return Refusal(reason, message, code)


# Refusals of a job that reaches outside its grant: a grant violation on the buyer's credit record (信用).
GRANT_VIOLATION_REASONS = frozenset({"product_outside_grant", "columns_outside_grant", "job_kind"})


def credit_refusal(standing: Standing | None, policy: CreditPolicy) -> Refusal | None:
    """A buyer whose credit score is below the admission threshold may not submit; None otherwise."""
    if standing is None or not standing.blocked:
        return None
    return Refusal("credit_blocked", blocked_message(standing, policy))
