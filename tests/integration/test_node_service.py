"""NodeService over real gRPC against a real control plane process and a real Redis."""

from __future__ import annotations

import grpc
import pytest

from conftest import stored_state

from shuniu.protos.v1 import common_pb2, nodes_pb2, nodes_pb2_grpc

GENERAL = common_pb2.COMPUTE_CLASS_GENERAL


def register_request(node_id: str = "zz-001", request_id: str = "req-1", **overrides) -> nodes_pb2.RegisterRequest:
    fields = dict(
        request_id=request_id, node_id=node_id, site="zhengzhou", compute_class=GENERAL,
        capacity=common_pb2.Capacity(cpu_milli=8000, memory_mb=32768),
        price_card=common_pb2.PriceCard(cpu_core_hour_fen=12, memory_gb_hour_fen=2),
    )
    fields.update(overrides)
    return nodes_pb2.RegisterRequest(**fields)


def heartbeat(node_id: str, epoch: int, seq: int = 0, **overrides) -> nodes_pb2.HeartbeatRequest:
    fields = dict(node_id=node_id, epoch=epoch, seq=seq, load=0.25, ack_requested=True,
                  free=common_pb2.Capacity(cpu_milli=6000, memory_mb=30000))
    fields.update(overrides)
    return nodes_pb2.HeartbeatRequest(**fields)


def test_register_is_idempotent_by_request_id(control_plane):
    with control_plane.client() as client:
        first = client.register(register_request())
        again = client.register(register_request())
        assert first.epoch == again.epoch == 1
        assert [n.node_id for n in client.list_nodes()] == ["zz-001"]
        bumped = client.register(register_request(request_id="req-2"))
        assert bumped.epoch == 2
        assert len(list(client.list_nodes())) == 1


def test_request_id_reused_for_another_request_is_refused(control_plane, redis_url):
    with control_plane.client() as client:
        client.register(register_request())
        before = stored_state(redis_url, events=False)
        with pytest.raises(grpc.RpcError) as err:
            client.register(register_request(site="luoyang"))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "already used for a different request" in err.value.details()
        assert stored_state(redis_url, events=False) == before


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"site": "atlantis"}, 'site \'atlantis\' unknown; expected one of anyang'),
        ({"node_id": ""}, "node_id is empty"),
        ({"node_id": "Bad Node!"}, "node_id 'Bad Node!' is malformed"),
        ({"compute_class": 7}, "compute_class 7 unknown; expected one of general (1), ai (2), hpc (3)"),
        ({"compute_class": 0}, "compute_class 0 unknown"),
        ({"capacity": common_pb2.Capacity(cpu_milli=-1, memory_mb=1024)}, "capacity.cpu_milli is -1; expected ≥ 0"),
        ({"capacity": common_pb2.Capacity(cpu_milli=1000, memory_mb=0)}, "must have cpu_milli > 0 and memory_mb > 0"),
        ({"compute_class": common_pb2.COMPUTE_CLASS_AI}, "compute_class ai needs capacity.gpu ≥ 1"),
        ({"request_id": ""}, "request_id is empty"),
        ({"price_card": common_pb2.PriceCard(cpu_core_hour_fen=-5)}, "price_card.cpu_core_hour_fen is -5"),
        ({"price_card": common_pb2.PriceCard(bands=[common_pb2.TimeOfUseBand(start_hour=8, end_hour=30, multiplier_bp=12000)])},
         "price_card.bands[0] hours 8-30 invalid"),
        ({"labels": {"Bad Key": "x"}}, "label key 'Bad Key' is malformed"),
    ],
    ids=["unknown-site", "empty-node-id", "malformed-node-id", "unknown-class", "unspecified-class",
         "negative-cpu", "zero-memory", "ai-without-gpu", "empty-request-id", "negative-price", "band-past-midnight",
         "bad-label"],
)
def test_bad_registration_is_refused_and_changes_nothing(control_plane, redis_url, overrides, message):
    with control_plane.client() as client:
        client.register(register_request(node_id="zz-keep", request_id="keep"))
        before = stored_state(redis_url, events=False)
        with pytest.raises(grpc.RpcError) as err:
            client.register(register_request(**{"request_id": "bad", **overrides}))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in err.value.details()
        assert stored_state(redis_url, events=False) == before


def _stub(control_plane) -> tuple[grpc.Channel, nodes_pb2_grpc.NodeServiceStub]:
    channel = grpc.insecure_channel(control_plane.address)
    return channel, nodes_pb2_grpc.NodeServiceStub(channel)


