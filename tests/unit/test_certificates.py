"""Registration certificates: canonical bytes, signatures, tampering, compact form, standing, version chain."""

from __future__ import annotations

import re

import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from shuniu.market.catalog import certificates as certs
from shuniu.market.catalog.certificates import Record, Verdict
from shuniu.protos.v1 import catalog_pb2, common_pb2
from shuniu.security import signing

KEY = signing.SigningKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = signing.SigningKey.from_private_bytes(bytes(range(1, 33)))
KEYS = {KEY.key_id: KEY.public_raw}
NOW_MS = 1_760_000_000_000
DAY_MS = 24 * 3600 * 1000
SHA = "ab" * 32


def product(rights=(("henan-hs", 7_500), ("hospital", 2_500)), sha=SHA) -> catalog_pb2.Product:
    p = catalog_pb2.Product(product_id="prd-0123456789ab", state=catalog_pb2.PRODUCT_STATE_LISTED)
    p.spec.name, p.spec.holder_id, p.spec.grade = "claims", "henan-hs", common_pb2.CLASSIFICATION_GRADE_INTERNAL
    p.spec.content_sha256 = sha
    p.verification.content_sha256 = sha
    for right in ("holding", "processing_use", "product_operation"):
        for holder, bp in rights:
            getattr(p.spec.rights, right).holders.add(holder_id=holder, share_bp=bp)
    return p


def issued(p: catalog_pb2.Product | None = None, until_ms: int = NOW_MS + 365 * DAY_MS) -> catalog_pb2.Certificate:
    return certs.sign(certs.first_version(p or product(), "cert-0123456789abcdef", NOW_MS, until_ms), KEY)


def record(cert, *, latest=None, revoked=None, p=None) -> Record:
    return Record(cert, latest or cert.version, revoked, p or product())


def test_signed_certificate_verifies_offline_and_its_bytes_are_tagged_and_stable():
    cert = issued()
    assert certs.verify_offline(cert, KEYS, NOW_MS + 1) == Verdict(certs.VALID)
    assert certs.canonical_bytes(cert).startswith(certs.TAG)
    copy = catalog_pb2.Certificate.FromString(cert.SerializeToString())
    copy.state = certs.REVOKED  # not signed: the standing is the server's to say
    assert certs.canonical_bytes(copy) == certs.canonical_bytes(cert)
    assert certs.SIGNED_FIELDS[0] == "certificate_id" and certs.SIGNED_FIELDS[-1] == "signing_key_id"
    assert len(certs.SIGNED_FIELDS) == 13


def _tamper(field: str):
    def change(cert: catalog_pb2.Certificate) -> None:
        value = getattr(cert, field)
        if field == "rights":
            cert.rights.holding.holders[0].holder_id = "mallory"
        elif field == "signature":
            cert.signature = bytes([value[0] ^ 1]) + value[1:]
        elif field in ("content_sha256", "previous_sha256"):
            cert.version = 2 if field == "previous_sha256" else cert.version
            setattr(cert, field, "cd" * 32)
        elif isinstance(value, str):
            setattr(cert, field, value + "x" if field != "certificate_id" else "cert-fedcba9876543210")
        else:
            setattr(cert, field, value + 1)
    return change


@pytest.mark.parametrize("field", [*certs.SIGNED_FIELDS, "signature"])
def test_changing_any_signed_field_fails_verification_naming_it_or_the_signature(field):
    cert = issued()
    _tamper(field)(cert)
    verdict = certs.verify_offline(cert, KEYS, NOW_MS + 1)
    assert not verdict.valid and verdict.state == certs.UNCHECKED
    assert any(r.startswith(("signature", field)) for r in verdict.reasons), verdict.reasons


def _as_compact(cert: catalog_pb2.Certificate) -> catalog_pb2.Certificate:
    return certs.decode_compact(certs.encode_compact(cert))


def _as_json_file(cert: catalog_pb2.Certificate) -> catalog_pb2.Certificate:
    # What `shuniu cert show --out` writes and `shuniu cert verify FILE` reads back.
    return json_format.Parse(json_format.MessageToJson(cert, preserving_proto_field_name=True),
                             catalog_pb2.Certificate())


