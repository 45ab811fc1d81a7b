"""Registration certificates and the catalog export through a real control plane, Redis and the CLI."""

from __future__ import annotations

import json

import grpc
import pytest
import redis
from conftest import ControlPlaneProcess, stored_state
from test_catalog_service import make_spec, write_parquet
from typer.testing import CliRunner

from shuniu.cli import app
from shuniu.client import new_request_id
from shuniu.market.catalog import certificate_keys, certificates, product_key
from shuniu.protos.v1 import catalog_pb2 as C
from shuniu.protos.v1 import audit_pb2, common_pb2, nodes_pb2

NODE = "n-zz-2"
TRANSFER, NEW_HOLDER = C.RIGHTS_CHANGE_KIND_TRANSFER, C.RIGHTS_CHANGE_KIND_NEW_HOLDER


@pytest.fixture(scope="module")
def plane(redis_server, tmp_path_factory):
    """One control plane for the module, with its own state directory (so its certificate key is this
    module's) and one node; each test uses its own products and request ids, so they share it safely."""
    state = tmp_path_factory.mktemp("cert-plane")
    redis.Redis.from_url(redis_server.url).flushall()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SHUNIU_STATE_DIR", str(state / "state"))
        env.delenv(certificate_keys.KEY_PATH_ENV, raising=False)
        plane = ControlPlaneProcess(redis_server.url, state / "logs", suspect_after=60.0, down_after=120.0).start()
    try:
        with plane.client() as client:
            client.register(nodes_pb2.RegisterRequest(request_id="r-node", node_id=NODE, site="zhengzhou",
                                                      compute_class=1,
                                                      capacity=common_pb2.Capacity(cpu_milli=8000, memory_mb=16384)))
        plane.public_key = state / "state" / "keys" / certificate_keys.PUBLIC_NAME
        yield plane
    finally:
        plane.stop()
        redis.Redis.from_url(redis_server.url).flushall()


def _listed(client, tmp_path, grade=common_pb2.CLASSIFICATION_GRADE_INTERNAL, name="c") -> C.Product:
    """A product registered and verified (a public or internal one is then listed)."""
    spec = make_spec(write_parquet(tmp_path / f"{name}.parquet", 10), 10, node_id=NODE, grade=grade)
    product = client.catalog.RegisterProduct(C.RegisterProductRequest(request_id=new_request_id("reg"), spec=spec),
                                             timeout=5).product
    return client.catalog.ReportVerification(C.ReportVerificationRequest(
        request_id=new_request_id("ver"), product_id=product.product_id, verification=C.ProductVerification(
            node_id=NODE, schema_matches=True, row_count=10, content_sha256=spec.content_sha256)), timeout=5).product


def _cert(client, product_id: str, version: int = 0) -> C.Certificate:
    return client.catalog.GetCertificate(C.GetCertificateRequest(product_id=product_id, version=version),
                                         timeout=5).certificate


def _verify(client, **form) -> C.VerifyCertificateResponse:
    return client.catalog.VerifyCertificate(C.VerifyCertificateRequest(**form), timeout=5)


def _holders(*pairs):
    rights = C.Rights()
    for name in ("holding", "processing_use", "product_operation"):
        for holder, bp in pairs:
            getattr(rights, name).holders.add(holder_id=holder, share_bp=bp)
    return rights


def _rights_request(product_id, request_id="rights-1", kind=TRANSFER, rights=None):
    # Request ids are the product's own: the module's tests share one control plane.
    return C.UpdateProductRightsRequest(request_id=request_id and f"{product_id}-{request_id}", product_id=product_id, kind=kind,
                                        rights=rights or _holders(("henan-hs", 5_000), ("hospital", 5_000)),
                                        reason="deed 42")


def test_listing_issues_a_certificate_that_verifies_online_and_offline(plane, tmp_path):
    with plane.client() as client:
        product = _listed(client, tmp_path)
        cert = _cert(client, product.product_id)
        assert (product.certificate_id, product.certificate_version) == (cert.certificate_id, 1)
        assert cert.state == C.CERTIFICATE_STATE_VALID and cert.content_sha256 == product.spec.content_sha256
        assert cert.rights == product.spec.rights and cert.previous_sha256 == ""
        assert _verify(client, certificate=cert).valid and _verify(client, compact=cert.compact).valid
    keys = certificate_keys.public_keys([plane.public_key])
    decoded = certificates.decode_compact(cert.compact)
    assert certificates.verify_offline(decoded, keys, cert.valid_from_unix_ms + 1).valid


