"""Ledger accounts belong to parties, not to names: a real control plane under mTLS, real postings in Redis.

A certificate reads an account only when its role holds that kind of account and its name is the owner.
Certificates named like the exchange or like another kind of party are made here the way a CA without
the reserved-name rule (or an older one) would have issued them, since `shuniu ca` now refuses them.
"""

from __future__ import annotations

import datetime
import pathlib
import re

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from shuniu.market.ledger import split_account_id
from shuniu.protos.v1 import ledger_pb2, settlement_pb2
from shuniu.security import pki, tls

from shuniu.client import Client

DENIED = grpc.StatusCode.PERMISSION_DENIED
# name -> role; the last three carry names of accounts that are not theirs to read.
USERS = {"ops": "operator", "reg": "regulator", "bank-a": "buyer", "bank-b": "buyer",
         "exchange": "buyer", "zhengzhou-dc": "buyer", "henan-drc": "data_holder"}
PAID = ("exchange:exchange", "subsidy:exchange", "compute_center:zhengzhou-dc", "feedback_fund:henan-drc",
        "buyer:bank-a", "buyer:bank-b")


def _issue_unchecked(directory: pathlib.Path, name: str, role: str) -> None:
    """A user certificate signed by the CA without the CA's reserved-name rule (as one issued before it)."""
    ca_cert = x509.load_pem_x509_certificate((directory / pki.CA_CERT).read_bytes())
    ca_key = serialization.load_pem_private_key((directory / pki.CA_KEY).read_bytes(), password=None)
    identity = pki.user_identity(name, role)
    key, cert = pki.make_leaf(ca_key, ca_cert, [x509.UniformResourceIdentifier(u) for u in identity.uris()],
                              f"{role}:{name}", False, datetime.datetime.now(datetime.UTC))
    stem = directory / identity.file_stem()
    stem.with_suffix(".key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    stem.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory) -> pathlib.Path:
    directory = tmp_path_factory.mktemp("ca")
    pki.init_ca(directory)
    pki.issue_server(directory)
    for name, role in USERS.items():
        _issue_unchecked(directory, name, role)
    return directory


@pytest.fixture
def plane(control_plane_factory, ca_dir):
    plane = control_plane_factory(tls_dir=str(ca_dir), tls=tls.load_client_tls(ca_dir, "ops"))
    with plane.client() as ops:
        for i, account in enumerate(PAID):
            ops.ledger.RecordPayment(ledger_pb2.RecordPaymentRequest(
                request_id=f"pay-{i}", account_id=account, amount_fen=1_000 + i, reference="test deposit"))
    return plane


def as_(plane, ca_dir: pathlib.Path, name: str) -> Client:
    return Client(plane.address, timeout_s=5, tls=tls.load_client_tls(ca_dir, name))


def answer(call) -> tuple[str, str]:
    """(status code, message) of a refused call."""
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value.code().name, err.value.details() or ""


READS = {
    "GetBalance": lambda c, a: c.ledger.GetBalance(ledger_pb2.GetBalanceRequest(account_id=a)),
    "GetBalance-by-kind": lambda c, a: c.ledger.GetBalance(ledger_pb2.GetBalanceRequest(
        kind=split_account_id(a)[0], owner_id=split_account_id(a)[1])),
    "ListPostings": lambda c, a: c.ledger.ListPostings(ledger_pb2.ListPostingsRequest(account_id=a)),
    "ListStatements": lambda c, a: c.settlement.ListStatements(settlement_pb2.ListStatementsRequest(account_id=a)),
    "GetStatement": lambda c, a: c.settlement.GetStatement(settlement_pb2.GetStatementRequest(
        statement_id=f"2026-01/{a}")),
}


@pytest.mark.parametrize("name, account", [
    ("exchange", "exchange:exchange"),
    ("exchange", "subsidy:exchange"),
    ("zhengzhou-dc", "compute_center:zhengzhou-dc"),
    ("henan-drc", "feedback_fund:henan-drc"),
], ids=["buyer-named-exchange", "buyer-named-the-subsidy", "buyer-named-a-center", "holder-named-a-fund"])
def test_a_certificate_named_after_an_account_of_another_kind_cannot_read_it(plane, ca_dir, name, account):
    with as_(plane, ca_dir, name) as client:
        for read, call in READS.items():
            code, message = answer(lambda: call(client, account))
            assert code == "PERMISSION_DENIED", (read, message)
            assert "rule own-account" in message, (read, message)
            assert "1,00" not in message and "balance_fen" not in message, (read, message)  # nothing of the account


def test_a_buyer_named_exchange_lists_no_account_of_the_exchange(plane, ca_dir):
    with as_(plane, ca_dir, "exchange") as client:
        listed = client.ledger.ListAccounts(ledger_pb2.ListAccountsRequest())
        assert [a.account_id for a in listed.accounts] == []
        code, message = answer(lambda: client.ledger.ListAccounts(
            ledger_pb2.ListAccountsRequest(kind=ledger_pb2.ACCOUNT_KIND_EXCHANGE)))
    assert code == "PERMISSION_DENIED" and "ACCOUNT_KIND_BUYER" in message
    with as_(plane, ca_dir, "bank-a") as client:
        assert [a.account_id for a in client.ledger.ListAccounts(ledger_pb2.ListAccountsRequest()).accounts] == ["buyer:bank-a"]


def test_another_partys_account_and_an_unknown_one_get_the_same_answer(plane, ca_dir):
    with as_(plane, ca_dir, "bank-a") as client:
        for read, call in READS.items():
            other = answer(lambda: call(client, "buyer:bank-b"))  # has postings
            unknown = answer(lambda: call(client, "buyer:bank-zz"))  # has none
            assert other[0] == unknown[0] == "PERMISSION_DENIED", (read, other, unknown)
            assert re.sub(r"bank-(b|zz)", "X", other[1]) == re.sub(r"bank-(b|zz)", "X", unknown[1]), read


def test_each_party_still_reads_its_own_account_and_the_exchange_reads_all(plane, ca_dir):
    with as_(plane, ca_dir, "bank-a") as client:
        assert client.ledger.GetBalance(ledger_pb2.GetBalanceRequest(account_id="buyer:bank-a")).account.balance_fen == 1_004
        assert client.ledger.GetBalance(ledger_pb2.GetBalanceRequest(
            kind=ledger_pb2.ACCOUNT_KIND_BUYER, owner_id="bank-a")).account.account_id == "buyer:bank-a"
        postings = client.ledger.ListPostings(ledger_pb2.ListPostingsRequest(account_id="buyer:bank-a")).postings
        assert [p.amount_fen for p in postings] == [1_004]
    for reader in ("ops", "reg"):
        with as_(plane, ca_dir, reader) as client:
            found = client.ledger.GetBalance(ledger_pb2.GetBalanceRequest(account_id="exchange:exchange"))
            assert found.account.balance_fen == 1_000


def test_a_mixed_request_naming_its_own_and_another_account_is_refused(plane, ca_dir):
    with as_(plane, ca_dir, "exchange") as client:
        code, message = answer(lambda: client.ledger.GetBalance(ledger_pb2.GetBalanceRequest(
            account_id="buyer:exchange", kind=ledger_pb2.ACCOUNT_KIND_EXCHANGE, owner_id="exchange")))
    assert code == "PERMISSION_DENIED" and "ACCOUNT_KIND_EXCHANGE exchange" in message
