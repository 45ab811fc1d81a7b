"""A product's answer budgets: its verification policy (核验) and its differential-privacy defaults. Pure.

A verification claim is answered yes or no, one bit; asked often enough about one record, the
bits pin its value (a range halved each time, then an equality). The policy bounds that: which
operators may be used on which columns, the narrowest range a claim may ask, and how many claims
one grant may make about one key in one period. Sensitive and core products answer no claim
unless their holder declared a policy.

Aggregates of sensitive and core products carry Laplace noise by default; the ε of each release
and the bounds that set the noise's scale are the product's (`PrivacyDefaults`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from shuniu.market.catalog.errors import CatalogError
from shuniu.protos.v1 import catalog_pb2, common_pb2, jobs_pb2

OPERATORS = {"equals": jobs_pb2.CLAIM_OPERATOR_EQUALS, "in_range": jobs_pb2.CLAIM_OPERATOR_IN_RANGE,
             "in_set": jobs_pb2.CLAIM_OPERATOR_IN_SET}
_OPERATOR_NAMES = {v: k for k, v in OPERATORS.items()} | {jobs_pb2.CLAIM_OPERATOR_EXISTS: "exists"}
DEFAULT_PERIOD_S = 30 * 86_400
DEFAULT_EPSILON_PER_RELEASE_MILLI = 1_000  # ε = 1 per release
DEFAULT_GRANT_BUDGET_MILLI = 10_000  # ten releases at the default ε
MAX_EPSILON_MILLI = 100_000
MAX_CLAIMS_PER_KEY = 1_000
# Rules that refuse a claim, as admission names them ("verify_policy:<rule>").
RULE_NO_POLICY = "no_policy"
RULE_KEY_COLUMN = "key_column"
RULE_OPERATOR = "operator"
RULE_RANGE_WIDTH = "range_width"
RULE_PER_KEY = "per_key_limit"
RULES = (RULE_NO_POLICY, RULE_KEY_COLUMN, RULE_OPERATOR, RULE_RANGE_WIDTH, RULE_PER_KEY)


def budgets_apply(product: catalog_pb2.Product) -> bool:
    """Whether answers about the product are budgeted by default: sensitive and core grades."""
    return product.spec.grade >= common_pb2.CLASSIFICATION_GRADE_SENSITIVE


def epsilon_per_release_milli(product: catalog_pb2.Product) -> int:
    """ε one aggregate release of the product spends by default (0 where no noise is required)."""
    if not budgets_apply(product):
        return 0
    return product.spec.privacy.epsilon_per_release_milli or DEFAULT_EPSILON_PER_RELEASE_MILLI


def grant_budget_milli(product: catalog_pb2.Product) -> int:
    """The DP budget a grant on the product gets when it sets none (0 where none is required)."""
    if not budgets_apply(product):
        return 0
    return product.spec.privacy.grant_budget_milli or DEFAULT_GRANT_BUDGET_MILLI


def bounds_of(product: catalog_pb2.Product) -> dict[str, tuple[float, float]]:
    return {b.column: (b.lower, b.upper) for b in product.spec.privacy.bounds}


def check_privacy(spec: catalog_pb2.ProductSpec, columns: Collection[str]) -> None:
    """Raises CatalogError on a malformed `spec.privacy`."""
    privacy = spec.privacy
    for field in ("epsilon_per_release_milli", "grant_budget_milli"):
        value = getattr(privacy, field)
        if not 0 <= value <= MAX_EPSILON_MILLI * 1000:
            raise CatalogError(f"spec.privacy.{field} is {value}; expected 0 (the exchange's default) to "
                               f"{MAX_EPSILON_MILLI * 1000} thousandths of ε")
    if privacy.epsilon_per_release_milli > MAX_EPSILON_MILLI:
        raise CatalogError(f"spec.privacy.epsilon_per_release_milli is {privacy.epsilon_per_release_milli}; "
                           f"expected at most {MAX_EPSILON_MILLI} (ε = {MAX_EPSILON_MILLI // 1000})")
    seen: set[str] = set()
    for i, b in enumerate(privacy.bounds):
        where = f"spec.privacy.bounds[{i}]"
        if b.column not in columns or b.column in seen:
            raise CatalogError(f"{where}.column {b.column!r} is unknown or bounded twice; expected a column of "
                               "spec.schema, once")
        seen.add(b.column)
        if not (math.isfinite(b.lower) and math.isfinite(b.upper) and b.lower < b.upper):
            raise CatalogError(f"{where}: lower {b.lower} and upper {b.upper} of {b.column!r}; expected finite "
                               "numbers with lower < upper")


def check_verification(spec: catalog_pb2.ProductSpec, columns: Collection[str]) -> None:
    """Raises CatalogError on a malformed `spec.verification`."""
    if not spec.HasField("verification"):
        return
    policy = spec.verification
    if not policy.key_columns:
        raise CatalogError("spec.verification.key_columns is empty; expected the columns a claim may name as its "
                           "record's key, e.g. the identifier")
    for i, name in enumerate(policy.key_columns):
        if name not in columns:
            raise CatalogError(f"spec.verification.key_columns[{i}] {name!r} is not in spec.schema")
    if not 1 <= policy.max_claims_per_key <= MAX_CLAIMS_PER_KEY:
        raise CatalogError(f"spec.verification.max_claims_per_key is {policy.max_claims_per_key}; expected 1 to "
                           f"{MAX_CLAIMS_PER_KEY} claims per key per period")
    if policy.period_s < 0:
        raise CatalogError(f"spec.verification.period_s is {policy.period_s}; expected seconds > 0, or 0 for 30 days")
    seen: set[str] = set()
    for i, rule in enumerate(policy.rules):
        where = f"spec.verification.rules[{i}]"
        if rule.column not in columns or rule.column in seen:
            raise CatalogError(f"{where}.column {rule.column!r} is unknown or has two rules; expected a column of "
                               "spec.schema, once")
        seen.add(rule.column)
        unknown = sorted(set(rule.operators) - OPERATORS.keys())
        if not rule.operators or unknown:
            raise CatalogError(f"{where}.operators {list(rule.operators)} of {rule.column!r}; expected some of "
                               f"{', '.join(OPERATORS)}")
        if not (math.isfinite(rule.min_range_width) and rule.min_range_width >= 0):
            raise CatalogError(f"{where}.min_range_width is {rule.min_range_width}; expected a width >= 0")


@dataclass(frozen=True)
class ClaimRefusal:
    """Why a verify job's claims break the product's policy: the rule, and a message naming it."""

    rule: str
    message: str


def _width(claim: jobs_pb2.Claim) -> float | None:
    """high - low of a range claim; infinite when one side is open; None when a bound is not a number."""
    try:
        low = float(claim.low) if claim.low else -math.inf
        high = float(claim.high) if claim.high else math.inf
    except ValueError:
        return None
    return high - low


def claim_refusal(claims: Sequence[jobs_pb2.Claim], product: catalog_pb2.Product) -> ClaimRefusal | None:
    """The first claim the product's verification policy does not allow, or None. No policy: no limits
    below sensitive, no claims from sensitive on."""
    spec = product.spec
    if not spec.HasField("verification"):
        if budgets_apply(product):
            return ClaimRefusal(RULE_NO_POLICY, f"product {product.product_id} is sensitive or core and declares no "
                                "verification policy; it answers no claim")
        return None
    policy = spec.verification
    rules = {r.column: r for r in policy.rules}
    for i, claim in enumerate(claims):
        where = f"verify.claims[{i}]"
        if claim.key_column not in policy.key_columns:
            return ClaimRefusal(RULE_KEY_COLUMN, f"{where}.key_column {claim.key_column!r} is not a key of "
                                f"{product.product_id}'s policy; expected one of {', '.join(policy.key_columns)}")
        if claim.operator == jobs_pb2.CLAIM_OPERATOR_EXISTS:
            continue
        name = _OPERATOR_NAMES.get(claim.operator, str(claim.operator))
        rule = rules.get(claim.column)
        if rule is None or name not in rule.operators or (name == "in_set" and len(claim.values) < 2
                                                          and "equals" not in rule.operators):
            allowed = {r.column: list(r.operators) for r in policy.rules}
            return ClaimRefusal(RULE_OPERATOR, f"{where}: {name} on {claim.column!r} is not allowed by "
                                f"{product.product_id}'s policy; it allows {allowed or 'exists only'}")
        if name == "in_range":
            width = _width(claim)
            if width is None or width < rule.min_range_width:
                shown = "not numeric" if width is None else f"{width:g} wide"
                return ClaimRefusal(RULE_RANGE_WIDTH, f"{where}: the range on {claim.column!r} is {shown}; "
                                    f"{product.product_id}'s policy asks high - low >= {rule.min_range_width:g}")
    return None


def period_index(product: catalog_pb2.Product, now_ms: int) -> tuple[int, int]:
    """(index of the current period, its length in seconds) for the product's per-key claim counts."""
    period_s = product.spec.verification.period_s or DEFAULT_PERIOD_S
    return now_ms // (period_s * 1000), period_s