@pytest.mark.parametrize(
    ("make_heartbeat", "code", "message"),
    [
        (lambda epoch: heartbeat("nobody", 1), grpc.StatusCode.NOT_FOUND, "node 'nobody' is not registered; call Register first"),
        (lambda epoch: heartbeat("zz-001", epoch - 1), grpc.StatusCode.FAILED_PRECONDITION, "is fenced by a newer registration"),
        (lambda epoch: heartbeat("zz-001", epoch + 5), grpc.StatusCode.FAILED_PRECONDITION, "unknown; current epoch is"),
        (lambda epoch: heartbeat("zz-001", epoch, load=float("nan")), grpc.StatusCode.INVALID_ARGUMENT, "load is nan"),
        (lambda epoch: heartbeat("zz-001", epoch, free=common_pb2.Capacity(cpu_milli=-3)), grpc.StatusCode.INVALID_ARGUMENT,
         "free.cpu_milli is -3"),
        (lambda epoch: heartbeat("zz-001", epoch, rtts=[nodes_pb2.RttSample(site="mars", rtt_ms=1)]),
         grpc.StatusCode.INVALID_ARGUMENT, "rtts site 'mars' unknown"),
    ],
    ids=["unregistered", "fenced-epoch", "future-epoch", "nan-load", "negative-free", "unknown-rtt-site"],
)
def test_bad_heartbeat_gets_a_status_and_changes_nothing(control_plane, redis_url, make_heartbeat, code, message):
    with control_plane.client() as client:
        client.register(register_request(request_id="r1"))
        epoch = client.register(register_request(request_id="r2")).epoch
    before = stored_state(redis_url, events=False)
    channel, stub = _stub(control_plane)
    with channel:
        with pytest.raises(grpc.RpcError) as stream_err:
            list(stub.Heartbeat(iter([make_heartbeat(epoch)]), timeout=5))
        with pytest.raises(grpc.RpcError) as unary_err:
            stub.HeartbeatOnce(nodes_pb2.HeartbeatOnceRequest(heartbeat=make_heartbeat(epoch)), timeout=5)
    for err in (stream_err, unary_err):
        assert err.value.code() == code
        assert message in err.value.details()
    assert stored_state(redis_url, events=False) == before


def test_reregistering_fences_the_old_agents_stream(control_plane):
    channel, stub = _stub(control_plane)
    with control_plane.client() as client, channel:
        old_epoch = client.register(register_request(request_id="a")).epoch
        acks = list(stub.Heartbeat(iter([heartbeat("zz-001", old_epoch, seq=s) for s in range(3)]), timeout=5))
        assert [a.seq for a in acks] == [0, 1, 2]
        new_epoch = client.register(register_request(request_id="b")).epoch
        assert new_epoch == old_epoch + 1
        with pytest.raises(grpc.RpcError) as err:
            list(stub.Heartbeat(iter([heartbeat("zz-001", old_epoch, seq=3)]), timeout=5))
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert f"fenced by a newer registration (epoch {new_epoch})" in err.value.details()
        assert client.get_node("zz-001").epoch == new_epoch


def test_silent_node_turns_suspect_then_down_and_rejoins_by_registering(control_plane_factory, eventually):
    plane = control_plane_factory(interval=0.2, suspect_after=0.6, down_after=1.5, restart_grace=1.5)
    channel, stub = _stub(plane)
    with plane.client() as client, channel:
        epoch = client.register(register_request()).epoch
        stub.HeartbeatOnce(nodes_pb2.HeartbeatOnceRequest(heartbeat=heartbeat("zz-001", epoch)), timeout=5)
        eventually(lambda: client.get_node("zz-001").state == nodes_pb2.NODE_STATE_SUSPECT, 5, what="SUSPECT")
        # A SUSPECT node that speaks again is READY.
        ack = stub.HeartbeatOnce(nodes_pb2.HeartbeatOnceRequest(heartbeat=heartbeat("zz-001", epoch, seq=1)), timeout=5).ack
        assert ack.state == nodes_pb2.NODE_STATE_READY
        eventually(lambda: client.get_node("zz-001").state == nodes_pb2.NODE_STATE_DOWN, 5, what="DOWN")
        acks = list(stub.Heartbeat(iter([heartbeat("zz-001", epoch, seq=2), heartbeat("zz-001", epoch, seq=3)]), timeout=5))
        assert [a.state for a in acks] == [nodes_pb2.NODE_STATE_DOWN], "a DOWN node's stream ends after one answer"
        rejoined = client.register(register_request(request_id="rejoin"))
        assert rejoined.epoch == epoch + 1 and rejoined.node.state == nodes_pb2.NODE_STATE_READY


