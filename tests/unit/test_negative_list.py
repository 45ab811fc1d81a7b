"""Negative-list (负面清单) matching: an entry forbids what every field it sets matches."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shuniu.market import negative_list
from shuniu.protos.v1 import catalog_pb2, common_pb2
from shuniu.protos.v1.negative_list_pb2 import NegativeListEntry

PUBLIC, SENSITIVE, CORE = (common_pb2.CLASSIFICATION_GRADE_PUBLIC, common_pb2.CLASSIFICATION_GRADE_SENSITIVE,
                           common_pb2.CLASSIFICATION_GRADE_CORE)
AGGREGATE, CUSTOM = common_pb2.JOB_KIND_AGGREGATE, common_pb2.JOB_KIND_CUSTOM
COMMERCIAL, PUBLIC_INTEREST = common_pb2.PURPOSE_CATEGORY_COMMERCIAL, common_pb2.PURPOSE_CATEGORY_PUBLIC_INTEREST


def spec(tags=("health",), grade=SENSITIVE, kinds=(AGGREGATE,), purposes=("actuarial",)) -> catalog_pb2.ProductSpec:
    return catalog_pb2.ProductSpec(
        grade=grade, allowed_job_kinds=kinds, allowed_purposes=purposes,
        schema=[catalog_pb2.Column(name="c", arrow_type="string", tags=list(tags)),
                catalog_pb2.Column(name="d", arrow_type="int64")])


def entry(entry_id="nl-1", **fields) -> NegativeListEntry:
    return NegativeListEntry(entry_id=entry_id, reason="not tradable", **fields)


PRODUCT_CASES = [
    ("tag-matches", entry(column_tag="health"), spec(), True),
    ("tag-absent", entry(column_tag="biometric"), spec(), False),
    ("grade-matches", entry(grade=SENSITIVE), spec(), True),
    ("grade-differs", entry(grade=CORE), spec(), False),
    ("allowed-kind-matches", entry(job_kind=CUSTOM), spec(kinds=(AGGREGATE, CUSTOM)), True),
    ("kind-not-allowed", entry(job_kind=CUSTOM), spec(), False),
    ("allowed-purpose-matches", entry(purpose="marketing"), spec(purposes=("actuarial", "marketing")), True),
    ("tag-and-kind-both-needed", entry(column_tag="health", job_kind=CUSTOM), spec(), False),
    ("tag-and-kind-both-present", entry(column_tag="health", job_kind=CUSTOM), spec(kinds=(CUSTOM,)), True),
    ("purpose-category-only-bounds-uses", entry(grade=SENSITIVE, purpose_category=COMMERCIAL), spec(), False),
]


@pytest.mark.parametrize(("e", "product", "refused"), [c[1:] for c in PRODUCT_CASES], ids=[c[0] for c in PRODUCT_CASES])
def test_refusal_for_product(e, product, refused):
    assert (negative_list.refusal_for_product([e], product) == e) is refused


USE = {"column_tags": ["health"], "grade": CORE, "job_kinds": [AGGREGATE], "purpose": "pricing",
       "purpose_category": COMMERCIAL}
USE_CASES = [
    ("core-commercial", entry(grade=CORE, purpose_category=COMMERCIAL), {}, True),
    ("core-public-interest", entry(grade=CORE, purpose_category=COMMERCIAL), {"purpose_category": PUBLIC_INTEREST}, False),
    ("purpose-code", entry(purpose="pricing"), {}, True),
    ("other-purpose-code", entry(purpose="pricing"), {"purpose": "research"}, False),
    ("kind-used", entry(job_kind=AGGREGATE), {}, True),
    ("kind-not-used", entry(job_kind=CUSTOM), {}, False),
    ("tag-not-granted", entry(column_tag="health"), {"column_tags": ["region"]}, False),
]


@pytest.mark.parametrize(("e", "change", "refused"), [c[1:] for c in USE_CASES], ids=[c[0] for c in USE_CASES])
def test_refusal_for_use(e, change, refused):
    assert (negative_list.refusal_for_use([e], **{**USE, **change}) == e) is refused


def test_first_matching_entry_by_id_is_named():
    later, earlier = entry("nl-b", column_tag="health"), entry("nl-a", grade=SENSITIVE)
    assert negative_list.refusal_for_product([later, earlier], spec()).entry_id == "nl-a"


def test_refusal_message_names_the_entry_what_it_forbids_and_why():
    e = entry("nl-7", grade=CORE, purpose_category=COMMERCIAL, legal_basis="Data Security Law, art. 21")
    assert negative_list.refusal_message(e) == (
        "negative-list entry nl-7 forbids grade core with commercial use: not tradable; "
        "legal basis: Data Security Law, art. 21")


@pytest.mark.parametrize(("e", "message"), [
    (NegativeListEntry(reason="x"), "entry sets nothing to match"),
    (NegativeListEntry(column_tag="biometric"), "entry.reason is empty"),
    (NegativeListEntry(job_kind=9, reason="x"), "entry.job_kind 9 unknown; expected one of aggregate (1)"),
    (NegativeListEntry(grade=7, reason="x"), "entry.grade 7 unknown"),
    (NegativeListEntry(purpose_category=5, reason="x"), "entry.purpose_category 5 unknown"),
], ids=["nothing-set", "no-reason", "bad-kind", "bad-grade", "bad-category"])
def test_malformed_entries_are_refused(e, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        negative_list.check_entry(e)


_tags = st.lists(st.sampled_from(["health", "biometric", "genetic", "region", "financial"]), max_size=4)


@given(tags=_tags, grade=st.integers(1, 4), kinds=st.lists(st.integers(1, 4), max_size=4),
       purpose=st.sampled_from(["a", "b", "c"]), category=st.integers(1, 3), data=st.data())
def test_an_entry_built_from_a_use_always_refuses_it_and_only_uses_sharing_its_fields(tags, grade, kinds, purpose,
                                                                                       category, data):
    use = {"column_tags": tags, "grade": grade, "job_kinds": kinds, "purpose": purpose, "purpose_category": category}
    fields = {"grade": grade, "purpose": purpose, "purpose_category": category}
    if tags:
        fields["column_tag"] = data.draw(st.sampled_from(tags))
    if kinds:
        fields["job_kind"] = data.draw(st.sampled_from(kinds))
    chosen = data.draw(st.sets(st.sampled_from(sorted(fields)), min_size=1))
    e = entry(**{k: fields[k] for k in chosen})
    assert negative_list.refusal_for_use([e], **use) == e
    # Changing any field the entry sets to a value the use does not have lifts the refusal.
    other = {**use, "grade": grade % 4 + 1, "purpose": purpose + "x", "purpose_category": category % 3 + 1,
             "column_tags": [t + "x" for t in tags], "job_kinds": [k % 4 + 5 for k in kinds]}
    field = data.draw(st.sampled_from(sorted(chosen)))
    key = {"column_tag": "column_tags", "job_kind": "job_kinds"}.get(field, field)
    assert negative_list.refusal_for_use([e], **{**use, key: other[key]}) is None