def test_rights_change_issues_a_linked_version_once_per_request_id(plane, tmp_path):
    with plane.client() as client:
        product = _listed(client, tmp_path)
        first = client.catalog.UpdateProductRights(_rights_request(product.product_id), timeout=5)
        again = client.catalog.UpdateProductRights(_rights_request(product.product_id), timeout=5)
        assert first == again and first.certificate.version == 2 and first.product.certificate_version == 2
        newer = client.catalog.UpdateProductRights(_rights_request(
            product.product_id, "rights-2", NEW_HOLDER,
            _holders(("henan-hs", 5_000), ("hospital", 4_000), ("city", 1_000))), timeout=5)
        versions = list(client.catalog.ListCertificateVersions(C.ListCertificateVersionsRequest(
            certificate_id=product.certificate_id), timeout=5).versions)
        v1 = _cert(client, product.product_id, 1)
        verdict = _verify(client, certificate=v1)
    assert [v.version for v in versions] == [3, 2, 1] and certificates.chain_breaks(versions) == []
    assert [v.state for v in versions] == [C.CERTIFICATE_STATE_VALID] + [C.CERTIFICATE_STATE_SUPERSEDED] * 2
    assert newer.certificate.rights.holding.holders[2].holder_id == "city"
    assert not verdict.valid and list(verdict.reasons) == ["superseded by version 3"]


def test_delisting_or_a_content_change_revokes_with_the_reason(plane, tmp_path, eventually):
    with plane.client() as client:
        delisted = _listed(client, tmp_path, name="a")
        changed = _listed(client, tmp_path, name="b")
        client.catalog.DelistProduct(C.DelistProductRequest(request_id=new_request_id("del"), product_id=delisted.product_id,
                                                            reason="licence withdrawn"), timeout=5)
        # No RPC changes a listed product's content yet; the record is edited as a re-verification would.
        store = redis.Redis.from_url(plane.redis_url)
        record = C.Product.FromString(store.get(product_key(changed.product_id)))
        record.verification.content_sha256 = "cd" * 32
        store.set(product_key(changed.product_id), record.SerializeToString())
        revoked = _verify(client, compact=_cert(client, delisted.product_id).compact)
        moved = _verify(client, certificate=_cert(client, changed.product_id))
    assert revoked.certificate.state == C.CERTIFICATE_STATE_REVOKED
    assert list(revoked.reasons) == ["product delisted: delisted: licence withdrawn"]
    assert moved.certificate.state == C.CERTIFICATE_STATE_REVOKED and moved.reasons[0].startswith("content_sha256 changed")

    def audited():
        with plane.client() as client:
            entries = client.audit.ListEntries(audit_pb2.AuditServiceListEntriesRequest(
                subject_id=delisted.certificate_id, page_size=100), timeout=5).entries
        return [e.action for e in entries] == ["certificate.issue", "certificate.revoke"]

    eventually(audited, what="certificate issue and revocation in the audit log")


