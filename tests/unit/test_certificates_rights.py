"""Rights changes behind certificate versions, and the certificate key files."""

from __future__ import annotations

import pytest

from shuniu.market.catalog import CatalogError, certificate_keys
from shuniu.market.catalog.rights_change import NEW_HOLDER, SHARE_CHANGE, TRANSFER, apply_rights_change
from shuniu.protos.v1 import catalog_pb2
from shuniu.security import signing

BEFORE = (("henan-hs", 7_500), ("hospital", 2_500))


def rights(*holders: tuple[str, int], holding: tuple | None = None) -> catalog_pb2.Rights:
    out = catalog_pb2.Rights()
    for name in ("holding", "processing_use", "product_operation"):
        for holder, bp in (holding if holding is not None and name == "holding" else holders):
            getattr(out, name).holders.add(holder_id=holder, share_bp=bp)
    return out


def product(state=catalog_pb2.PRODUCT_STATE_LISTED) -> catalog_pb2.Product:
    p = catalog_pb2.Product(product_id="prd-1", state=state)
    p.spec.rights.CopyFrom(rights(*BEFORE))
    return p


@pytest.mark.parametrize(("kind", "after"), [
    pytest.param(TRANSFER, rights(("henan-hs", 5_000), ("hospital", 5_000)), id="transfer-part"),
    pytest.param(TRANSFER, rights(("hospital", 10_000)), id="transfer-all"),
    pytest.param(TRANSFER, rights(*BEFORE, holding=(("henan-hs", 7_500), ("city", 2_500))), id="transfer-to-new"),
    pytest.param(NEW_HOLDER, rights(("henan-hs", 7_000), ("hospital", 2_500), ("city", 500)), id="new-holder"),
    pytest.param(SHARE_CHANGE, rights(("henan-hs", 6_000), ("hospital", 4_000)), id="share-change"),
])
def test_rights_change_of_its_kind_is_applied(kind, after):
    changed = apply_rights_change(product(), kind, after, "deed 42", 5)
    assert changed.spec.rights == after and changed.updated_unix_ms == 5


@pytest.mark.parametrize(("kind", "after", "state", "message"), [
    pytest.param(TRANSFER, rights(*BEFORE), None, "rights are unchanged", id="unchanged"),
    pytest.param(SHARE_CHANGE, rights(("henan-hs", 7_000), ("hospital", 2_500), ("city", 500)), None,
                 "holders change (added city); a share_change keeps the same holders", id="share-change-adds"),
    pytest.param(NEW_HOLDER, rights(("henan-hs", 6_000), ("hospital", 4_000)), None, "no holder is new",
                 id="new-holder-without-one"),
    pytest.param(TRANSFER, rights(("henan-hs", 5_000), ("hospital", 2_000), ("city", 3_000)), None,
                 "2 holders give up share (henan-hs, hospital)", id="transfer-from-two"),
    pytest.param(0, rights(("hospital", 10_000)), None, "kind 0 unknown; expected transfer (1)", id="no-kind"),
    pytest.param(TRANSFER, rights(("henan-hs", 5_000), ("hospital", 4_000)), None,
                 "rights.holding: shares sum to 9,000 bp", id="shares"),
    pytest.param(TRANSFER, rights(("hospital", 10_000)), catalog_pb2.PRODUCT_STATE_DELISTED,
                 "product prd-1 is delisted", id="delisted"),
])
def test_refused_rights_change_names_the_rule(kind, after, state, message):
    before = product(state or catalog_pb2.PRODUCT_STATE_LISTED)
    kept = catalog_pb2.Product()
    kept.CopyFrom(before)
    with pytest.raises(CatalogError) as err:
        apply_rights_change(before, kind, after, "", 5)
    assert message in err.value.message
    assert before == kept


def test_certificate_key_is_created_once_and_its_public_key_published(tmp_path, monkeypatch):
    monkeypatch.setenv("SHUNIU_STATE_DIR", str(tmp_path))
    monkeypatch.delenv(certificate_keys.KEY_PATH_ENV, raising=False)
    key = certificate_keys.load_or_create()
    assert certificate_keys.load_or_create().key_id == key.key_id
    published = tmp_path / "keys" / certificate_keys.PUBLIC_NAME
    assert certificate_keys.public_key_path() == published
    assert certificate_keys.public_keys([published]) == {key.key_id: key.public_raw}
    raw = tmp_path / "raw.pub"
    raw.write_bytes(key.public_raw)
    assert certificate_keys.read_public_key(raw) == key.public_raw
    raw.write_text("not a key")
    with pytest.raises(ValueError, match="holds no Ed25519 public key"):
        certificate_keys.read_public_key(raw)


def test_configured_key_path_wins(tmp_path, monkeypatch):
    monkeypatch.setenv(certificate_keys.KEY_PATH_ENV, str(tmp_path / "hsm" / "cert.key"))
    key = certificate_keys.load_or_create()
    assert signing.load_or_create(tmp_path / "hsm" / "cert.key").key_id == key.key_id
    assert (tmp_path / "hsm" / certificate_keys.PUBLIC_NAME).read_text().strip() == key.public_raw.hex()
