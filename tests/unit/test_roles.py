"""The access table and its pure checks; certificates binding identities and the `shuniu ca` command."""

from __future__ import annotations

import datetime
import importlib
import pathlib

import pytest
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st
from shuniu.protos.v1 import grants_pb2, jobs_pb2, ledger_pb2, nodes_pb2
from shuniu.security import pki, roles, tls
from typer.testing import CliRunner

from shuniu.cli import app

PROTO_DIR = pathlib.Path(__file__).resolve().parents[2] / "protos" / "shuniu" / "v1"
NOW = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)


def contract_methods() -> list[str]:
    """Every RPC of every service declared in protos/shuniu/v1, read from the generated descriptors."""
    methods = []
    for proto in sorted(PROTO_DIR.glob("*.proto")):
        module = importlib.import_module(f"shuniu.protos.v1.{proto.stem}_pb2")
        for service in module.DESCRIPTOR.services_by_name.values():
            methods += [f"/{service.full_name}/{m.name}" for m in service.methods]
    return methods


def test_every_method_of_the_contract_has_a_rule():
    methods = contract_methods()
    assert len(methods) >= 60
    assert roles.unlisted_methods(methods) == [], "add these methods to security/roles.py RULES"


def test_the_table_names_no_method_the_contract_lacks():
    assert sorted(set(roles.RULES) - set(contract_methods())) == []


def test_every_rule_names_known_roles_and_resources():
    for method, rule in roles.RULES.items():
        assert rule.roles, method
        assert set(rule.roles) <= set(roles.EVERYONE), method
        for checks in rule.roles.values():
            for check in checks:
                assert not isinstance(check, roles.Owns) or check.resource in roles.RESOURCES, method


@pytest.mark.parametrize("method, role", [
    ("/shuniu.v1.GrantService/ApproveGrant", roles.OPERATOR),
    ("/shuniu.v1.NegativeListService/AddEntry", roles.OPERATOR),
    ("/shuniu.v1.NegativeListService/RemoveEntry", roles.OPERATOR),
    ("/shuniu.v1.AuditService/VerifyChain", roles.REGULATOR),
    ("/shuniu.v1.NodeService/Heartbeat", roles.NODE),
    ("/shuniu.v1.UsageService/ReportUsage", roles.NODE),
], ids=lambda v: v.rsplit("/", 1)[-1] if "/" in str(v) else v)
def test_privileged_calls_belong_to_their_role(method, role):
    assert role in roles.RULES[method].roles
    others = [r for r in roles.EVERYONE if r not in roles.RULES[method].roles]
    assert others, method
    for other in others:
        with pytest.raises(roles.Denied, match=f"role '{other}' may not call"):
            roles.checks_for(method, pki.Identity(other, ("someone",)))


def test_only_nodes_register_heartbeat_and_report_usage():
    for method in ("/shuniu.v1.NodeService/Register", "/shuniu.v1.NodeService/Heartbeat",
                   "/shuniu.v1.NodeService/HeartbeatOnce", "/shuniu.v1.UsageService/ReportUsage"):
        assert list(roles.RULES[method].roles) == [roles.NODE], method