def test_stream_answers_only_heartbeats_that_ask_and_changes_of_state(control_plane):
    channel, stub = _stub(control_plane)
    with control_plane.client() as client, channel:
        epoch = client.register(register_request()).epoch
        beats = [heartbeat("zz-001", epoch, seq=s, ack_requested=s % 3 == 0) for s in range(7)]
        acks = list(stub.Heartbeat(iter(beats), timeout=5))
        assert [a.seq for a in acks] == [0, 3, 6]
        assert client.get_node("zz-001").last_heartbeat_unix_ms > 0


def test_drain_undrain_and_deregister(control_plane):
    channel, stub = _stub(control_plane)
    with control_plane.client() as client, channel:
        epoch = client.register(register_request()).epoch
        assert client.drain("zz-001", reason="maintenance", request_id="d1").draining
        assert client.drain("zz-001", reason="maintenance", request_id="d1").draining
        pools = client.pools("zhengzhou", [common_pb2.TIER_T1])
        assert pools[0].nodes_ready == 0, "a draining node takes no new work"
        assert not client.undrain("zz-001").draining
        assert client.pools("zhengzhou", [common_pb2.TIER_T1])[0].nodes_ready == 1
        client.deregister("zz-001")
        assert list(client.list_nodes()) == []
        with pytest.raises(grpc.RpcError) as err:
            stub.HeartbeatOnce(nodes_pb2.HeartbeatOnceRequest(heartbeat=heartbeat("zz-001", epoch)), timeout=5)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as err:
            client.drain("zz-001")
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_list_nodes_filters_and_pages(control_plane):
    with control_plane.client() as client:
        for i in range(25):
            site = "luoyang" if i % 5 == 0 else "zhengzhou"
            client.register(register_request(node_id=f"n-{i:03d}", request_id=f"r{i}", site=site))
        assert len(list(client.list_nodes(page_size=7))) == 25
        assert {n.site for n in client.list_nodes(site="luoyang")} == {"luoyang"}
        assert len(list(client.list_nodes(site="luoyang"))) == 5
        assert len(list(client.list_nodes(state=nodes_pb2.NODE_STATE_DOWN))) == 0
        with pytest.raises(grpc.RpcError) as err:
            list(client.list_nodes(site="nowhere"))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_measured_rtts_override_the_model_in_pools(control_plane):
    channel, stub = _stub(control_plane)
    with control_plane.client() as client, channel:
        epoch = client.register(register_request(node_id="ly-001", site="luoyang")).epoch
        t2 = {s.site for s in client.pools("zhengzhou", [common_pb2.TIER_T2])[0].sites}
        assert "luoyang" in t2
        slow = heartbeat("ly-001", epoch, rtts=[nodes_pb2.RttSample(site="zhengzhou", rtt_ms=4.2)])
        stub.HeartbeatOnce(nodes_pb2.HeartbeatOnceRequest(heartbeat=slow), timeout=5)
        pools = {p.tier: p for p in client.pools("zhengzhou")}
        assert "luoyang" not in {s.site for s in pools[common_pb2.TIER_T2].sites}
        luoyang = next(s for s in pools[common_pb2.TIER_T3].sites if s.site == "luoyang")
        assert luoyang.measured and luoyang.rtt_ms == pytest.approx(4.2)


def test_pools_follow_the_provincial_circle(control_plane):
    with control_plane.client() as client:
        topology = client.topology()
        henan = {s.site for s in topology.sites if s.region == "henan"}
        hubs = {s.site for s in topology.sites if s.region == "hub"}
        assert len(henan) == 18 and len(hubs) == 8
        pools = {p.tier: {s.site for s in p.sites} for p in client.pools("zhengzhou")}
    assert pools[common_pb2.TIER_T1] == {"zhengzhou"}
    assert "luoyang" in pools[common_pb2.TIER_T2]
    assert pools[common_pb2.TIER_T3] == henan
    assert pools[common_pb2.TIER_T4] == henan | hubs


def test_health_and_reflection_answer(control_plane):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    channel = grpc.insecure_channel(control_plane.address)
    with channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "shuniu.v1.NodeService"):
            status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
            assert status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
        names = {s.name for a in answers for s in a.list_services_response.service}
    assert "shuniu.v1.NodeService" in names and "grpc.health.v1.Health" in names
