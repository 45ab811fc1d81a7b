"""Who decides a grant (一场景一授权) and how it moves: auto-approval by grade, operator transitions, expiry. Pure.

state_reason is machine-readable before any ':' and may carry the operator's words after it:
  auto:public, auto:internal_within_limits          approved by policy
  needs_operator:grade_sensitive, …:grade_core,     pending
  needs_operator:internal_<limit or validity>
  needs_operator:credit_score (…)                    pending: the buyer's credit score is below the threshold
  operator_approved[: note], operator_rejected: why, operator_revoked: why
  expired                                            set on read once expires_unix_ms has passed
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shuniu.market.catalog.verification import default_grant_budget_milli
from shuniu.market.grants.rules import PRECONDITION, GrantPolicy, GrantRefusal, invalid
from shuniu.protos.v1 import catalog_pb2, common_pb2, grants_pb2

PENDING = grants_pb2.GRANT_STATE_PENDING
APPROVED = grants_pb2.GRANT_STATE_APPROVED
REJECTED = grants_pb2.GRANT_STATE_REJECTED
REVOKED = grants_pb2.GRANT_STATE_REVOKED
EXPIRED = grants_pb2.GRANT_STATE_EXPIRED
AUTO = grants_pb2.APPROVAL_MODE_AUTO
OPERATOR = grants_pb2.APPROVAL_MODE_OPERATOR

_MAX_REASON = 512


@dataclass(frozen=True)
class Decision:
    """The outcome of an application: APPROVED by policy, or PENDING for an operator, and why."""

    state: int
    mode: int
    reason: str


def grant_grade(spec: grants_pb2.GrantSpec, products: Mapping[str, catalog_pb2.Product]) -> int:
    """The strictest grade among the products a grant names: it decides for the whole grant."""
    return max(products[item.product_id].spec.grade for item in spec.products)


def decide(
    spec: grants_pb2.GrantSpec, products: Mapping[str, catalog_pb2.Product], policy: GrantPolicy, now_ms: int,
    credit_hold: str = "",
) -> Decision:
    """Auto-approval by grade: public at once, internal within the policy's ceilings, the rest by an operator.

    `credit_hold` (why the buyer's credit score is below the auto-approval threshold, 信用) turns what
    policy would approve into a wait for an operator.
    """
    decision = _decide_by_grade(spec, products, policy, now_ms)
    if credit_hold and decision.state == APPROVED:
        return Decision(PENDING, OPERATOR, f"needs_operator:credit_score ({credit_hold})")
    return decision


def _decide_by_grade(
    spec: grants_pb2.GrantSpec, products: Mapping[str, catalog_pb2.Product], policy: GrantPolicy, now_ms: int,
) -> Decision:
    grade = grant_grade(spec, products)
    if grade == common_pb2.CLASSIFICATION_GRADE_PUBLIC:
        return Decision(APPROVED, AUTO, "auto:public")
    if grade == common_pb2.CLASSIFICATION_GRADE_INTERNAL:
        over = _over_internal_ceiling(spec, policy, now_ms)
        if over is None:
            return Decision(APPROVED, AUTO, "auto:internal_within_limits")
        return Decision(PENDING, OPERATOR, f"needs_operator:internal_{over}")
    if grade == common_pb2.CLASSIFICATION_GRADE_SENSITIVE:
        return Decision(PENDING, OPERATOR, "needs_operator:grade_sensitive")
    assert grade == common_pb2.CLASSIFICATION_GRADE_CORE, f"product grade {grade} unknown"
    return Decision(PENDING, OPERATOR, "needs_operator:grade_core")


def _over_internal_ceiling(spec: grants_pb2.GrantSpec, policy: GrantPolicy, now_ms: int) -> str | None:
    """The first limit that is unset (0) or above the auto-approval ceiling, or None."""
    for name, ceiling in (("max_rows", policy.internal_auto_max_rows), ("max_calls", policy.internal_auto_max_calls),
                          ("max_budget_fen", policy.internal_auto_max_budget_fen)):
        value = getattr(spec.limits, name)
        if value == 0 or value > ceiling:
            return name
    if spec.expires_unix_ms - now_ms > policy.internal_auto_max_validity_ms:
        return "validity"
    return None


def price_versions(
    spec: grants_pb2.GrantSpec, products: Mapping[str, catalog_pb2.Product],
) -> list[common_pb2.ProductPriceVersion]:
    """The price version in force of each product, in the spec's order: what billing will quote."""
    return [common_pb2.ProductPriceVersion(product_id=item.product_id,
                                           price_version=products[item.product_id].spec.pricing.price_version)
            for item in spec.products]


def new_grant(
    grant_id: str, request_id: str, spec: grants_pb2.GrantSpec, decision: Decision,
    products: Mapping[str, catalog_pb2.Product], now_ms: int,
) -> grants_pb2.Grant:
    grant = grants_pb2.Grant(grant_id=grant_id, spec=spec, state=decision.state, state_reason=decision.reason,
                             approval_mode=decision.mode, applied_unix_ms=now_ms, request_id=request_id)
    if not spec.limits.max_dp_epsilon_milli:  # sensitive and core aggregates are noisy: their ε needs a budget
        grant.spec.limits.max_dp_epsilon_milli = default_grant_budget_milli(
            spec.job_kinds, [products[item.product_id] for item in spec.products])
    if decision.state == APPROVED:
        grant.decided_unix_ms = now_ms
        grant.product_prices.extend(price_versions(spec, products))
    return grant


def effective_state(grant: grants_pb2.Grant, now_ms: int) -> int:
    """The state as of `now_ms`: a pending or approved grant past its expiry counts as EXPIRED."""
    if grant.state in (PENDING, APPROVED) and now_ms >= grant.spec.expires_unix_ms:
        return EXPIRED
    return grant.state


def as_read(grant: grants_pb2.Grant, now_ms: int) -> grants_pb2.Grant:
    """The grant as callers see it at `now_ms` (expiry applied); the stored record is left alone."""
    state = effective_state(grant, now_ms)
    if state == grant.state:
        return grant
    shown = grants_pb2.Grant()
    shown.CopyFrom(grant)
    shown.state, shown.state_reason = state, "expired"
    return shown


def approve(
    grant: grants_pb2.Grant, *, operator: str, note: str, products: Mapping[str, catalog_pb2.Product], now_ms: int,
) -> grants_pb2.Grant:
    """An operator approves a pending grant; the prices in force now are locked into it."""
    require_state(grant, PENDING, "approved", now_ms)
    decided = _decided(grant, APPROVED, _reason("operator_approved", note, "note", required=False), operator, now_ms)
    del decided.product_prices[:]
    decided.product_prices.extend(price_versions(grant.spec, products))
    return decided


def reject(grant: grants_pb2.Grant, *, operator: str, reason: str, now_ms: int) -> grants_pb2.Grant:
    """An operator rejects a pending grant, saying why."""
    require_state(grant, PENDING, "rejected", now_ms)
    return _decided(grant, REJECTED, _reason("operator_rejected", reason, "reason", required=True), operator, now_ms)


def revoke(grant: grants_pb2.Grant, *, operator: str, reason: str, now_ms: int) -> grants_pb2.Grant:
    """An operator withdraws an approved grant, saying why; its running jobs are to be cancelled."""
    require_state(grant, APPROVED, "revoked", now_ms)
    revoked = _decided(grant, REVOKED, _reason("operator_revoked", reason, "reason", required=True), operator, now_ms)
    # The approval's decider and time stay on record; the revocation has its own time.
    revoked.decided_by, revoked.decided_unix_ms = grant.decided_by, grant.decided_unix_ms
    revoked.revoked_unix_ms = now_ms
    return revoked


def require_state(grant: grants_pb2.Grant, wanted: int, verb: str, now_ms: int) -> None:
    """Refuses (FAILED_PRECONDITION naming the state) unless the grant is in `wanted` at `now_ms`."""
    state = effective_state(grant, now_ms)
    if state != wanted:
        name = grants_pb2.GrantState.Name(state).removeprefix("GRANT_STATE_")
        reason = "expired" if state == EXPIRED else grant.state_reason
        raise GrantRefusal(PRECONDITION, f"state:{name.lower()}",
                           f"grant {grant.grant_id} is {name} ({reason}); only a "
                           f"{grants_pb2.GrantState.Name(wanted).removeprefix('GRANT_STATE_')} grant can be {verb}")


def _decided(grant: grants_pb2.Grant, state: int, reason: str, operator: str, now_ms: int) -> grants_pb2.Grant:
    decided = grants_pb2.Grant()
    decided.CopyFrom(grant)
    decided.state, decided.state_reason = state, reason
    decided.approval_mode, decided.decided_by, decided.decided_unix_ms = OPERATOR, operator, now_ms
    return decided


def _reason(code: str, text: str, field: str, required: bool) -> str:
    text = text.strip()
    if required and not text:
        raise invalid(field, f"{field} is empty; expected why, in 1-{_MAX_REASON} characters (kept on the grant)")
    if len(text) > _MAX_REASON:
        raise invalid(field, f"{field} has {len(text)} characters; expected at most {_MAX_REASON}")
    return f"{code}: {text}" if text else code