@pytest.mark.parametrize("carrier", [_as_compact, _as_json_file], ids=["compact-text", "json-file"])
@pytest.mark.parametrize("field", [*certs.SIGNED_FIELDS, "signature"])
def test_a_tampered_field_fails_offline_from_the_compact_text_and_from_the_file(field, carrier):
    untouched = carrier(issued())
    assert certs.verify_offline(untouched, KEYS, NOW_MS + 1).valid
    cert = issued()
    _tamper(field)(cert)
    verdict = certs.verify_offline(carrier(cert), KEYS, NOW_MS + 1)
    assert not verdict.valid
    assert any(r.startswith(("signature", field)) for r in verdict.reasons), verdict.reasons


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(certs.SIGNED_FIELDS), data=st.data())
def test_any_new_value_of_a_signed_field_breaks_the_signature(field, data):
    cert = issued()
    descriptor = cert.DESCRIPTOR.fields_by_name[field]
    if descriptor.message_type is not None:
        new = data.draw(st.tuples(st.text(min_size=1, max_size=8), st.integers(1, 9_999)))
        cert.rights.product_operation.holders.add(holder_id=new[0], share_bp=new[1])
    elif descriptor.type == descriptor.TYPE_STRING:
        value = data.draw(st.text(max_size=40).filter(lambda v: v != getattr(cert, field)))
        setattr(cert, field, value)
    else:
        bound = 2**31 - 1 if descriptor.cpp_type in (descriptor.CPPTYPE_INT32, descriptor.CPPTYPE_ENUM) else 2**63 - 1
        setattr(cert, field, data.draw(st.integers(0, bound).filter(lambda v: v != getattr(cert, field))))
    verdict = certs.verify_offline(cert, KEYS, NOW_MS + 1)
    assert not verdict.valid
    assert any(r.startswith(("signature", "signing_key_id")) for r in verdict.reasons), verdict.reasons


def test_a_certificate_signed_by_another_key_names_the_key():
    cert = certs.sign(certs.signed_part(issued()), OTHER_KEY)
    verdict = certs.verify_offline(cert, KEYS, NOW_MS + 1)
    assert verdict.reasons[0].startswith(f"signing_key_id '{OTHER_KEY.key_id}' is not a key of the exchange")


def test_compact_text_verifies_offline_from_the_string_alone():
    text = issued().compact
    assert text.startswith("SNC1.") and len(text) < 1_000 and " " not in text
    decoded = certs.decode_compact(text)
    assert certs.verify_offline(decoded, KEYS, NOW_MS + 1).valid
    assert certs.signed_part(decoded) == certs.signed_part(issued())


@settings(max_examples=100, deadline=None)
@given(position=st.integers(5, 400), char=st.sampled_from("AQgw_-"))
def test_a_changed_character_of_the_compact_text_never_verifies(position, char):
    text = issued().compact
    position %= len(text)
    if text[position] in (char, ".") or position < 5:
        return
    tampered = text[:position] + char + text[position + 1:]
    try:
        cert = certs.decode_compact(tampered)
    except certs.CertificateFormatError:
        return
    assert not certs.verify_offline(cert, KEYS, NOW_MS + 1).valid


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("XYZ1.a.b", "does not start with 'SNC1.'", id="prefix"),
    pytest.param("SNC1.abc", "expected 2: <body>.<signature>", id="parts"),
    pytest.param("SNC1.a+b.c", "outside base64url", id="alphabet"),
    pytest.param("SNC1.//8.AA", "outside base64url", id="slash"),
    pytest.param("SNC1.gA.AA", "not a certificate", id="not-proto"),
    pytest.param("SNC1." + "A" * 20_000 + ".A", "expected at most 16,384", id="too-long"),
])
def test_unreadable_compact_text_says_what_is_wrong(text, message):
    with pytest.raises(certs.CertificateFormatError, match=re.escape(message)):
        certs.decode_compact(text)


def _delisted() -> catalog_pb2.Product:
    p = product()
    p.state, p.state_reason = catalog_pb2.PRODUCT_STATE_DELISTED, "delisted: licence withdrawn"
    return p