def test_health_and_reflection_are_open_and_unlisted_methods_are_refused():
    assert roles.is_open("/grpc.health.v1.Health/Check")
    assert roles.is_open("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
    assert not roles.is_open("/shuniu.v1.NodeService/GetNode")
    with pytest.raises(roles.Denied, match="rule unlisted-method"):
        roles.checks_for("/shuniu.v1.NewService/Do", pki.Identity(roles.OPERATOR, ("ops",)))


@pytest.mark.parametrize("claim, ok", [(None, True), ("buyer", True), ("operator", False), ("", False)],
                         ids=["no-claim", "same-role", "other-role", "empty-claim"])
def test_a_role_claim_must_match_the_certificate(claim, ok):
    buyer = pki.Identity(roles.BUYER, ("bank-a",))
    if ok:
        roles.checks_for("/shuniu.v1.JobService/ListJobs", buyer, claim)
    else:
        with pytest.raises(roles.Denied, match="rule role-claim"):
            roles.checks_for("/shuniu.v1.JobService/ListJobs", buyer, claim)


BUYER = pki.Identity(roles.BUYER, ("bank-a",))


@pytest.mark.parametrize("request_, forced, words", [
    (jobs_pb2.ListJobsRequest(), "bank-a", None),
    (jobs_pb2.ListJobsRequest(buyer_id="bank-a"), "bank-a", None),
    (jobs_pb2.ListJobsRequest(buyer_id="bank-b"), None, "rule own-buyer_id"),
], ids=["empty-is-forced", "own-is-kept", "other-is-refused"])
def test_a_named_field_is_forced_or_refused(request_, forced, words):
    checks = roles.checks_for("/shuniu.v1.JobService/ListJobs", BUYER)
    if words:
        with pytest.raises(roles.Denied, match=words):
            roles.apply_request_checks(checks, BUYER, request_)
    else:
        assert roles.apply_request_checks(checks, BUYER, request_) == []
        assert request_.buyer_id == forced


def test_a_nested_field_is_forced():
    request = grants_pb2.ApplyGrantRequest(request_id="r", spec=grants_pb2.GrantSpec(scenario="s"))
    roles.apply_request_checks(roles.checks_for("/shuniu.v1.GrantService/ApplyGrant", BUYER), BUYER, request)
    assert request.spec.buyer_id == "bank-a"


@pytest.mark.parametrize("account, ok", [("buyer:bank-a", True), ("buyer:bank-b", False), ("", False),
                                         ("bank-a", False)], ids=["own", "other", "empty", "no-kind"])
def test_ledger_accounts_must_be_the_callers(account, ok):
    checks = roles.checks_for("/shuniu.v1.LedgerService/ListPostings", BUYER)
    request = ledger_pb2.ListPostingsRequest(account_id=account)
    if ok:
        roles.apply_request_checks(checks, BUYER, request)
    else:
        with pytest.raises(roles.Denied, match="rule own-account"):
            roles.apply_request_checks(checks, BUYER, request)


def test_stored_ownership_is_left_to_the_lookup_and_then_checked():
    checks = roles.checks_for("/shuniu.v1.JobService/CancelJob", BUYER)
    lookups = roles.apply_request_checks(checks, BUYER, jobs_pb2.CancelJobRequest(job_id="j1"))
    assert lookups == [roles.Owns("job", "job_id")]
    roles.check_owner(lookups[0], BUYER, "j1", ("bank-a",))
    roles.check_owner(lookups[0], BUYER, "j1", None)  # unknown job: the handler says NOT_FOUND
    with pytest.raises(roles.Denied, match="rule own-job: job 'j1' belongs to another party"):
        roles.check_owner(lookups[0], BUYER, "j1", ("bank-b",))


def test_a_get_style_response_of_another_party_is_refused():
    checks = roles.response_checks(roles.checks_for("/shuniu.v1.JobService/GetJob", BUYER))
    roles.check_response(checks, BUYER, jobs_pb2.GetJobResponse(job=jobs_pb2.Job(buyer_id="bank-a")))
    with pytest.raises(roles.Denied, match="rule own-job"):
        roles.check_response(checks, BUYER, jobs_pb2.GetJobResponse(job=jobs_pb2.Job(buyer_id="bank-b")))


@pytest.mark.parametrize("names, node_id, ok", [
    (("n-a",), "n-a", True), (("n-a",), "n-b", False), (("n-a",), "n-a2", False),
    (("sim-*",), "sim-zhengzhou-00001", True), (("sim-*",), "simx", False), (("n-a", "n-b"), "n-b", True),
], ids=["own", "other", "own-prefix-is-not-own", "pattern", "pattern-other", "second-name"])
def test_a_node_certificate_speaks_for_its_own_nodes(names, node_id, ok):
    identity = pki.node_identity(*names)
    request = nodes_pb2.RegisterRequest(node_id=node_id)
    checks = roles.checks_for("/shuniu.v1.NodeService/Register", identity)
    if ok:
        roles.apply_request_checks(checks, identity, request)
    else:
        with pytest.raises(roles.Denied, match="rule own-node"):
            roles.apply_request_checks(checks, identity, request)


# -- certificates --------------------------------------------------------------------------------

_name = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)


@given(name=_name, role=st.sampled_from(pki.USER_ROLES))
def test_a_user_identity_survives_its_certificate(name, role):
    ca_key, ca_cert = _CA
    identity = pki.user_identity(name, role)
    _, cert = pki.make_leaf(ca_key, ca_cert, [x509.UniformResourceIdentifier(u) for u in identity.uris()],
                            name, False, NOW)
    assert pki.parse_identity(cert) == identity


