"""Whether one use (a job, a metered batch) fits its grant: state, expiry, kind, columns, limits. Pure.

`check_use` is the spec of admission; `GrantStore.consume` runs its limit part inside one Lua
script so that concurrent jobs can never overshoot a limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shuniu.market._names import JOB_KIND_NAMES, name_of
from shuniu.market.grants.decisions import APPROVED, effective_state
from shuniu.market.grants.rules import MAX_COUNT
from shuniu.protos.v1 import grants_pb2

# (limit field of GrantLimits, counter field of GrantUsage), in the order they are checked.
LIMIT_COUNTERS = (
    ("max_rows", "rows"),
    ("max_calls", "calls"),
    ("max_budget_fen", "spent_fen"),
    ("max_dp_epsilon_milli", "dp_epsilon_spent_milli"),
)


@dataclass(frozen=True)
class UseDecision:
    """Allowed (with the counters after the use), or refused naming the rule: "state", "job_kind",
    "product", "columns", "not_found" or "limit:<limit field>"."""

    allowed: bool
    rule: str = ""
    message: str = ""
    usage: grants_pb2.GrantUsage | None = None
    # True when the use id had been counted before: nothing was counted and the grant was not checked again.
    repeated: bool = False

    @classmethod
    def refuse(cls, rule: str, message: str) -> UseDecision:
        return cls(False, rule, message)


@dataclass(frozen=True)
class Ask:
    """What one use adds to the grant's counters."""

    rows: int = 0
    calls: int = 0
    spent_fen: int = 0
    dp_epsilon_milli: int = 0

    def __post_init__(self) -> None:
        for name, value in self.amounts():
            # A negative ask would hand budget back; a bug in the caller, never a refusal to report.
            if not 0 <= value <= MAX_COUNT:
                raise ValueError(f"{name} is {value}; expected 0..{MAX_COUNT}")

    def amounts(self) -> tuple[tuple[str, int], ...]:
        return (("rows", self.rows), ("calls", self.calls), ("spent_fen", self.spent_fen),
                ("dp_epsilon_milli", self.dp_epsilon_milli))


@dataclass(frozen=True)
class GrantUse:
    """One use to count against a grant: what it asks, and the ids that make a retry count once."""

    grant_id: str
    kind: int
    product_columns: Mapping[str, Sequence[str]]
    ask: Ask
    now_ms: int
    use_id: str = ""  # a use already counted under this id is not counted again
    running_job_id: str = ""  # recorded as running under the grant in the same step


def check_use(
    grant: grants_pb2.Grant, *, kind: int, product_columns: Mapping[str, Sequence[str]], rows: int, calls: int,
    spent_fen: int, dp_epsilon_milli: int, now_ms: int,
) -> UseDecision:
    """Whether the use fits the grant as it stands (usage counters included); the counters after it if so."""
    ask = Ask(rows, calls, spent_fen, dp_epsilon_milli)
    refusal = check_scope(grant, kind=kind, product_columns=product_columns, now_ms=now_ms)
    if refusal is not None:
        return refusal
    return check_limits(grant.spec.limits, grant.usage, ask, now_ms)


def check_scope(
    grant: grants_pb2.Grant, *, kind: int, product_columns: Mapping[str, Sequence[str]], now_ms: int,
) -> UseDecision | None:
    """The refusal for a use outside what the grant covers (state, expiry, kind, products, columns), or None."""
    state = effective_state(grant, now_ms)
    if state != APPROVED:
        name = grants_pb2.GrantState.Name(state).removeprefix("GRANT_STATE_")
        why = "expired" if name == "EXPIRED" else grant.state_reason
        return UseDecision.refuse("state", f"grant {grant.grant_id} is {name} ({why}); only an APPROVED grant "
                                           "before its expiry can be used")
    if kind not in grant.spec.job_kinds:
        allowed = ", ".join(name_of(JOB_KIND_NAMES, k) for k in grant.spec.job_kinds)
        return UseDecision.refuse("job_kind", f"job kind {name_of(JOB_KIND_NAMES, kind)} not allowed by grant "
                                              f"{grant.grant_id}; it allows {allowed}")
    granted = {item.product_id: set(item.columns) for item in grant.spec.products}
    if not product_columns:
        return UseDecision.refuse("product", f"the use names no product; grant {grant.grant_id} covers "
                                             f"{', '.join(granted)}")
    for product_id, columns in product_columns.items():
        if product_id not in granted:
            return UseDecision.refuse("product", f"product {product_id!r} not covered by grant {grant.grant_id}; "
                                                 f"it covers {', '.join(granted)}")
        outside = sorted(set(columns) - granted[product_id])
        if outside:
            return UseDecision.refuse("columns", f"column {outside[0]!r} of product {product_id!r} not granted by "
                                                 f"grant {grant.grant_id}; granted: "
                                                 f"{', '.join(sorted(granted[product_id]))}")
    return None


def check_limits(limits: grants_pb2.GrantLimits, usage: grants_pb2.GrantUsage, ask: Ask, now_ms: int) -> UseDecision:
    """Whether every counter stays within its limit (0 = not set) after the ask; the counters after it if so."""
    for (limit_name, counter), (_, asked) in zip(LIMIT_COUNTERS, ask.amounts()):
        limit, used = getattr(limits, limit_name), getattr(usage, counter)
        if limit and used + asked > limit:
            return limit_refusal(limit_name, limit, used, asked)
    after = grants_pb2.GrantUsage(updated_unix_ms=now_ms)
    for (_, counter), (_, asked) in zip(LIMIT_COUNTERS, ask.amounts()):
        setattr(after, counter, getattr(usage, counter) + asked)
    return UseDecision(True, usage=after)


def limit_refusal(limit_name: str, limit: int, used: int, asked: int) -> UseDecision:
    """e.g. "limit max_rows: 1,000,000 allowed, 999,000 used, 5,000 asked"."""
    return UseDecision.refuse(f"limit:{limit_name}",
                              f"limit {limit_name}: {limit:,} allowed, {used:,} used, {asked:,} asked")
