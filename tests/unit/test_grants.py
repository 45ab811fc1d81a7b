"""Grant rules as pure functions: validation, auto-approval by grade, transitions, expiry and use limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shuniu.cli.grants_cmd import parse_expiry, parse_product_columns
from shuniu.market import grants
from shuniu.market.grants.rules import DAY_MS, INVALID, NOT_FOUND, PRECONDITION
from shuniu.protos.v1 import catalog_pb2, common_pb2, grants_pb2, negative_list_pb2

NOW_MS = 1_750_000_000_000
PUBLIC, INTERNAL, SENSITIVE, CORE = (common_pb2.CLASSIFICATION_GRADE_PUBLIC, common_pb2.CLASSIFICATION_GRADE_INTERNAL,
                                     common_pb2.CLASSIFICATION_GRADE_SENSITIVE, common_pb2.CLASSIFICATION_GRADE_CORE)
AGGREGATE, VERIFY, MODEL, CUSTOM = (common_pb2.JOB_KIND_AGGREGATE, common_pb2.JOB_KIND_VERIFY,
                                    common_pb2.JOB_KIND_MODEL, common_pb2.JOB_KIND_CUSTOM)
COMMERCIAL = common_pb2.PURPOSE_CATEGORY_COMMERCIAL
POLICY = grants.GrantPolicy()


def product(pid: str = "p-power", grade: int = PUBLIC, state: int = catalog_pb2.PRODUCT_STATE_LISTED,
            kinds=(AGGREGATE, VERIFY, MODEL), price_version: int = 3) -> catalog_pb2.Product:
    schema = [catalog_pb2.Column(name="city", arrow_type="string"),
              catalog_pb2.Column(name="kwh", arrow_type="double"),
              catalog_pb2.Column(name="id_no", arrow_type="string", tags=["id_card_number"]),
              catalog_pb2.Column(name="diagnosis", arrow_type="string", tags=["health"])]
    return catalog_pb2.Product(
        product_id=pid, state=state,
        spec=catalog_pb2.ProductSpec(grade=grade, schema=schema, allowed_purposes=["credit", "planning"],
                                     allowed_job_kinds=list(kinds),
                                     pricing=catalog_pb2.Pricing(price_version=price_version)))


def spec(products=(("p-power", ("city", "kwh")),), **overrides) -> grants_pb2.GrantSpec:
    fields = dict(
        buyer_id="bank-luoyang", scenario="SME credit scoring, Luoyang", purpose="credit",
        purpose_category=COMMERCIAL, job_kinds=[AGGREGATE],
        products=[common_pb2.ProductColumns(product_id=p, columns=list(c)) for p, c in products],
        expires_unix_ms=NOW_MS + 30 * DAY_MS,
        limits=grants_pb2.GrantLimits(max_rows=1_000_000, max_calls=100, max_budget_fen=50_000),
    )
    fields.update(overrides)
    return grants_pb2.GrantSpec(**fields)


def entry(entry_id: str = "nl-1", **fields) -> negative_list_pb2.NegativeListEntry:
    return negative_list_pb2.NegativeListEntry(entry_id=entry_id, reason="not tradable", **fields)


def refusal(call) -> grants.GrantRefusal:
    with pytest.raises(grants.GrantRefusal) as err:
        call()
    return err.value


# -- the spec's own fields ------------------------------------------------------------------

FIELD_CASES = [
    ("bad-buyer", dict(buyer_id=""), "buyer_id"),
    ("no-scenario", dict(scenario="  "), "scenario"),
    ("bad-purpose", dict(purpose="Credit Scoring"), "purpose"),
    ("no-category", dict(purpose_category=0), "purpose_category"),
    ("no-kind", dict(job_kinds=[]), "job_kinds"),
    ("unknown-kind", dict(job_kinds=[9]), "job_kinds"),
    ("twice-kind", dict(job_kinds=[AGGREGATE, AGGREGATE]), "job_kinds"),
    ("no-products", dict(products=[]), "products"),
    ("no-columns", dict(products=[("p-power", ())]), "products"),
    ("product-twice", dict(products=[("p", ["a"])] * 2), "products"),
    ("expired", dict(expires_unix_ms=NOW_MS - 1), "expires_unix_ms"),
    ("too-long", dict(expires_unix_ms=NOW_MS + 366 * DAY_MS), "expires_unix_ms"),
    ("negative-limit", dict(limits=grants_pb2.GrantLimits(max_rows=-1)), "limits.max_rows"),
    ("huge-budget", dict(limits=grants_pb2.GrantLimits(max_budget_fen=10**16)), "limits.max_budget_fen"),
    ("negative-output-rows", dict(egress=grants_pb2.EgressProfile(max_output_rows=-5)), "egress.max_output_rows"),
    ("negative-k", dict(egress=grants_pb2.EgressProfile(min_group_size=-1)), "egress.min_group_size"),
    ("dp-without-per-job", dict(egress=grants_pb2.EgressProfile(require_dp_noise=True)),
     "egress.dp_epsilon_per_job_milli"),
    ("dp-over-budget", dict(egress=grants_pb2.EgressProfile(require_dp_noise=True, dp_epsilon_per_job_milli=500),
                            limits=grants_pb2.GrantLimits(max_dp_epsilon_milli=100)), "limits.max_dp_epsilon_milli"),
    ("dp-per-job-alone", dict(egress=grants_pb2.EgressProfile(dp_epsilon_per_job_milli=500)),
     "egress.dp_epsilon_per_job_milli"),
]


@pytest.mark.parametrize(("overrides", "field"), [c[1:] for c in FIELD_CASES], ids=[c[0] for c in FIELD_CASES])
def test_malformed_field_is_refused_naming_it(overrides, field):
    err = refusal(lambda: grants.check_fields(spec(**overrides), NOW_MS, POLICY))
    assert err.kind == INVALID and err.reason == f"invalid:{field}"
    assert field.split(".")[-1] in err.message and "expected" in err.message


def test_well_formed_spec_passes_field_checks():
    grants.check_fields(spec(egress=grants_pb2.EgressProfile(require_dp_noise=True, dp_epsilon_per_job_milli=100),
                             limits=grants_pb2.GrantLimits(max_dp_epsilon_milli=1000)), NOW_MS, POLICY)


# -- the spec against its products and the negative list ------------------------------------

PRODUCT_CASES = [
    ("unknown-product", spec(products=[("p-nope", ["city"])]), {}, (), NOT_FOUND, "unknown_product:p-nope"),
    ("not-listed", spec(), {"p-power": product(state=catalog_pb2.PRODUCT_STATE_UNDER_REVIEW)}, (), PRECONDITION,
     "product_not_listed:p-power"),
    ("unknown-column", spec(products=[("p-power", ["city", "salary"])]), {}, (), INVALID, "invalid:products.columns"),
    ("purpose-not-allowed", spec(purpose="marketing"), {}, (), INVALID, "invalid:purpose"),
    ("kind-not-allowed", spec(job_kinds=[CUSTOM]), {}, (), INVALID, "invalid:job_kinds"),
    ("core-needs-verify-only", spec(job_kinds=[VERIFY, AGGREGATE]), {"p-power": product(grade=CORE)}, (), INVALID,
     "invalid:job_kinds"),
    ("sensitive-needs-row-limit", spec(limits=grants_pb2.GrantLimits(max_calls=5)),
     {"p-power": product(grade=SENSITIVE)}, (), INVALID, "invalid:limits.max_rows"),
    ("negative-list-column-tag", spec(products=[("p-power", ["city", "id_no"])]), {},
     (entry(column_tag="id_card_number"),), PRECONDITION, "negative_list:nl-1"),
    ("negative-list-purpose-category", spec(), {}, (entry("nl-7", purpose_category=COMMERCIAL, grade=PUBLIC),),
     PRECONDITION, "negative_list:nl-7"),
    ("negative-list-kind-and-tag", spec(products=[("p-power", ["diagnosis"])], job_kinds=[MODEL]), {},
     (entry("nl-2", column_tag="health", job_kind=MODEL),), PRECONDITION, "negative_list:nl-2"),
]


@pytest.mark.parametrize(("grant_spec", "products", "entries", "kind", "reason"), [c[1:] for c in PRODUCT_CASES],
                         ids=[c[0] for c in PRODUCT_CASES])
def test_spec_against_products_refuses_with_rule(grant_spec, products, entries, kind, reason):
    products = products or {"p-power": product()}
    err = refusal(lambda: grants.check_products(grant_spec, products, list(entries), POLICY))
    assert (err.kind, err.reason) == (kind, reason)


def test_negative_list_refusal_names_entry_and_reason():
    entries = [entry("nl-9", column_tag="id_card_number", legal_basis="PIPL art. 28")]
    err = refusal(lambda: grants.check_products(spec(products=[("p-power", ["id_no"])]), {"p-power": product()},
                                                entries, POLICY))
    assert "nl-9" in err.message and "id_card_number" in err.message and "PIPL art. 28" in err.message


@pytest.mark.parametrize(
    "entries",
    [[entry(column_tag="id_card_number")], [entry(column_tag="health", job_kind=MODEL)],
     [entry(purpose="marketing")], [entry(grade=SENSITIVE)]],
    ids=["tag-of-ungranted-column", "tag-with-other-kind", "other-purpose", "other-grade"],
)
def test_negative_list_entry_that_does_not_match_the_use_lets_it_pass(entries):
    grants.check_products(spec(products=[("p-power", ["city", "diagnosis"])]), {"p-power": product()}, entries, POLICY)


# -- auto-approval by grade (分类分级) -------------------------------------------------------

APPROVED, PENDING = grants_pb2.GRANT_STATE_APPROVED, grants_pb2.GRANT_STATE_PENDING
AUTO, OPERATOR = grants_pb2.APPROVAL_MODE_AUTO, grants_pb2.APPROVAL_MODE_OPERATOR
DECISION_CASES = [
    ("public", [PUBLIC], {}, APPROVED, AUTO, "auto:public"),
    ("public-unlimited", [PUBLIC], dict(limits=grants_pb2.GrantLimits()), APPROVED, AUTO, "auto:public"),
    ("internal-within", [INTERNAL], {}, APPROVED, AUTO, "auto:internal_within_limits"),
    ("internal-rows-unset", [INTERNAL], dict(limits=grants_pb2.GrantLimits(max_calls=5, max_budget_fen=5)),
     PENDING, OPERATOR, "needs_operator:internal_max_rows"),
    ("internal-calls-over", [INTERNAL], dict(limits=grants_pb2.GrantLimits(max_rows=5, max_calls=10_001,
                                                                           max_budget_fen=5)),
     PENDING, OPERATOR, "needs_operator:internal_max_calls"),
    ("internal-long", [INTERNAL], dict(expires_unix_ms=NOW_MS + 91 * DAY_MS), PENDING, OPERATOR,
     "needs_operator:internal_validity"),
    ("sensitive", [SENSITIVE], {}, PENDING, OPERATOR, "needs_operator:grade_sensitive"),
    ("core", [CORE], dict(job_kinds=[VERIFY]), PENDING, OPERATOR, "needs_operator:grade_core"),
    ("strictest-wins", [PUBLIC, SENSITIVE], {}, PENDING, OPERATOR, "needs_operator:grade_sensitive"),
]


@pytest.mark.parametrize(("grades", "overrides", "state", "mode", "reason"), [c[1:] for c in DECISION_CASES],
                         ids=[c[0] for c in DECISION_CASES])
def test_auto_approval_by_grade(grades, overrides, state, mode, reason):
    products = {f"p{i}": product(f"p{i}", grade) for i, grade in enumerate(grades)}
    grant_spec = spec(products=[(pid, ["city"]) for pid in products], **overrides)
    grants.check_products(grant_spec, products, [], POLICY)
    assert grants.decide(grant_spec, products, POLICY, NOW_MS) == grants.Decision(state, mode, reason)


def test_auto_approved_grant_locks_the_prices_in_force():
    products = {"p-power": product(price_version=3), "p-post": product("p-post", price_version=7)}
    grant_spec = spec(products=[("p-power", ["city"]), ("p-post", ["kwh"])])
    grant = grants.new_grant("g-1", "r-1", grant_spec, grants.decide(grant_spec, products, POLICY, NOW_MS),
                             products, NOW_MS)
    assert [(p.product_id, p.price_version) for p in grant.product_prices] == [("p-power", 3), ("p-post", 7)]
    assert grant.decided_unix_ms == NOW_MS and grant.state == APPROVED


# -- transitions and expiry ------------------------------------------------------------------

def pending_grant() -> grants_pb2.Grant:
    products = {"p-power": product(grade=SENSITIVE)}
    grant_spec = spec()
    return grants.new_grant("g-1", "r-1", grant_spec, grants.decide(grant_spec, products, POLICY, NOW_MS),
                            products, NOW_MS)


def test_operator_approval_records_operator_and_prices():
    approved = grants.approve(pending_grant(), operator="ops-wang", note="checked contract", now_ms=NOW_MS + 5,
                              products={"p-power": product(grade=SENSITIVE, price_version=4)})
    assert approved.state == APPROVED and approved.approval_mode == OPERATOR
    assert approved.decided_by == "ops-wang" and approved.decided_unix_ms == NOW_MS + 5
    assert approved.state_reason == "operator_approved: checked contract"
    assert [(p.product_id, p.price_version) for p in approved.product_prices] == [("p-power", 4)]


def test_revocation_keeps_the_approval_and_stamps_its_time():
    approved = grants.approve(pending_grant(), operator="ops-wang", note="", now_ms=NOW_MS + 5,
                              products={"p-power": product()})
    revoked = grants.revoke(approved, operator="ops-li", reason="contract ended", now_ms=NOW_MS + 9)
    assert (revoked.state, revoked.state_reason) == (grants_pb2.GRANT_STATE_REVOKED, "operator_revoked: contract ended")
    assert (revoked.decided_by, revoked.decided_unix_ms) == ("ops-wang", NOW_MS + 5)
    assert revoked.revoked_unix_ms == NOW_MS + 9


def _approved() -> grants_pb2.Grant:
    return grants.approve(pending_grant(), operator="o", note="", now_ms=NOW_MS, products={"p-power": product()})


def _rejected() -> grants_pb2.Grant:
    return grants.reject(pending_grant(), operator="o", reason="no", now_ms=NOW_MS)


TRANSITION_CASES = [
    ("approve-approved", lambda: grants.approve(_approved(), operator="o", note="", now_ms=NOW_MS,
                                                products={"p-power": product()}), "state:approved"),
    ("approve-expired", lambda: grants.approve(pending_grant(), operator="o", note="", now_ms=NOW_MS + 31 * DAY_MS,
                                               products={"p-power": product()}), "state:expired"),
    ("reject-rejected", lambda: grants.reject(_rejected(), operator="o", reason="x", now_ms=NOW_MS), "state:rejected"),
    ("revoke-pending", lambda: grants.revoke(pending_grant(), operator="o", reason="x", now_ms=NOW_MS),
     "state:pending"),
    ("reject-without-reason", lambda: grants.reject(pending_grant(), operator="o", reason=" ", now_ms=NOW_MS),
     "invalid:reason"),
    ("revoke-without-reason", lambda: grants.revoke(_approved(), operator="o", reason="", now_ms=NOW_MS),
     "invalid:reason"),
]


@pytest.mark.parametrize(("call", "reason"), [c[1:] for c in TRANSITION_CASES], ids=[c[0] for c in TRANSITION_CASES])
def test_transition_from_wrong_state_or_without_reason_is_refused(call, reason):
    assert refusal(call).reason == reason


def test_grant_past_expiry_reads_expired_and_record_is_untouched():
    grant = _approved()
    shown = grants.as_read(grant, grant.spec.expires_unix_ms)
    assert (shown.state, shown.state_reason) == (grants_pb2.GRANT_STATE_EXPIRED, "expired")
    assert grant.state == APPROVED
    assert grants.as_read(grant, grant.spec.expires_unix_ms - 1) is grant


# -- use: scope and limits -------------------------------------------------------------------

def use(grant, kind=AGGREGATE, columns=None, now_ms=NOW_MS + 1, rows=0, calls=1, spent_fen=0, dp=0):
    columns = {"p-power": ["city"]} if columns is None else columns
    return grants.check_use(grant, kind=kind, product_columns=columns, rows=rows, calls=calls, spent_fen=spent_fen,
                            dp_epsilon_milli=dp, now_ms=now_ms)


def _with_usage(grant, **counters) -> grants_pb2.Grant:
    grant.usage.CopyFrom(grants_pb2.GrantUsage(**counters))
    return grant


USE_CASES = [
    ("pending", lambda: use(pending_grant()), "state"),
    ("revoked", lambda: use(grants.revoke(_approved(), operator="o", reason="x", now_ms=NOW_MS)), "state"),
    ("expired", lambda: use(_approved(), now_ms=NOW_MS + 30 * DAY_MS), "state"),
    ("kind", lambda: use(_approved(), kind=VERIFY), "job_kind"),
    ("product", lambda: use(_approved(), columns={"p-post": ["city"]}), "product"),
    ("column", lambda: use(_approved(), columns={"p-power": ["city", "id_no"]}), "columns"),
    ("rows", lambda: use(_with_usage(_approved(), rows=999_000), rows=5_000), "limit:max_rows"),
    ("calls", lambda: use(_with_usage(_approved(), calls=100)), "limit:max_calls"),
    ("budget", lambda: use(_approved(), spent_fen=50_001), "limit:max_budget_fen"),
]


@pytest.mark.parametrize(("call", "rule"), [c[1:] for c in USE_CASES], ids=[c[0] for c in USE_CASES])
def test_use_outside_the_grant_is_refused_naming_the_rule(call, rule):
    decision = call()
    assert not decision.allowed and decision.rule == rule and decision.usage is None


def test_limit_refusal_says_allowed_used_and_asked():
    decision = use(_with_usage(_approved(), rows=999_000), rows=5_000)
    assert decision.message == "limit max_rows: 1,000,000 allowed, 999,000 used, 5,000 asked"


def test_allowed_use_returns_the_counters_after_it():
    decision = use(_with_usage(_approved(), rows=10, calls=2, spent_fen=7), rows=5, spent_fen=3, columns={})
    assert not decision.allowed  # a use must name its products
    decision = use(_with_usage(_approved(), rows=10, calls=2, spent_fen=7), rows=5, spent_fen=3)
    assert decision.allowed
    assert (decision.usage.rows, decision.usage.calls, decision.usage.spent_fen) == (15, 3, 10)
    assert decision.usage.updated_unix_ms == NOW_MS + 1


def test_negative_ask_is_a_caller_bug():
    with pytest.raises(ValueError, match="rows is -1"):
        use(_approved(), rows=-1)


LIMITS = st.integers(min_value=0, max_value=50)
ASKS = st.tuples(*[st.integers(min_value=0, max_value=20)] * 4)


@given(limits=st.tuples(LIMITS, LIMITS, LIMITS, LIMITS), asks=st.lists(ASKS, max_size=40))
def test_counted_use_never_exceeds_a_set_limit_and_is_refused_only_past_one(limits, asks):
    grant = _approved()
    grant.spec.limits.CopyFrom(grants_pb2.GrantLimits(max_rows=limits[0], max_calls=limits[1],
                                                      max_budget_fen=limits[2], max_dp_epsilon_milli=limits[3]))
    for ask in asks:
        before = [grant.usage.rows, grant.usage.calls, grant.usage.spent_fen, grant.usage.dp_epsilon_spent_milli]
        decision = use(grant, rows=ask[0], calls=ask[1], spent_fen=ask[2], dp=ask[3])
        fits = all(limit == 0 or used + asked <= limit for limit, used, asked in zip(limits, before, ask))
        assert decision.allowed == fits
        if decision.allowed:
            grant.usage.CopyFrom(decision.usage)
        after = [grant.usage.rows, grant.usage.calls, grant.usage.spent_fen, grant.usage.dp_epsilon_spent_milli]
        assert all(limit == 0 or used <= limit for limit, used in zip(limits, after))


# -- CLI parsing -----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected_ms"), [
    ("30d", NOW_MS + 30 * DAY_MS), ("12h", NOW_MS + 12 * 3_600_000), ("2025-07-01", 1_751_328_000_000),
    ("2025-07-01T08:00:00+08:00", 1_751_328_000_000),
], ids=["days", "hours", "date-utc", "iso-with-zone"])
def test_expiry_parses_durations_and_iso_dates(text, expected_ms):
    assert parse_expiry(text, NOW_MS) == expected_ms


@pytest.mark.parametrize("text", ["soon", "-3d", "30x", "2025-13-01"], ids=["word", "negative", "unit", "month"])
def test_expiry_refuses_what_it_cannot_read(text):
    with pytest.raises(ValueError, match="expected"):
        parse_expiry(text, NOW_MS)


def test_product_columns_parse_and_refuse_missing_columns():
    assert parse_product_columns(["p-a:city,kwh", "p-b:x"]) == [("p-a", ["city", "kwh"]), ("p-b", ["x"])]
    with pytest.raises(ValueError, match="ID:col1,col2"):
        parse_product_columns(["p-a"])
