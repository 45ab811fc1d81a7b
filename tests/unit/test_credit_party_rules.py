"""Credit records bound to parties (role and name), not to names: which record an org id names, and who may read it."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shuniu.market.credit import OrgIdError, party_org
from shuniu.protos.v1 import credit_pb2
from shuniu.security import pki, roles

GET, LIST = "/shuniu.v1.CreditService/GetCreditRecord", "/shuniu.v1.CreditService/ListCreditEvents"
# Names a certificate may carry (security/pki.py): never a ':'.
NAMES = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,40}", fullmatch=True)


def _answer(role: str, name: str, method: str, org_id: str) -> str:
    """'allowed as <org id the handler sees>' or the refusal's message."""
    identity = pki.Identity(role, (name,))
    request = (credit_pb2.GetCreditRecordRequest if method == GET else credit_pb2.ListCreditEventsRequest)(org_id=org_id)
    try:
        roles.apply_request_checks(roles.checks_for(method, identity), identity, request)
    except roles.Denied as err:
        return str(err)
    return f"allowed as {request.org_id}"


@pytest.mark.parametrize("role, name, org_id, answer", [
    ("buyer", "zhengzhou-dc", "compute_center:zhengzhou-dc", "denied"),
    ("buyer", "henan-grid", "holder:henan-grid", "denied"),
    ("compute_center", "zhengzhou-dc", "zhengzhou-dc", "denied"),
    ("compute_center", "zhengzhou-dc", "buyer:zhengzhou-dc", "denied"),
    ("data_holder", "henan-grid", "henan-grid", "denied"),
    ("data_holder", "henan-grid", "compute_center:henan-grid", "denied"),
    ("buyer", "bank-a", "bank-b", "denied"),
    ("buyer", "bank-a", "buyer:bank-b", "denied"),
    ("buyer", "bank-a", "bank-a", "allowed as bank-a"),
    ("buyer", "bank-a", "buyer:bank-a", "allowed as buyer:bank-a"),
    ("buyer", "bank-a", "", "allowed as buyer:bank-a"),
    ("compute_center", "zhengzhou-dc", "compute_center:zhengzhou-dc", "allowed as compute_center:zhengzhou-dc"),
    ("compute_center", "zhengzhou-dc", "", "allowed as compute_center:zhengzhou-dc"),
    ("data_holder", "henan-grid", "", "allowed as holder:henan-grid"),
    ("operator", "ops", "compute_center:zhengzhou-dc", "allowed as compute_center:zhengzhou-dc"),
    ("regulator", "reg", "bank-a", "allowed as bank-a"),
], ids=["buyer-named-a-center", "buyer-named-a-holder", "center-asking-the-buyer-of-its-name",
        "center-asking-buyer-form", "holder-asking-the-buyer-of-its-name", "holder-asking-a-center-of-its-name",
        "buyer-another-buyer", "buyer-another-buyer-prefixed", "buyer-own-bare", "buyer-own-prefixed", "buyer-empty",
        "center-own", "center-empty", "holder-empty", "operator-any", "regulator-any"])
@pytest.mark.parametrize("method", [GET, LIST], ids=["get", "list-events"])
def test_a_party_reads_only_the_credit_record_of_its_role_and_name(role, name, org_id, answer, method):
    found = _answer(role, name, method, org_id)
    if answer == "denied":
        assert found.startswith("rule own-org:") and "leave it empty or give" in found, found
    else:
        assert found == answer


@given(st.sampled_from(["buyer", "compute_center", "data_holder"]), NAMES, NAMES, NAMES)
def test_another_partys_org_and_an_unknown_one_are_refused_alike(role, name, other, unknown):
    if name in (other, unknown):
        return
    answers = [_answer(role, name, GET, org_id) for org_id in (other, unknown)]
    assert re.sub(re.escape(repr(other)), "X", answers[0]) == re.sub(re.escape(repr(unknown)), "X", answers[1])
    assert answers[0].startswith("rule own-org:")


@given(NAMES)
def test_a_name_held_by_three_roles_names_three_records(name):
    """The buyer's record has two spellings; the holder's and the center's are apart from it and from each other."""
    assert party_org(name) == party_org(f"buyer:{name}") == name
    records = {party_org(name), party_org(f"holder:{name}"), party_org(f"compute_center:{name}")}
    assert len(records) == 3


@pytest.mark.parametrize("org_id, words", [
    ("exchange:exchange", "names no party"),
    ("holder:", "names no party"),
    ("holder:a:b", "names no party"),
    ("bad org", "malformed"),
    ("", "malformed"),
], ids=["exchange-account-kind", "no-owner", "two-colons", "space", "empty"])
def test_an_org_id_that_names_no_partys_record_is_refused_saying_what_would_be_right(org_id, words):
    with pytest.raises(OrgIdError) as refused:
        party_org(org_id)
    assert words in str(refused.value) and "compute_center:<id>" in str(refused.value)