@given(names=st.lists(_name, min_size=1, max_size=4, unique=True), pattern=st.booleans())
def test_a_node_identity_survives_its_certificate(names, pattern):
    ca_key, ca_cert = _CA
    names = [n + "*" if pattern else n for n in names]
    identity = pki.node_identity(*names)
    _, cert = pki.make_leaf(ca_key, ca_cert, [x509.UniformResourceIdentifier(u) for u in identity.uris()],
                            "n", False, NOW)
    assert pki.parse_identity(cert) == identity


_CA = pki.make_ca("test CA", NOW)


@pytest.mark.parametrize("uris, words", [
    ([], "no single shuniu identity"),
    (["shuniu://user/a?role=buyer", "shuniu://user/b?role=buyer"], "no single shuniu identity"),
    (["shuniu://user/a?role=king"], "role 'king' unknown"),
    (["shuniu://user/a"], "no single shuniu identity"),
    (["shuniu://node/A!"], "malformed"),
    (["shuniu://node/n1", "shuniu://user/a?role=operator"], "no single shuniu identity"),
], ids=["none", "two-users", "unknown-role", "no-role", "bad-node-id", "node-and-user"])
def test_a_certificate_without_one_clean_identity_is_rejected(uris, words):
    ca_key, ca_cert = _CA
    names = [x509.UniformResourceIdentifier(u) for u in uris] or [x509.DNSName("example")]
    _, cert = pki.make_leaf(ca_key, ca_cert, names, "x", False, NOW)
    with pytest.raises(ValueError, match=words):
        pki.parse_identity(cert)


def test_the_server_certificate_names_loopback():
    ca_key, ca_cert = _CA
    _, cert = pki.make_leaf(ca_key, ca_cert, pki.server_names(), "server", True, NOW)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]


@pytest.mark.parametrize("label, stem", [("operator", "user-operator"), ("node:n1", "node-n1"),
                                         ("node:sim-*", "node-sim-ALL"), ("user-bank", "user-bank")],
                         ids=["user", "node", "node-pattern", "stem"])
def test_identity_labels_name_their_files(label, stem):
    assert tls.identity_stem(label) == stem


# -- `shuniu ca` -----------------------------------------------------------------------------------

def _ca(*args: str):
    return CliRunner().invoke(app, ["ca", *args])


def test_ca_init_and_issue_write_keys_only_the_owner_reads(tmp_path):
    directory = str(tmp_path / "ca")
    assert _ca("init", "--dir", directory).exit_code == 0
    assert _ca("issue", "--dir", directory, "--user", "bank-a", "--role", "buyer").exit_code == 0
    assert _ca("issue", "--dir", directory, "--node", "n1").exit_code == 0
    loaded = tls.load_client_tls(directory, "bank-a")
    assert loaded.identity() == pki.user_identity("bank-a", "buyer")
    assert tls.load_client_tls(directory, "node:n1").identity() == pki.node_identity("n1")
    for key in pathlib.Path(directory).glob("*.key"):
        assert key.stat().st_mode & 0o077 == 0, key


@pytest.mark.parametrize("args, words", [
    (["issue", "--user", "bank-a", "--role", "king"], "role 'king' unknown"),
    (["issue", "--user", "bank-a"], "--user needs --role"),
    (["issue"], "give exactly one of"),
    (["issue", "--node", "n1", "--user", "u", "--role", "buyer"], "give exactly one of"),
    (["issue", "--node", "Bad Id"], "malformed"),
    (["init"], "already in"),
    (["issue", "--user", "bank-a", "--role", "buyer"], "already in"),
], ids=["unknown-role", "no-role", "nothing", "two-kinds", "bad-node-id", "init-twice", "issue-twice"])
def test_ca_refuses_bad_input_with_a_clear_error(tmp_path, args, words):
    directory = str(tmp_path / "ca")
    assert _ca("init", "--dir", directory).exit_code == 0
    assert _ca("issue", "--dir", directory, "--user", "bank-a", "--role", "buyer").exit_code == 0
    result = _ca(*args, "--dir", directory)
    assert result.exit_code != 0
    assert words in " ".join(result.output.split()), result.output


def test_issuing_without_a_ca_says_how_to_make_one(tmp_path):
    result = _ca("issue", "--dir", str(tmp_path / "none"), "--node", "n1")
    assert result.exit_code != 0 and "shuniu ca init" in result.output