@pytest.mark.parametrize(("make_record", "now_ms", "state", "reason"), [
    pytest.param(lambda c: record(c), NOW_MS + 1, certs.VALID, None, id="valid"),
    pytest.param(lambda c: record(c, revoked="delisted: fraud"), NOW_MS + 1, certs.REVOKED,
                 "product delisted: delisted: fraud", id="revoked"),
    pytest.param(lambda c: record(c, p=_delisted()), NOW_MS + 1, certs.REVOKED,
                 "product delisted: delisted: licence withdrawn", id="delisted-without-record"),
    pytest.param(lambda c: record(c, p=product(sha="cd" * 32)), NOW_MS + 1, certs.REVOKED,
                 "content_sha256 changed: certified abababababab…, the product now holds cdcdcdcdcdcd…",
                 id="content-changed"),
    pytest.param(lambda c: Record(c, 1, None, None), NOW_MS + 1, certs.REVOKED,
                 "product prd-0123456789ab no longer exists", id="product-gone"),
    pytest.param(lambda c: record(c, latest=3), NOW_MS + 1, certs.SUPERSEDED, "superseded by version 3",
                 id="superseded"),
    pytest.param(lambda c: record(c), NOW_MS + 400 * DAY_MS, certs.EXPIRED, "expired at", id="expired"),
    pytest.param(lambda c: Record(None, 0, None, product()), NOW_MS + 1, certs.UNCHECKED,
                 "is not in the exchange's register", id="unknown"),
    pytest.param(lambda c: record(certs.sign(certs.first_version(product(), c.certificate_id, NOW_MS + 5,
                                                                 c.valid_until_unix_ms), KEY)),
                 NOW_MS + 10, certs.UNCHECKED, "fields differ from the exchange's record", id="differs-from-record"),
])
def test_standing_says_why_a_certificate_is_not_valid(make_record, now_ms, state, reason):
    cert = issued()
    verdict = certs.standing(cert, KEYS, make_record(cert), now_ms)
    assert verdict.state == state
    assert verdict.valid == (reason is None)
    if reason:
        assert reason in verdict.reasons[0], verdict.reasons


def test_each_rights_change_links_the_new_version_to_the_previous_one():
    v1 = issued()
    changed = product(rights=(("henan-hs", 5_000), ("hospital", 5_000)))
    v2 = certs.sign(certs.next_version(v1, changed, NOW_MS + DAY_MS), KEY)
    v3 = certs.sign(certs.next_version(v2, product(rights=(("hospital", 10_000),)), NOW_MS + 2 * DAY_MS), KEY)
    assert (v2.version, v3.version) == (2, 3)
    assert v2.previous_sha256 == certs.certificate_sha256(v1) and v3.previous_sha256 == certs.certificate_sha256(v2)
    assert v3.valid_until_unix_ms == v1.valid_until_unix_ms and v3.certificate_id == v1.certificate_id
    assert certs.chain_breaks([v3, v2, v1]) == []
    assert all(certs.verify_offline(v, KEYS, NOW_MS + 3 * DAY_MS).valid for v in (v1, v2, v3))
    assert certs.chain_breaks([v3, v1]) == ["version 3 does not link to version 1"]


def test_version_one_must_not_link_and_later_versions_must():
    v1 = issued()
    unlinked = certs.signed_part(certs.sign(certs.next_version(v1, product(), NOW_MS), KEY))
    unlinked.previous_sha256 = ""
    verdict = certs.verify_offline(certs.sign(unlinked, KEY), KEYS, NOW_MS + 1)
    assert verdict.reasons == ("previous_sha256: version 1 links to nothing, every later version to its previous one",)


def test_field_rules_hold_even_for_a_validly_signed_certificate():
    bad = certs.first_version(product(rights=(("henan-hs", 9_000),)), "cert-xyz", NOW_MS, NOW_MS)
    verdict = certs.verify_offline(certs.sign(bad, KEY), KEYS, NOW_MS)
    assert [r.split(" ")[0] for r in verdict.reasons] == ["certificate_id", "valid_until_unix_ms", "rights.holding:"]


@pytest.mark.parametrize(("requested_ms", "expected"), [
    pytest.param(0, NOW_MS + certs.DEFAULT_VALIDITY_MS, id="default"),
    pytest.param(NOW_MS + DAY_MS, NOW_MS + DAY_MS, id="requested"),
    pytest.param(NOW_MS, None, id="now"),
    pytest.param(NOW_MS - 1, None, id="past"),
    pytest.param(NOW_MS + certs.MAX_VALIDITY_MS + 1, None, id="too-far"),
])
def test_validity_of_a_new_certificate(requested_ms, expected):
    if expected is None:
        with pytest.raises(certs.CatalogError, match="certificate_valid_until_unix_ms .* out of range"):
            certs.valid_until(NOW_MS, requested_ms)
    else:
        assert certs.valid_until(NOW_MS, requested_ms) == expected


def test_not_yet_valid_is_refused_with_the_date():
    cert = issued()
    verdict = certs.verify_offline(cert, KEYS, NOW_MS - 1)
    assert not verdict.valid and verdict.reasons[0].startswith("valid_from_unix_ms: not valid before")
