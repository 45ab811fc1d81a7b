"""Rules of the shuniu.v1 contract, checked on the generated descriptors.

Every mutating RPC carries a client idempotency key as field 1 (`string request_id = 1`);
read-only RPCs do not. Money is integer fen (int64), shares are integer basis points,
times are int64 Unix milliseconds. A new RPC whose verb is in neither list fails
`test_rpc_verb_is_classified` until someone decides which kind it is.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor

import shuniu.protos.v1 as _v1

MUTATING_VERBS = frozenset(
    {
        "Add",
        "Apply",
        "Approve",
        "Cancel",
        "Close",
        "Delist",
        "Deregister",
        "Drain",
        "Issue",
        "Propose",
        "Publish",
        "Record",
        "Register",
        "Reject",
        "Remove",
        "Report",
        "Review",
        "Revoke",
        "Set",
        "Submit",
        "Transfer",
        "Undrain",
        "Update",
    }
)
READ_ONLY_VERBS = frozenset({"Check", "Explain", "Export", "Get", "List", "Plan", "Trace", "Verify", "Watch"})
# RPCs outside both rules, with the reason.
EXEMPT = {
    # Liveness reports are fenced by node epoch and per-stream seq, not by a request id.
    "shuniu.v1.NodeService.Heartbeat": "fenced by epoch and seq",
    "shuniu.v1.NodeService.HeartbeatOnce": "fenced by epoch and seq",
}
EXPECTED_SERVICES = frozenset(
    {
        "AnalysisService",
        "AuditService",
        "CatalogService",
        "CreditService",
        "FeeScheduleService",
        "GrantService",
        "JobService",
        "LedgerService",
        "NegativeListService",
        "NodeService",
        "QuotaService",
        "SettlementService",
        "UsageService",
        "VoucherService",
    }
)
_INTEGER_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
    }
)


def _files():
    modules = sorted(m.name for m in pkgutil.iter_modules(_v1.__path__) if m.name.endswith("_pb2"))
    return [importlib.import_module(f"{_v1.__name__}.{name}").DESCRIPTOR for name in modules]


def _methods() -> list[MethodDescriptor]:
    return [m for f in _files() for s in f.services_by_name.values() for m in s.methods]


def _messages() -> list[Descriptor]:
    out: list[Descriptor] = []
    stack = [m for f in _files() for m in f.message_types_by_name.values()]
    while stack:
        message = stack.pop()
        out.append(message)
        stack.extend(message.nested_types)
    return sorted(out, key=lambda m: m.full_name)


def _fields(suffix: str) -> list[FieldDescriptor]:
    return [f for m in _messages() for f in m.fields if f.name.endswith(suffix)]


def _verb(method: MethodDescriptor) -> str:
    return re.match(r"[A-Z][a-z]*", method.name).group(0)


def _method_id(method: MethodDescriptor) -> str:
    return f"{method.containing_service.name}.{method.name}"


def _field_id(field: FieldDescriptor) -> str:
    return f"{field.containing_type.name}.{field.name}"


_METHODS = [m for m in _methods() if m.full_name not in EXEMPT]
_MUTATING = [m for m in _METHODS if _verb(m) in MUTATING_VERBS]
_READ_ONLY = [m for m in _METHODS if _verb(m) in READ_ONLY_VERBS]


def test_contract_has_every_service():
    found = {s.name for f in _files() for s in f.services_by_name.values()}
    assert EXPECTED_SERVICES <= found, f"missing services: {sorted(EXPECTED_SERVICES - found)}"


def test_exempt_rpcs_exist():
    names = {m.full_name for m in _methods()}
    assert set(EXEMPT) <= names, f"stale exemptions: {sorted(set(EXEMPT) - names)}"


@pytest.mark.parametrize("method", _METHODS, ids=_method_id)
def test_rpc_verb_is_classified(method: MethodDescriptor):
    verb = _verb(method)
    assert verb in MUTATING_VERBS | READ_ONLY_VERBS, (
        f"{method.full_name}: verb {verb!r} is neither mutating nor read-only; add it to one list"
    )


@pytest.mark.parametrize("method", _MUTATING, ids=_method_id)
def test_mutating_rpc_request_starts_with_request_id(method: MethodDescriptor):
    field = method.input_type.fields_by_number.get(1)
    assert field is not None, f"{method.input_type.full_name} has no field 1"
    assert field.name == "request_id", f"{method.input_type.full_name}: field 1 is {field.name!r}, expected 'request_id'"
    assert field.type == FieldDescriptor.TYPE_STRING, f"{method.input_type.full_name}.request_id is not a string"
    assert field.message_type is None and not _is_repeated(field)


@pytest.mark.parametrize("method", _READ_ONLY, ids=_method_id)
def test_read_only_rpc_request_has_no_request_id(method: MethodDescriptor):
    assert "request_id" not in method.input_type.fields_by_name, (
        f"{method.full_name} is read-only and needs no idempotency key"
    )


@pytest.mark.parametrize("field", _fields("_fen"), ids=_field_id)
def test_money_field_is_int64(field: FieldDescriptor):
    assert field.type == FieldDescriptor.TYPE_INT64, f"{field.full_name}: money is int64 fen"


@pytest.mark.parametrize("field", _fields("_bp"), ids=_field_id)
def test_share_field_is_integer(field: FieldDescriptor):
    assert field.type in _INTEGER_TYPES, f"{field.full_name}: basis points are an integer type"


@pytest.mark.parametrize("field", _fields("_unix_ms"), ids=_field_id)
def test_time_field_is_int64(field: FieldDescriptor):
    assert field.type == FieldDescriptor.TYPE_INT64, f"{field.full_name}: times are int64 Unix milliseconds"


def _is_repeated(field: FieldDescriptor) -> bool:
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return bool(repeated)
    return field.label == FieldDescriptor.LABEL_REPEATED
