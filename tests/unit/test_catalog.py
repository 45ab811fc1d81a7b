"""Catalog rules: spec checks (each bad spec names its rule), rights in basis points, pricing, lifecycle."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shuniu.market import catalog
from shuniu.market.catalog import CatalogError
from shuniu.market.catalog.errors import DENIED, INVALID, PRECONDITION
from shuniu.protos.v1 import catalog_pb2, common_pb2

SITES = ("zhengzhou", "luoyang", "gansu")
SHA = "ab" * 32


def good_spec() -> catalog_pb2.ProductSpec:
    spec = catalog_pb2.ProductSpec(
        holder_id="holder-1", name="Electricity use", category="energy", grade=common_pb2.CLASSIFICATION_GRADE_PUBLIC,
        home_site="zhengzhou", domain_node_ids=["n-zz-1", "n-zz-2"],
        files=[catalog_pb2.ProductFile(node_id="n-zz-1", path="/data/power.parquet")],
        schema=[catalog_pb2.Column(name="credit_code", arrow_type="string", tags=["enterprise_id"]),
                catalog_pb2.Column(name="kwh", arrow_type="int64"),
                catalog_pb2.Column(name="month", arrow_type="timestamp[ms]")],
        identifier_columns=["credit_code"], sensitive_columns=["kwh"], row_count=1000, content_sha256=SHA,
        allowed_purposes=["energy_planning"], allowed_job_kinds=[common_pb2.JOB_KIND_AGGREGATE],
        pricing=catalog_pb2.Pricing(unit=catalog_pb2.PRICING_UNIT_PER_ROW, unit_price_fen=50, unit_size=1000,
                                    basis=catalog_pb2.PriceBasis(cost=catalog_pb2.CostBasis(
                                        collection_cost_fen=100, markup_bp=1000, expected_units=10))),
    )
    for name in catalog.rights.RIGHT_NAMES:
        getattr(spec.rights, name).holders.add(holder_id="holder-1", share_bp=6000)
        getattr(spec.rights, name).holders.add(holder_id="holder-2", share_bp=4000)
    return spec


def _set(path: str, value) -> Callable[[catalog_pb2.ProductSpec], None]:
    def mutate(spec):
        *parents, leaf = path.split(".")
        target = spec
        for p in parents:
            target = getattr(target, p)
        if isinstance(value, list):
            del getattr(target, leaf)[:]
            getattr(target, leaf).extend(value)
        else:
            setattr(target, leaf, value)
    return mutate


def _do(fn) -> Callable[[catalog_pb2.ProductSpec], None]:
    return fn


BAD_SPECS = [
    ("holder-empty", _set("holder_id", ""), "spec.holder_id empty is malformed"),
    ("name-empty", _set("name", "  "), "spec.name is empty"),
    ("grade-unset", _set("grade", 0), "spec.grade 0 unknown or unset; expected one of public (1)"),
    ("home-site-unknown", _set("home_site", "atlantis"), "spec.home_site 'atlantis' unknown; expected one of gansu"),
    ("domain-empty", _set("domain_node_ids", []), "spec.domain_node_ids is empty"),
    ("domain-duplicate", _set("domain_node_ids", ["n-zz-1", "n-zz-1"]), "names a node twice"),
    ("files-empty", _set("files", []), "spec.files is empty"),
    ("file-outside-domain", _set("files", [catalog_pb2.ProductFile(node_id="n-elsewhere", path="/d/x.parquet")]),
     "spec.files[0].node_id 'n-elsewhere' is outside the data domain; expected one of n-zz-1, n-zz-2"),
    ("file-relative-path", _set("files", [catalog_pb2.ProductFile(node_id="n-zz-1", path="x.parquet")]),
     "not an absolute path to a .parquet file"),
    ("schema-empty", _set("schema", []), "spec.schema is empty"),
    ("column-duplicate", _do(lambda s: s.schema.add(name="kwh", arrow_type="int64")), "'kwh' appears twice"),
    ("arrow-type-unknown", _do(lambda s: setattr(s.schema[1], "arrow_type", "integer")),
     "spec.schema[1].arrow_type 'integer' of column 'kwh' is not an Arrow type; expected one of int64"),
    ("sensitive-unknown-column", _set("sensitive_columns", ["diagnosis"]),
     "spec.sensitive_columns: column 'diagnosis' is not in spec.schema; expected one of credit_code, kwh, month"),
    ("identifier-unknown-column", _set("identifier_columns", ["patient"]), "spec.identifier_columns: column 'patient'"),
    ("row-count-zero", _set("row_count", 0), "spec.row_count is 0"),
    ("sha-malformed", _set("content_sha256", "XYZ"), "spec.content_sha256 is not 64 lowercase hex digits"),
    ("holding-sum-short", _do(lambda s: setattr(s.rights.holding.holders[1], "share_bp", 3000)),
     "spec.rights.holding: shares sum to 9,000 bp; expected exactly 10,000"),
    ("processing-use-no-holders", _do(lambda s: s.rights.processing_use.ClearField("holders")),
     "spec.rights.processing_use: no holders"),
    ("operation-duplicate-holder", _do(lambda s: setattr(s.rights.product_operation.holders[1], "holder_id", "holder-1")),
     "spec.rights.product_operation.holders[1]: holder 'holder-1' appears twice"),
    ("negative-share", _do(lambda s: (setattr(s.rights.holding.holders[0], "share_bp", 11000),
                                      setattr(s.rights.holding.holders[1], "share_bp", -1000))),
     "spec.rights.holding.holders[1].share_bp is -1000; expected a positive number"),
    ("pricing-unit-unset", _set("pricing.unit", 0), "spec.pricing.unit 0 unknown or unset; expected one of per_row (1)"),
    ("pricing-negative", _set("pricing.unit_price_fen", -5), "spec.pricing.unit_price_fen is -5; expected 0 to"),
    ("tiers-unsorted", _do(lambda s: s.pricing.volume_tiers.extend([
        catalog_pb2.VolumeTier(from_units=1000, unit_price_fen=40), catalog_pb2.VolumeTier(from_units=500, unit_price_fen=30)])),
     "spec.pricing.volume_tiers[1].from_units is 500; expected tiers sorted by from_units"),
    ("above-guided-cap", _set("pricing.guided_cap_fen", 40),
     "spec.pricing.unit_price_fen is 50 fen, above the guided cap (政府指导价) of 40 fen"),
    ("tier-above-guided-cap", _do(lambda s: (setattr(s.pricing, "guided_cap_fen", 60), s.pricing.volume_tiers.add(
        from_units=10, unit_price_fen=70))), "spec.pricing.volume_tiers[0].unit_price_fen is 70 fen, above the guided cap"),
    ("public-interest-free-on-internal", _do(lambda s: (setattr(s, "grade", common_pb2.CLASSIFICATION_GRADE_INTERNAL),
                                                        setattr(s.pricing, "public_interest_free", True))),
     "spec.pricing.public_interest_free is set on a product that is not public"),
    ("basis-unset", _do(lambda s: s.pricing.ClearField("basis")),
     "spec.pricing.basis is unset; expected one of cost, revenue, negotiated"),
    ("cost-no-units", _set("pricing.basis.cost.expected_units", 0), "spec.pricing.basis.cost.expected_units is 0"),
    ("cost-negative", _set("pricing.basis.cost.collection_cost_fen", -1),
     "spec.pricing.basis.cost.collection_cost_fen is -1; expected 0 to"),
    ("processing-cost-negative", _set("pricing.basis.cost.processing_cost_fen", -100),
     "spec.pricing.basis.cost.processing_cost_fen is -100; expected 0 to"),
    ("operating-cost-negative", _set("pricing.basis.cost.operating_cost_fen", -5),
     "spec.pricing.basis.cost.operating_cost_fen is -5; expected 0 to"),
    ("markup-negative", _set("pricing.basis.cost.markup_bp", -1), "spec.pricing.basis.cost.markup_bp is -1"),
    ("revenue-negative", _do(lambda s: s.pricing.basis.revenue.MergeFrom(catalog_pb2.RevenueBasis(
        expected_buyer_revenue_fen=-1, revenue_share_bp=100, expected_units=5))),
     "spec.pricing.basis.revenue.expected_buyer_revenue_fen is -1; expected 0 to"),
    ("negotiated-no-ref", _do(lambda s: s.pricing.basis.negotiated.party_ids.extend(["a", "b"])),
     "spec.pricing.basis.negotiated.agreement_ref is empty"),
    ("revenue-share-zero", _do(lambda s: s.pricing.basis.revenue.MergeFrom(catalog_pb2.RevenueBasis(expected_units=5))),
     "spec.pricing.basis.revenue.revenue_share_bp is 0; expected 1 to 10,000 bp"),
    ("purposes-empty", _set("allowed_purposes", []), "spec.allowed_purposes is empty"),
    ("kinds-empty", _set("allowed_job_kinds", []), "spec.allowed_job_kinds is empty; expected some of aggregate (1)"),
    ("kind-unknown", _set("allowed_job_kinds", [9]), "spec.allowed_job_kinds[0] 9 unknown"),
    ("public-data-feedback", _do(lambda s: s.public_data.MergeFrom(catalog_pb2.PublicDataOperation(
        source_department_id="dept", operator_id="op", feedback_share_bp=12_000))),
     "spec.public_data.feedback_share_bp is 12000"),
]


def test_good_spec_passes():
    catalog.check_spec(good_spec(), SITES)


@pytest.mark.parametrize(("mutate", "message"), [c[1:] for c in BAD_SPECS], ids=[c[0] for c in BAD_SPECS])
def test_bad_spec_is_refused_naming_the_rule(mutate, message):
    spec = good_spec()
    mutate(spec)
    with pytest.raises(CatalogError) as err:
        catalog.check_spec(spec, SITES)
    assert message in err.value.message
    assert err.value.kind == INVALID


@pytest.mark.parametrize(("basis", "text"), [
    pytest.param(catalog_pb2.PriceBasis(cost=catalog_pb2.CostBasis(collection_cost_fen=100, markup_bp=1000, expected_units=10)),
                 "cost-based: collection_cost_fen 100, markup_bp 1000, expected_units 10", id="cost"),
    pytest.param(catalog_pb2.PriceBasis(revenue=catalog_pb2.RevenueBasis(expected_buyer_revenue_fen=9, revenue_share_bp=500,
                                                                         expected_units=3)),
                 "revenue-based: expected_buyer_revenue_fen 9, revenue_share_bp 500, expected_units 3", id="revenue"),
    pytest.param(catalog_pb2.PriceBasis(negotiated=catalog_pb2.NegotiatedBasis(agreement_ref="A-1", party_ids=["h", "b"])),
                 "negotiated: agreement_ref A-1, party_ids h+b", id="negotiated"),
    pytest.param(catalog_pb2.PriceBasis(), "no price basis stated", id="unset"),
])
def test_a_listing_says_how_its_price_was_set_with_its_parameters(basis, text):
    assert catalog.basis_text(basis) == text


# -- the basis-point rule -------------------------------------------------------------------------

def _right(shares: list[int]) -> catalog_pb2.Right:
    return catalog_pb2.Right(holders=[catalog_pb2.RightShare(holder_id=f"h{i}", share_bp=s) for i, s in enumerate(shares)])


@st.composite
def exact_shares(draw) -> list[int]:
    """Positive shares summing to exactly 10,000: cut points on (0, 10,000)."""
    cuts = sorted(draw(st.sets(st.integers(1, 9_999), max_size=40)))
    bounds = [0, *cuts, 10_000]
    return [b - a for a, b in zip(bounds, bounds[1:])]


@given(exact_shares())
def test_positive_distinct_shares_summing_to_10000_are_accepted(shares):
    catalog.check_right(_right(shares), "r")


@given(st.lists(st.integers(1, 10_000), min_size=1, max_size=40).filter(lambda s: sum(s) != 10_000))
def test_shares_not_summing_to_10000_are_refused_with_their_sum(shares):
    with pytest.raises(CatalogError, match=f"shares sum to {sum(shares):,} bp; expected exactly 10,000"):
        catalog.check_right(_right(shares), "r")


@given(exact_shares(), st.data())
def test_a_holder_listed_twice_is_refused_even_when_the_sum_is_right(shares, data):
    right = _right(shares)
    if len(shares) < 2:
        right = _right([5_000, 5_000])
    i = data.draw(st.integers(1, len(right.holders) - 1))
    right.holders[i].holder_id = right.holders[0].holder_id
    with pytest.raises(CatalogError, match="appears twice"):
        catalog.check_right(right, "r")


@given(exact_shares(), st.integers(-10_000, 0))
def test_a_non_positive_share_is_refused_even_when_the_sum_is_right(shares, bad):
    # Keep the sum at 10,000 so that only the sign rule can refuse it.
    right = _right([*shares[:-1], shares[-1] - bad, bad])
    with pytest.raises(CatalogError, match=r"share_bp is -?\d+; expected a positive number"):
        catalog.check_right(right, "r")


# -- lifecycle ----------------------------------------------------------------------------------

def _registered(grade=common_pb2.CLASSIFICATION_GRADE_PUBLIC) -> catalog_pb2.Product:
    spec = good_spec()
    spec.grade = grade
    return catalog.register("prd-1", spec, now_ms=1_000)


def _verification(**overrides) -> catalog_pb2.ProductVerification:
    fields = {"node_id": "n-zz-1", "schema_matches": True, "row_count": 1000, "content_sha256": SHA, "ok": True,
              "verified_unix_ms": 2_000, **overrides}
    return catalog_pb2.ProductVerification(**fields)


def test_registration_starts_price_version_1():
    product = _registered()
    assert product.state == catalog.REGISTERED
    assert (product.spec.pricing.price_version, product.spec.pricing.effective_unix_ms) == (1, 1_000)


@pytest.mark.parametrize(("grade", "state"), [
    (common_pb2.CLASSIFICATION_GRADE_PUBLIC, catalog.LISTED),
    (common_pb2.CLASSIFICATION_GRADE_INTERNAL, catalog.LISTED),
    (common_pb2.CLASSIFICATION_GRADE_SENSITIVE, catalog.UNDER_REVIEW),
    (common_pb2.CLASSIFICATION_GRADE_CORE, catalog.UNDER_REVIEW),
], ids=["public", "internal", "sensitive", "core"])
def test_matching_verification_lists_or_sends_to_review_by_grade(grade, state):
    product = catalog.apply_verification(_registered(grade), _verification(), 3_000)
    assert product.state == state
    assert product.verification.ok
    assert product.listed_unix_ms == (3_000 if state == catalog.LISTED else 0)


@pytest.mark.parametrize(("verification", "reason"), [
    (_verification(row_count=998), "row_count: declared 1000, found 998"),
    (_verification(content_sha256="cd" * 32), "content_sha256: declared abababababab…, found cdcdcdcdcdcd…"),
    (_verification(schema_matches=False, mismatch="schema: column 'kwh' declared int64, found double in /d.parquet"),
     "schema: column 'kwh' declared int64, found double"),
], ids=["row-count", "content-hash", "schema"])
def test_mismatch_rejects_with_the_reason(verification, reason):
    product = catalog.apply_verification(_registered(), verification, 3_000)
    assert product.state == catalog.REJECTED
    assert reason in product.state_reason
    assert not product.verification.ok


def test_a_node_reporting_ok_is_not_taken_on_trust():
    product = catalog.apply_verification(_registered(), _verification(row_count=5, ok=True), 3_000)
    assert product.state == catalog.REJECTED and "row_count: declared 1000, found 5" in product.state_reason


@pytest.mark.parametrize(("node_id", "message"), [
    ("n-outside", "is not in the data domain"), ("n-zz-2", "holds no file of product prd-1"),
], ids=["outside-domain", "domain-node-without-files"])
def test_only_a_domain_node_holding_the_files_may_verify(node_id, message):
    with pytest.raises(CatalogError, match=message) as err:
        catalog.apply_verification(_registered(), _verification(node_id=node_id), 3_000)
    assert err.value.kind == DENIED


def test_verification_is_taken_only_once():
    listed = catalog.apply_verification(_registered(), _verification(), 3_000)
    with pytest.raises(CatalogError, match="is listed; verification is accepted only while registered") as err:
        catalog.apply_verification(listed, _verification(), 4_000)
    assert err.value.kind == PRECONDITION


def test_review_approves_or_rejects_with_reason():
    review = catalog.apply_verification(_registered(common_pb2.CLASSIFICATION_GRADE_SENSITIVE), _verification(), 3_000)
    assert catalog.apply_review(review, True, "", 4_000).state == catalog.LISTED
    rejected = catalog.apply_review(review, False, "diagnosis codes not de-identified", 4_000)
    assert (rejected.state, rejected.state_reason) == (catalog.REJECTED, "review: diagnosis codes not de-identified")
    with pytest.raises(CatalogError, match="a rejection must say why"):
        catalog.apply_review(review, False, " ", 4_000)
    with pytest.raises(CatalogError, match="only a product under review can be reviewed"):
        catalog.apply_review(_registered(), True, "", 4_000)


def test_delist_once():
    delisted = catalog.apply_delist(_registered(), "holder withdrew", 5_000)
    assert (delisted.state, delisted.state_reason) == (catalog.DELISTED, "delisted: holder withdrew")
    with pytest.raises(CatalogError, match="already delisted"):
        catalog.apply_delist(delisted, "", 6_000)


def test_new_price_is_the_next_version_and_leaves_the_old_product_alone():
    product = _registered()
    pricing = catalog_pb2.Pricing()
    pricing.CopyFrom(product.spec.pricing)
    pricing.unit_price_fen, pricing.price_version = 70, 42  # the version asked for is ignored
    priced = catalog.apply_price(product, pricing, 9_000)
    assert (priced.spec.pricing.price_version, priced.spec.pricing.unit_price_fen) == (2, 70)
    assert priced.spec.pricing.effective_unix_ms == 9_000
    assert (product.spec.pricing.price_version, product.spec.pricing.unit_price_fen) == (1, 50)


def test_new_price_obeys_the_pricing_rules_and_state():
    product = _registered()
    with pytest.raises(CatalogError, match="pricing.basis is unset"):
        catalog.apply_price(product, catalog_pb2.Pricing(unit=1, unit_price_fen=1), 9_000)
    with pytest.raises(CatalogError, match="a price can be set only on a product that is registered"):
        catalog.apply_price(catalog.apply_delist(product, "", 1), product.spec.pricing, 9_000)