def test_reviewed_product_gets_its_certificate_with_the_validity_asked_for(plane, tmp_path):
    with plane.client() as client:
        product = _listed(client, tmp_path, grade=common_pb2.CLASSIFICATION_GRADE_SENSITIVE)
        assert product.state == C.PRODUCT_STATE_UNDER_REVIEW and not product.certificate_id
        before = stored_state(plane.redis_url)
        with pytest.raises(grpc.RpcError) as err:
            client.catalog.ReviewProduct(C.ReviewProductRequest(request_id=new_request_id("rev"), product_id=product.product_id,
                                                                approve=True, certificate_valid_until_unix_ms=5), timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "certificate_valid_until_unix_ms 5 out of range" in err.value.details()
        assert stored_state(plane.redis_url) == before
        until_ms = product.registered_unix_ms + 400 * 24 * 3600 * 1000
        answer = client.catalog.ReviewProduct(C.ReviewProductRequest(
            request_id=new_request_id("rev"), product_id=product.product_id, approve=True, certificate_valid_until_unix_ms=until_ms),
            timeout=5)
    assert answer.product.state == C.PRODUCT_STATE_LISTED
    assert answer.certificate.version == 1 and answer.certificate.valid_until_unix_ms == until_ms


def test_refused_requests_change_nothing_stored(plane, tmp_path):
    with plane.client() as client:
        product = _listed(client, tmp_path)
        before = stored_state(plane.redis_url)
        cases = [
            ("unchanged", "UpdateProductRights", _rights_request(product.product_id, "x1", rights=product.spec.rights),
             grpc.StatusCode.INVALID_ARGUMENT, "rights are unchanged"),
            ("shares", "UpdateProductRights", _rights_request(product.product_id, "x2", rights=_holders(("a", 10))),
             grpc.StatusCode.INVALID_ARGUMENT, "rights.holding: shares sum to 10 bp"),
            ("wrong-kind", "UpdateProductRights", _rights_request(product.product_id, "x3", kind=NEW_HOLDER),
             grpc.StatusCode.INVALID_ARGUMENT, "no holder is new"),
            ("unknown-product", "UpdateProductRights", _rights_request("prd-nope", "x4"), grpc.StatusCode.NOT_FOUND,
             "product 'prd-nope' not found"),
            ("no-request-id", "UpdateProductRights", _rights_request(product.product_id, ""),
             grpc.StatusCode.INVALID_ARGUMENT, "request_id is empty"),
            ("unknown-cert", "GetCertificate", C.GetCertificateRequest(certificate_id="cert-0000000000000000"),
             grpc.StatusCode.NOT_FOUND, "certificate 'cert-0000000000000000' not found"),
            ("unknown-version", "GetCertificate", C.GetCertificateRequest(product_id=product.product_id, version=9),
             grpc.StatusCode.NOT_FOUND, "expected 1 to 1"),
            ("no-form", "VerifyCertificate", C.VerifyCertificateRequest(), grpc.StatusCode.INVALID_ARGUMENT,
             "neither certificate nor compact is set"),
            ("bad-compact", "VerifyCertificate", C.VerifyCertificateRequest(compact="SNC1.x"),
             grpc.StatusCode.INVALID_ARGUMENT, "expected 2: <body>.<signature>"),
        ]
        for name, rpc, request, code, message in cases:
            with pytest.raises(grpc.RpcError) as err:
                getattr(client.catalog, rpc)(request, timeout=5)
            assert (err.value.code(), name) == (code, name)
            assert message in err.value.details(), (name, err.value.details())
    assert stored_state(plane.redis_url) == before


def test_export_lists_the_catalog_as_stable_json_ld(plane, tmp_path):
    with plane.client() as client:
        listed = _listed(client, tmp_path, name="a")
        reviewing = _listed(client, tmp_path, grade=common_pb2.CLASSIFICATION_GRADE_SENSITIVE, name="b")
        first = client.catalog.ExportCatalog(C.ExportCatalogRequest(), timeout=5)
        second = client.catalog.ExportCatalog(C.ExportCatalogRequest(), timeout=5)
    document = json.loads(first.json_ld)
    assert first.json_ld == second.json_ld and "@context" in document
    datasets = {d["dct:identifier"]: d for d in document["dcat:dataset"]}
    assert first.products == len(datasets) and reviewing.product_id not in datasets
    dataset = datasets[listed.product_id]
    assert dataset["shuniu:certificate"]["@id"] == f"urn:shuniu:certificate:{listed.certificate_id}"
    assert str(tmp_path) not in first.json_ld and NODE not in first.json_ld


def test_cli_writes_a_certificate_that_verifies_offline_and_fails_when_tampered(plane, tmp_path):
    with plane.client() as client:
        product = _listed(client, tmp_path)
    runner = CliRunner()
    out, public = tmp_path / "cert.json", plane.public_key
    shown = runner.invoke(app, ["cert", "show", "--product", product.product_id, "--out", str(out),
                                "--addr", plane.address])
    assert shown.exit_code == 0, shown.output
    assert "version 1" in shown.output and "valid" in shown.output
    ok = runner.invoke(app, ["cert", "verify", str(out), "--public-key", str(public)])
    assert ok.exit_code == 0 and "valid" in ok.output, ok.output
    compact = json.loads(out.read_text())["compact"]
    assert runner.invoke(app, ["cert", "verify", "--compact", compact, "--public-key", str(public)]).exit_code == 0
    tampered = json.loads(out.read_text())
    tampered["rights"]["holding"]["holders"][0]["share_bp"] = 9_000
    tampered["rights"]["holding"]["holders"][1]["share_bp"] = 1_000
    out.write_text(json.dumps(tampered))
    bad = runner.invoke(app, ["cert", "verify", str(out), "--public-key", str(public)])
    assert bad.exit_code == 1 and "signature" in bad.output, bad.output
    changed = runner.invoke(app, ["products", "rights", product.product_id, "--kind", "share_change",
                                  "--all", "henan-hs=6000,hospital=4000", "--addr", plane.address])
    assert changed.exit_code == 0 and "version 2 issued" in changed.output, changed.output
    online = runner.invoke(app, ["cert", "verify", "--compact", compact, "--public-key", str(public), "--online",
                                 "--addr", plane.address])
    assert online.exit_code == 1 and "superseded by version 2" in online.output, online.output
    exported = runner.invoke(app, ["products", "export", "--out", str(tmp_path / "catalog.jsonld"),
                                   "--addr", plane.address])
    assert exported.exit_code == 0 and "listed products exported" in exported.output, exported.output
    datasets = json.loads((tmp_path / "catalog.jsonld").read_text())["dcat:dataset"]
    assert product.product_id in {d["dct:identifier"] for d in datasets}