def key_digest(product_id: str, key_column: str, key_value: str) -> str:
    """A short digest that names a key in counter names, so no raw identifier is stored as a Redis key."""
    return hashlib.sha256(f"{product_id}\x00{key_column}\x00{_canonical(key_value)}".encode()).hexdigest()[:24]


def _canonical(value: str) -> str:
    """One spelling per key the sandbox would match: " EID01" is "eid01", "0012345" is "12345"."""
    text = value.strip().lower()
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number.is_integer():
        return str(int(text)) if text.lstrip("+-").isdigit() else str(int(number))
    return repr(number)


def claims_per_key(claims: Sequence[jobs_pb2.Claim], product_id: str) -> dict[str, int]:
    """How many claims the job makes about each key, by key digest."""
    counts: dict[str, int] = {}
    for claim in claims:
        digest = key_digest(product_id, claim.key_column, claim.key_value)
        counts[digest] = counts.get(digest, 0) + 1
    return counts


def default_grant_budget_milli(job_kinds: Sequence[int], products: Sequence[catalog_pb2.Product]) -> int:
    """The DP budget a grant that set none gets: the smallest default of its budgeted products, when it
    may aggregate; 0 (no limit) when none of its products is budgeted."""
    budgets = [grant_budget_milli(p) for p in products if budgets_apply(p)]
    if common_pb2.JOB_KIND_AGGREGATE not in job_kinds or not budgets:
        return 0
    return min(budgets)


