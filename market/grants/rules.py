"""Checks of a grant application (一场景一申请): its own fields, then the products it names. Pure functions.

A refusal is a `GrantRefusal` carrying a status kind (what the gRPC edge turns into a code),
a machine-readable reason and a message that names the field or rule and what would be accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shuniu.market._names import GRADE_NAMES, JOB_KIND_NAMES, PURPOSE_CATEGORY_NAMES, expected, name_of
from shuniu.market.negative_list import refusal_for_use, refusal_message
from shuniu.protos.v1 import analyses_pb2, catalog_pb2, common_pb2, grants_pb2, negative_list_pb2

INVALID = "invalid_argument"
NOT_FOUND = "not_found"
PRECONDITION = "failed_precondition"

DAY_MS = 86_400_000
# Limits and asks stay below 2^53 so that the Lua admission script compares them exactly.
MAX_COUNT = 10**15
_BUYER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_PURPOSE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_MAX_SCENARIO = 256
_MAX_JUSTIFICATION = 2000
_MAX_COLUMNS = 256
_MAX_GROUP_SIZE = 1_000_000
_MAX_ANALYSES = 32

LIMIT_FIELDS = ("max_rows", "max_calls", "max_budget_fen", "max_dp_epsilon_milli")


class GrantRefusal(Exception):
    """A grant request that must be refused; `kind` is INVALID, NOT_FOUND or PRECONDITION."""

    def __init__(self, kind: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.reason = reason
        self.message = message


def invalid(field: str, message: str) -> GrantRefusal:
    return GrantRefusal(INVALID, f"invalid:{field}", message)


@dataclass(frozen=True)
class GrantPolicy:
    """What the exchange allows and approves by itself.

    internal_auto_*: an internal-grade grant is approved automatically when every one of its
    limits is set and within these ceilings; otherwise it waits for an operator.
    limits_required_from_grade: from this grade on, max_rows and max_calls must be set (not 0).
    """

    max_validity_ms: int = 365 * DAY_MS
    max_products: int = 16
    internal_auto_max_rows: int = 10_000_000
    internal_auto_max_calls: int = 10_000
    internal_auto_max_budget_fen: int = 1_000_000
    internal_auto_max_validity_ms: int = 90 * DAY_MS
    limits_required_from_grade: int = common_pb2.CLASSIFICATION_GRADE_SENSITIVE

    def __post_init__(self) -> None:
        if not 0 < self.internal_auto_max_validity_ms <= self.max_validity_ms:
            raise ValueError("expected 0 < internal_auto_max_validity_ms <= max_validity_ms")
        for name in ("max_products", "internal_auto_max_rows", "internal_auto_max_calls",
                     "internal_auto_max_budget_fen"):
            if not 0 < getattr(self, name) <= MAX_COUNT:
                raise ValueError(f"{name} {getattr(self, name)} out of range; expected 1..{MAX_COUNT}")


def check_fields(spec: grants_pb2.GrantSpec, now_ms: int, policy: GrantPolicy) -> None:
    """Checks what the spec says on its own, before any product is read."""
    if not _BUYER_ID.match(spec.buyer_id):
        raise invalid("buyer_id", f"buyer_id {spec.buyer_id!r} is malformed; expected 1-128 characters of "
                      "letters, digits, '.', '_', ':' or '-', starting with a letter or digit")
    if not spec.scenario.strip() or len(spec.scenario) > _MAX_SCENARIO:
        raise invalid("scenario", f"scenario has {len(spec.scenario.strip())} characters; expected one scenario "
                      f"described in 1-{_MAX_SCENARIO} characters (一场景一申请)")
    if not _PURPOSE.match(spec.purpose):
        raise invalid("purpose", f"purpose {spec.purpose!r} is malformed; expected a purpose code of 1-64 "
                      "characters a-z, 0-9, '.', '_' or '-' (one the products allow)")
    if spec.purpose_category not in PURPOSE_CATEGORY_NAMES:
        raise invalid("purpose_category", f"purpose_category {spec.purpose_category} unknown; "
                      f"expected one of {expected(PURPOSE_CATEGORY_NAMES)}")
    if len(spec.justification) > _MAX_JUSTIFICATION:
        raise invalid("justification", f"justification has {len(spec.justification)} characters; "
                      f"expected at most {_MAX_JUSTIFICATION}")
    _check_job_kinds(spec.job_kinds)
    _check_analysis_ids(spec)
    _check_products_shape(spec.products, policy)
    _check_expiry(spec.expires_unix_ms, now_ms, policy)
    _check_limits(spec.limits)
    _check_egress(spec.egress, spec.limits)


def _check_job_kinds(kinds: Sequence[int]) -> None:
    if not kinds:
        raise invalid("job_kinds", f"job_kinds is empty; expected some of {expected(JOB_KIND_NAMES)}")
    for kind in kinds:
        if kind not in JOB_KIND_NAMES:
            raise invalid("job_kinds", f"job_kinds has {kind}, unknown; expected some of {expected(JOB_KIND_NAMES)}")
    if len(set(kinds)) != len(kinds):
        raise invalid("job_kinds", "job_kinds names a kind twice; expected each kind at most once")


def _check_analysis_ids(spec: grants_pb2.GrantSpec) -> None:
    ids = list(spec.analysis_ids)
    if not ids:
        return
    if common_pb2.JOB_KIND_CUSTOM not in spec.job_kinds:
        raise invalid("analysis_ids", "analysis_ids is set but job_kinds lacks custom; expected analyses only for a "
                      "grant of custom jobs")
    if len(ids) > _MAX_ANALYSES or len(set(ids)) != len(ids) or not all(0 < len(i) <= 64 for i in ids):
        raise invalid("analysis_ids", f"analysis_ids has {len(ids)} ids; expected at most {_MAX_ANALYSES} distinct "
                      "ids of approved analyses (see `shuniu analyses ls`)")


def check_analyses(spec: grants_pb2.GrantSpec, products: Mapping[str, catalog_pb2.Product],
                   analyses: Mapping[str, analyses_pb2.Analysis]) -> None:
    """Rule approved-analysis: custom jobs on a product above public run only analyses the grant names; each
    named analysis must be APPROVED and for a product of the grant."""
    granted = {item.product_id for item in spec.products}
    for analysis_id in spec.analysis_ids:
        analysis = analyses.get(analysis_id)
        if analysis is None:
            raise GrantRefusal(NOT_FOUND, f"unknown_analysis:{analysis_id}", f"analysis {analysis_id!r} not found; "
                               "expected an approved analysis (see `shuniu analyses ls`)")
        if analysis.state != analyses_pb2.ANALYSIS_STATE_APPROVED:
            state = analyses_pb2.AnalysisState.Name(analysis.state).removeprefix("ANALYSIS_STATE_")
            raise GrantRefusal(PRECONDITION, f"analysis_not_approved:{analysis_id}", f"rule approved-analysis: "
                               f"analysis {analysis_id} is {state}; a grant names only APPROVED analyses")
        if analysis.spec.product_id not in granted:
            raise GrantRefusal(PRECONDITION, f"analysis_product:{analysis_id}", f"rule approved-analysis: analysis "
                               f"{analysis_id} is for product {analysis.spec.product_id!r}, which the grant does not "
                               "cover; expected analyses of the grant's products")
    if common_pb2.JOB_KIND_CUSTOM not in spec.job_kinds:
        return
    covered = {analyses[i].spec.product_id for i in spec.analysis_ids}
    for item in spec.products:
        product = products.get(item.product_id)
        if product is not None and product.spec.grade > common_pb2.CLASSIFICATION_GRADE_PUBLIC \
                and item.product_id not in covered:
            raise GrantRefusal(PRECONDITION, f"approved_analysis_required:{item.product_id}",
                               f"rule approved-analysis: product {item.product_id!r} is "
                               f"{name_of(GRADE_NAMES, product.spec.grade)}; custom jobs on it run only approved "
                               "analyses, so a grant of kind custom names at least one of its APPROVED analyses "
                               f"(analysis_ids; see `shuniu analyses ls --product {item.product_id}`)")


def _check_products_shape(products: Sequence[common_pb2.ProductColumns], policy: GrantPolicy) -> None:
    if not 0 < len(products) <= policy.max_products:
        raise invalid("products", f"{len(products)} products; expected 1-{policy.max_products}, each with its columns")
    seen: set[str] = set()
    for i, item in enumerate(products):
        if not item.product_id:
            raise invalid("products", f"products[{i}].product_id is empty; expected a listed product's id")
        if item.product_id in seen:
            raise invalid("products", f"products: {item.product_id!r} named twice; expected each product once, "
                          "with all its columns")
        seen.add(item.product_id)
        if not 0 < len(item.columns) <= _MAX_COLUMNS:
            raise invalid("products", f"products: {item.product_id!r} names {len(item.columns)} columns; "
                          f"expected 1-{_MAX_COLUMNS} columns of its schema")
        if len(set(item.columns)) != len(item.columns):
            raise invalid("products", f"products: {item.product_id!r} names a column twice; expected each column once")


def _check_expiry(expires_unix_ms: int, now_ms: int, policy: GrantPolicy) -> None:
    latest_ms = now_ms + policy.max_validity_ms
    if not now_ms < expires_unix_ms <= latest_ms:
        raise invalid("expires_unix_ms", f"expires_unix_ms {expires_unix_ms} is "
                      f"{'not in the future' if expires_unix_ms <= now_ms else 'too far ahead'}; expected a time after "
                      f"now ({now_ms}) and at most {policy.max_validity_ms // DAY_MS} days ahead ({latest_ms})")


def _check_limits(limits: grants_pb2.GrantLimits) -> None:
    for name in LIMIT_FIELDS:
        value = getattr(limits, name)
        if not 0 <= value <= MAX_COUNT:
            raise invalid(f"limits.{name}", f"limits.{name} is {value}; expected 0 (not set) to {MAX_COUNT:,}")


def _check_egress(egress: grants_pb2.EgressProfile, limits: grants_pb2.GrantLimits) -> None:
    for name in ("max_output_rows", "max_output_bytes", "dp_epsilon_per_job_milli"):
        value = getattr(egress, name)
        if not 0 <= value <= MAX_COUNT:
            raise invalid(f"egress.{name}", f"egress.{name} is {value}; expected 0 (not set) to {MAX_COUNT:,}")
    if not 0 <= egress.min_group_size <= _MAX_GROUP_SIZE:
        raise invalid("egress.min_group_size", f"egress.min_group_size is {egress.min_group_size}; "
                      f"expected 0 (the fixed default) to {_MAX_GROUP_SIZE:,}")
    if egress.require_dp_noise:
        if egress.dp_epsilon_per_job_milli <= 0:
            raise invalid("egress.dp_epsilon_per_job_milli", "egress.require_dp_noise is set but "
                          "dp_epsilon_per_job_milli is 0; expected the ε each noisy output spends, > 0 (thousandths)")
        if not 0 < egress.dp_epsilon_per_job_milli <= limits.max_dp_epsilon_milli:
            raise invalid("limits.max_dp_epsilon_milli",
                          f"limits.max_dp_epsilon_milli is {limits.max_dp_epsilon_milli} "
                          f"but each noisy output spends {egress.dp_epsilon_per_job_milli}; expected a DP budget ≥ "
                          "dp_epsilon_per_job_milli when require_dp_noise is set")
    elif egress.dp_epsilon_per_job_milli:
        raise invalid("egress.dp_epsilon_per_job_milli", "egress.dp_epsilon_per_job_milli is set without "
                      "require_dp_noise; expected 0, or set require_dp_noise")


def check_products(
    spec: grants_pb2.GrantSpec, products: Mapping[str, catalog_pb2.Product],
    entries: Sequence[negative_list_pb2.NegativeListEntry], policy: GrantPolicy,
) -> None:
    """Checks the spec against each product it names and against the negative list (负面清单)."""
    for item in spec.products:
        product = products.get(item.product_id)
        if product is None:
            raise GrantRefusal(NOT_FOUND, f"unknown_product:{item.product_id}",
                               f"product {item.product_id!r} not found; expected a listed product "
                               "(see `shuniu products ls`)")
        _check_product(spec, item, product, entries, policy)


def _check_product(
    spec: grants_pb2.GrantSpec, item: common_pb2.ProductColumns, product: catalog_pb2.Product,
    entries: Sequence[negative_list_pb2.NegativeListEntry], policy: GrantPolicy,
) -> None:
    pid, pspec = product.product_id, product.spec
    if product.state != catalog_pb2.PRODUCT_STATE_LISTED:
        state = catalog_pb2.ProductState.Name(product.state)
        raise GrantRefusal(PRECONDITION, f"product_not_listed:{pid}",
                           f"product {pid!r} is {state}, not LISTED; grants may name listed products only")
    tags_by_column = {c.name: list(c.tags) for c in pspec.schema}
    unknown = [c for c in item.columns if c not in tags_by_column]
    if unknown:
        raise invalid("products.columns", f"product {pid!r} has no column {unknown[0]!r}; expected some of "
                      f"{', '.join(sorted(tags_by_column))}")
    if spec.purpose not in pspec.allowed_purposes:
        allowed = ", ".join(pspec.allowed_purposes) or "none declared"
        raise invalid("purpose", f"purpose {spec.purpose!r} not allowed by product {pid!r}; expected one of {allowed}")
    refused_kinds = [k for k in spec.job_kinds if k not in pspec.allowed_job_kinds]
    if refused_kinds:
        allowed = ", ".join(name_of(JOB_KIND_NAMES, k) for k in pspec.allowed_job_kinds) or "none declared"
        raise invalid("job_kinds", f"job kind {name_of(JOB_KIND_NAMES, refused_kinds[0])} not allowed by product "
                      f"{pid!r}; expected some of {allowed}")
    grade = pspec.grade
    if grade == common_pb2.CLASSIFICATION_GRADE_CORE and set(spec.job_kinds) != {common_pb2.JOB_KIND_VERIFY}:
        raise invalid("job_kinds", f"product {pid!r} is core data (核心数据), for verification only; "
                      "expected job_kinds = verify")
    if grade >= policy.limits_required_from_grade:
        for name in ("max_rows", "max_calls"):
            if getattr(spec.limits, name) == 0:
                raise invalid(f"limits.{name}", f"limits.{name} is 0 (not set) but product {pid!r} is "
                              f"{name_of(GRADE_NAMES, grade)}; expected a limit > 0")
    entry = refusal_for_use(
        entries, column_tags=[t for c in item.columns for t in tags_by_column[c]], grade=grade,
        job_kinds=spec.job_kinds, purpose=spec.purpose, purpose_category=spec.purpose_category,
    )
    if entry is not None:
        raise GrantRefusal(PRECONDITION, f"negative_list:{entry.entry_id}",
                           f"product {pid!r}: {refusal_message(entry)}")
