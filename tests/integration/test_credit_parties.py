"""Credit records (信用) belong to parties, not to names: a real control plane under mTLS, events recorded by the operator.

A buyer may carry the name of a compute center or a data holder (the CA reserves only the exchange's
names); each party reads its own record, of its role and its name, and no other.
"""

from __future__ import annotations

import pathlib
import re
import shutil

import grpc
import pytest

from shuniu.market import credit
from shuniu.protos.v1 import credit_pb2
from shuniu.security import pki, tls

from shuniu.client import Client

# One name per certificate file in a CA directory: the center's certificate is issued by the same CA in a copy.
USERS = {"ops": "operator", "zhengzhou-dc": "buyer", "bank-b": "buyer", "henan-grid": "data_holder"}
CENTER = "zhengzhou-dc"
# (org id as the operator records it, points): the center's, the buyer of the same name's, another buyer's, a holder's.
RECORDED = [("compute_center:zhengzhou-dc", -100), ("zhengzhou-dc", -20), ("bank-b", -50), ("holder:henan-grid", -10)]


@pytest.fixture(scope="module")
def ca_dirs(tmp_path_factory) -> tuple[pathlib.Path, pathlib.Path]:
    """(the CA directory with the users' certificates, a copy of it holding the compute center's)."""
    directory = tmp_path_factory.mktemp("ca")
    pki.init_ca(directory)
    pki.issue_server(directory)
    for name, role in USERS.items():
        pki.issue_identity(directory, pki.user_identity(name, role))
    center = tmp_path_factory.mktemp("ca-center")
    shutil.copytree(directory, center, dirs_exist_ok=True)
    pki.issue_identity(center, pki.user_identity(CENTER, "compute_center"), force=True)  # replaces the buyer's
    return directory, center


@pytest.fixture
def plane(control_plane_factory, ca_dirs):
    users, _ = ca_dirs
    plane = control_plane_factory(tls_dir=str(users), tls=tls.load_client_tls(users, "ops"))
    with plane.client() as ops:
        for i, (org_id, points) in enumerate(RECORDED):
            ops.credit.RecordCreditEvent(credit_pb2.RecordCreditEventRequest(request_id=f"adj-{i}", event=credit_pb2.CreditEvent(
                org_id=org_id, kind=credit.ADJUSTMENT, points=points, note=f"test adjustment of {org_id}")), timeout=5)
    return plane


def as_(plane, directory: pathlib.Path, name: str) -> Client:
    return Client(plane.address, timeout_s=5, tls=tls.load_client_tls(directory, name))


def _read(client, org_id: str) -> tuple[int, list[str]]:
    """(score, notes of its events) of the record `org_id` names, as the caller may read it."""
    record = client.credit.GetCreditRecord(credit_pb2.GetCreditRecordRequest(org_id=org_id), timeout=5).record
    events = client.credit.ListCreditEvents(credit_pb2.ListCreditEventsRequest(org_id=org_id), timeout=5).events
    return record.score, [e.note for e in events]


def _refusal(client, org_id: str) -> list[tuple[str, str]]:
    """(status, message) of each read of `org_id`, which must be refused."""
    answers = []
    for call in (lambda: client.credit.GetCreditRecord(credit_pb2.GetCreditRecordRequest(org_id=org_id), timeout=5),
                 lambda: client.credit.ListCreditEvents(credit_pb2.ListCreditEventsRequest(org_id=org_id), timeout=5)):
        with pytest.raises(grpc.RpcError) as refused:
            call()
        answers.append((refused.value.code().name, refused.value.details() or ""))
    return answers


def test_a_buyer_named_after_a_compute_center_reads_its_own_record_and_never_the_centers(plane, ca_dirs):
    users, _ = ca_dirs
    with as_(plane, users, CENTER) as buyer:
        for org_id in ("", CENTER, f"buyer:{CENTER}"):
            assert _read(buyer, org_id) == (980, [f"test adjustment of {CENTER}"]), org_id
        for code, message in _refusal(buyer, f"compute_center:{CENTER}"):
            assert code == "PERMISSION_DENIED" and "rule own-org" in message and "-100" not in message


def test_a_compute_center_reads_its_own_record_apart_from_the_buyer_of_its_name(plane, ca_dirs):
    _, centers = ca_dirs
    with as_(plane, centers, CENTER) as center:
        for org_id in ("", f"compute_center:{CENTER}"):
            assert _read(center, org_id) == (900, [f"test adjustment of compute_center:{CENTER}"]), org_id
        for org_id in (CENTER, f"buyer:{CENTER}"):
            assert {code for code, _ in _refusal(center, org_id)} == {"PERMISSION_DENIED"}, org_id


def test_a_holder_reads_its_own_record_and_the_operator_lists_every_party_apart(plane, ca_dirs):
    users, _ = ca_dirs
    with as_(plane, users, "henan-grid") as holder:
        assert _read(holder, "") == (990, ["test adjustment of holder:henan-grid"])
        assert {code for code, _ in _refusal(holder, "henan-grid")} == {"PERMISSION_DENIED"}
    with as_(plane, users, "ops") as ops:
        listed = ops.credit.ListCreditRecords(credit_pb2.ListCreditRecordsRequest(), timeout=5).records
    assert sorted((r.org_id, r.score) for r in listed) == sorted((credit.party_org(o), 1000 + p) for o, p in RECORDED)


@pytest.mark.parametrize("name, other, unknown", [
    ("bank-b", CENTER, "bank-zz"),
    ("bank-b", f"compute_center:{CENTER}", "compute_center:nowhere-dc"),
    ("henan-grid", "bank-b", "holder:nobody"),
], ids=["buyer-asks-a-buyer", "buyer-asks-a-center", "holder-asks-a-buyer"])
def test_another_partys_record_and_an_unknown_one_get_the_same_answer(plane, ca_dirs, name, other, unknown):
    users, _ = ca_dirs
    with as_(plane, users, name) as client:
        answers = [[(code, message.replace(repr(org), "X")) for code, message in _refusal(client, org)]
                   for org in (other, unknown)]
    assert answers[0] == answers[1]
    assert {code for code, _ in answers[0]} == {"PERMISSION_DENIED"}
    assert not re.search(r"\b(9\d\d|1000)\b", " ".join(m for _, m in answers[0]))  # no score of the record asked