_NEEDS_BOUNDS = (jobs_pb2.AGGREGATE_FUNCTION_SUM, jobs_pb2.AGGREGATE_FUNCTION_MEAN, jobs_pb2.AGGREGATE_FUNCTION_QUANTILE)


def release_epsilon_milli(spec: jobs_pb2.JobSpec, products: Sequence[catalog_pb2.Product]) -> int:
    """ε an aggregate release over `products` spends by default: the largest default among them."""
    if spec.WhichOneof("args") != "aggregate":
        return 0
    return max((epsilon_per_release_milli(p) for p in products), default=0)


def answer_refusal(spec: jobs_pb2.JobSpec, products: Sequence[catalog_pb2.Product]) -> tuple[str, str, str] | None:
    """(reason, message, gRPC status name) when the job asks what its products' budgets do not allow, or None.

    A verify job's claims must fit each product's verification policy; a noisy aggregate may sum,
    average or take quantiles only of columns with declared bounds (they set the noise).
    """
    kind = spec.WhichOneof("args")
    for product in products:
        if kind == "verify":
            refusal = claim_refusal(spec.verify.claims, product)
            if refusal is not None:
                return f"verify_policy:{refusal.rule}", refusal.message, "PERMISSION_DENIED"
        elif kind == "aggregate" and budgets_apply(product):
            bounded = bounds_of(product)
            for agg in spec.aggregate.aggregations:
                if agg.function in _NEEDS_BOUNDS and agg.column not in bounded:
                    return ("dp_bounds", f"{agg.column!r} of {product.product_id} has no declared bounds, so its "
                            "noise cannot be set; sensitive and core products aggregate only bounded columns: "
                            f"{', '.join(sorted(bounded)) or 'none declared'} (counts need none)", "FAILED_PRECONDITION")
    return None
