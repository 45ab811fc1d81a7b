"""Hypothesis-generated requests for every RPC of protos/shuniu/v1 against a real control plane.

The methods come from the descriptors, so a new RPC is fuzzed without touching this file.
Requests are random field values: oversized strings, negative and huge numbers, unknown enum
values, empty ids, and ids of objects that exist (so that handlers get past their lookups).
Every answer must be OK or a proper refusal (a method the server does not serve yet: UNIMPLEMENTED, always); a refused request must leave every `shuniu:*` key
as it was (except the ones that move on their own, `_MOVES_ON_ITS_OWN`); the server must stay up.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import grpc
import pytest
import redis
from conftest import AgentThread, ControlPlaneProcess, _eventually
from google.protobuf import descriptor as D
from google.protobuf import message_factory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shuniu.protos.v1 import (
    analyses_pb2,
    audit_pb2,
    catalog_pb2,
    common_pb2,
    credit_pb2,
    grants_pb2,
    jobs_pb2,
    ledger_pb2,
    negative_list_pb2,
    nodes_pb2,
    overview_pb2,
    quota_pb2,
    runs_pb2,
    settlement_pb2,
    usage_pb2,
)
from test_faults import list_market

_MODULES = (analyses_pb2, audit_pb2, catalog_pb2, common_pb2, credit_pb2, grants_pb2, jobs_pb2, ledger_pb2, negative_list_pb2,
            nodes_pb2, overview_pb2, quota_pb2, runs_pb2, settlement_pb2, usage_pb2)
METHODS = sorted(((service, method) for module in _MODULES for service in module.DESCRIPTOR.services_by_name.values()
                  for method in service.methods), key=lambda sm: (sm[0].full_name, sm[1].name))

REFUSALS = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
            grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ALREADY_EXISTS}
# Keys written by the control plane's own background work, not by the request being answered:
# the audit chainer appends entries for events of earlier accepted requests whenever it gets to
# them (its chain, cursors and checkpoints), and the fleet flushes live heartbeat data every 0.5 s.
_MOVES_ON_ITS_OWN = (b"shuniu:audit:", b"shuniu:nodes:live")
EXAMPLES = 40  # per method: 67 methods × 40 examples take ~35 s here
_DEPTH = 3
UNIMPLEMENTED = grpc.StatusCode.UNIMPLEMENTED

_INTS = {
    D.FieldDescriptor.TYPE_INT32: (-2**31, 2**31 - 1), D.FieldDescriptor.TYPE_SINT32: (-2**31, 2**31 - 1),
    D.FieldDescriptor.TYPE_SFIXED32: (-2**31, 2**31 - 1), D.FieldDescriptor.TYPE_INT64: (-2**63, 2**63 - 1),
    D.FieldDescriptor.TYPE_SINT64: (-2**63, 2**63 - 1), D.FieldDescriptor.TYPE_SFIXED64: (-2**63, 2**63 - 1),
    D.FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1), D.FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    D.FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), D.FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
KNOWN_IDS: list[str] = ["zz-001"]  # filled with the seeded objects' ids before the examples run


def _ints(low: int, high: int) -> st.SearchStrategy[int]:
    edges = [v for v in (-1, 0, 1, 2, 7, 100, 10**6, 10**12, low, high) if low <= v <= high]
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


def _strings() -> st.SearchStrategy[str]:
    return st.one_of(
        st.just(""), st.sampled_from(KNOWN_IDS), st.sampled_from(["T1", "T7", "zhengzhou", "atlantis", "2026-11", "*",
                                                                  "../../etc/passwd", "a" * 300]),
        st.text(max_size=16), st.integers(5_000, 200_000).map(lambda n: "x" * n))


def _scalar(field: D.FieldDescriptor) -> st.SearchStrategy:
    t = field.type
    if t in _INTS:
        return _ints(*_INTS[t])
    if t == D.FieldDescriptor.TYPE_ENUM:
        return st.one_of(st.sampled_from([v.number for v in field.enum_type.values]), st.integers(-3, 1000))
    if t in (D.FieldDescriptor.TYPE_DOUBLE, D.FieldDescriptor.TYPE_FLOAT):
        return st.floats(width=64 if t == D.FieldDescriptor.TYPE_DOUBLE else 32)
    if t == D.FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == D.FieldDescriptor.TYPE_STRING:
        return _strings()
    if t == D.FieldDescriptor.TYPE_BYTES:
        return st.one_of(st.binary(max_size=64), st.integers(5_000, 200_000).map(lambda n: b"\xff" * n))
    raise AssertionError(f"field type {t} of {field.full_name} has no strategy")


def _field_values(field: D.FieldDescriptor, depth: int) -> st.SearchStrategy | None:
    """What one field may hold (a list for repeated fields, a dict for maps); None when too deep to nest."""
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
        values = _field_values(value, depth)
        return None if values is None else st.dictionaries(_scalar(key), values, max_size=3)
    if field.message_type is not None:
        if depth >= _DEPTH:
            return None
        one = messages(field.message_type, depth + 1)
    else:
        one = _scalar(field)
    return st.lists(one, max_size=3) if field.is_repeated else one


def messages(descriptor: D.Descriptor, depth: int = 0) -> st.SearchStrategy:
    """Random messages of `descriptor`: each field set or not, to any value its type allows."""
    cls = message_factory.GetMessageClass(descriptor)
    fields = {f.name: s for f in descriptor.fields if (s := _field_values(f, depth)) is not None}
    return st.fixed_dictionaries({}, optional=fields).map(lambda values: _build(cls, descriptor, values))


def _build(cls, descriptor: D.Descriptor, values: dict):
    message = cls()
    for name, value in values.items():
        field = descriptor.fields_by_name[name]
        target = getattr(message, name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            for k, v in value.items():
                if field.message_type.fields_by_name["value"].message_type is not None:
                    target[k].CopyFrom(v)
                else:
                    target[k] = v
        elif field.is_repeated:
            target.extend(value)
        elif field.message_type is not None:
            target.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def snapshot(client: redis.Redis) -> dict[bytes, bytes]:
    return {k: client.dump(k) for k in sorted(client.scan_iter(b"shuniu:*", count=1000))
            if not k.startswith(_MOVES_ON_ITS_OWN)}


def call(channel: grpc.Channel, service: D.ServiceDescriptor, method: D.MethodDescriptor, requests: list,
         timeout_s: float = 10.0) -> grpc.StatusCode:
    """Calls `method` with the requests (one for unary input) and returns the final status code."""
    path = f"/{service.full_name}/{method.name}"
    out = message_factory.GetMessageClass(method.output_type)
    kwargs = {"request_serializer": lambda m: m.SerializeToString(), "response_deserializer": out.FromString}
    try:
        if method.client_streaming and method.server_streaming:
            for _ in channel.stream_stream(path, **kwargs)(iter(requests), timeout=timeout_s):
                pass
        elif method.client_streaming:
            channel.stream_unary(path, **kwargs)(iter(requests), timeout=timeout_s)
        elif method.server_streaming:
            # A watch of an object that exists streams until it ends: a few answers show it works.
            for n, _ in enumerate(channel.unary_stream(path, **kwargs)(requests[0], timeout=timeout_s)):
                if n >= 2:
                    break
        else:
            channel.unary_unary(path, **kwargs)(requests[0], timeout=timeout_s)
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def _seed(plane: ControlPlaneProcess, root: pathlib.Path) -> None:
    """A node, a listed product and a grant for the fuzzed ids to find, so handlers go past their lookups."""
    product, grant = list_market(plane, root, ["zz-001"], _eventually)
    KNOWN_IDS.extend([product.product_id, grant.grant_id, "zz-bank", "state-grid-henan", "reg-power"])


@pytest.fixture(scope="module")
def fuzzed_plane(redis_server, tmp_path_factory) -> Iterator[tuple[ControlPlaneProcess, redis.Redis]]:
    """One control plane for every method (a process per method would cost more than the fuzzing)."""
    store = redis.Redis.from_url(redis_server.url)
    store.flushall()
    root = tmp_path_factory.mktemp("fuzz")
    # Long liveness bounds: no node turns SUSPECT or DOWN on its own while requests are fuzzed.
    plane = ControlPlaneProcess(redis_server.url, root / "logs", suspect_after=3600, down_after=7200,
                                restart_grace=7200).start()
    try:
        # The agent verifies the product's file, so that it is listed; then it leaves, as fuzzed
        # Register and Deregister calls of its node id would fence it anyway.
        with AgentThread(plane.address, "zz-001", "zhengzhou", common_pb2.Capacity(cpu_milli=8000, memory_mb=16384)):
            _seed(plane, root)
        yield plane, store
    finally:
        plane.stop()
        store.flushall()
        store.close()


@pytest.mark.parametrize("service,method", METHODS, ids=[f"{s.name}.{m.name}" for s, m in METHODS])
def test_random_requests_get_a_proper_status_and_refusals_change_nothing(fuzzed_plane, service, method):
    plane, store = fuzzed_plane
    allowed = REFUSALS | {grpc.StatusCode.OK}
    with grpc.insecure_channel(plane.address) as channel:
        # A method of the contract this server does not serve yet (its service, or the method of a
        # served service, comes with a later issue) must say so to every request, and only that.
        if call(channel, service, method, [message_factory.GetMessageClass(method.input_type)()]) == UNIMPLEMENTED:
            allowed = {UNIMPLEMENTED}
    batch = st.lists(messages(method.input_type), min_size=1, max_size=3 if method.client_streaming else 1)

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(requests=batch)
    def one(requests):
        before = snapshot(store)
        with grpc.insecure_channel(plane.address) as channel:
            code = call(channel, service, method, requests)
        assert code in allowed, (code, [str(r)[:500] for r in requests], plane.proc.log_tail())
        if code != grpc.StatusCode.OK:
            after = snapshot(store)
            changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
            assert not changed, f"refused with {code.name} yet changed {changed}"

    one()
    assert plane.proc is not None and plane.proc.running, plane.proc.log_tail()
