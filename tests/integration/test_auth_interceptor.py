"""The interceptor on every RPC shape, in process over real TLS on loopback: caller bound, each message checked.

UsageService.ReportUsage (stream → unary) has no servicer in the control plane yet; this test
serves a small one of its own so that the client-streaming shape is exercised too.
"""

from __future__ import annotations

import grpc
import pytest
import redis.asyncio as aioredis
from shuniu.protos.v1 import nodes_pb2, nodes_pb2_grpc, usage_pb2, usage_pb2_grpc
from shuniu.scheduler.control_plane.auth_interceptor import AuthInterceptor, OwnerLookup
from shuniu.security import pki, tls
from shuniu.security.caller import current_caller


class _Usage(usage_pb2_grpc.UsageServiceServicer):
    """Accepts every batch it is handed and records who the interceptor said was calling."""

    def __init__(self) -> None:
        self.callers: list[tuple[str, str]] = []

    async def ReportUsage(self, request_iterator, context):
        accepted = [r.batch.batch_id async for r in request_iterator]
        caller = current_caller()
        self.callers.append((caller.name, caller.role))
        return usage_pb2.ReportUsageResponse(accepted_batch_ids=accepted)


class _Nodes(nodes_pb2_grpc.NodeServiceServicer):
    async def Heartbeat(self, request_iterator, context):
        async for hb in request_iterator:
            yield nodes_pb2.HeartbeatResponse(seq=hb.seq)


@pytest.fixture
async def server(tmp_path, redis_url):
    pki.init_ca(tmp_path)
    pki.issue_server(tmp_path)
    pki.issue_identity(tmp_path, pki.node_identity("n-a"))
    redis = aioredis.Redis.from_url(redis_url)
    usage = _Usage()
    srv = grpc.aio.server(interceptors=[AuthInterceptor(OwnerLookup(redis))])
    usage_pb2_grpc.add_UsageServiceServicer_to_server(usage, srv)
    nodes_pb2_grpc.add_NodeServiceServicer_to_server(_Nodes(), srv)
    port = srv.add_secure_port("127.0.0.1:0", tls.server_credentials(tmp_path))
    await srv.start()
    channel = tls.aio_channel(f"127.0.0.1:{port}", tls.load_client_tls(tmp_path, "node:n-a"))
    yield channel, usage
    await channel.close()
    await srv.stop(0)
    await redis.aclose()


def _batches(*node_ids: str):
    async def gen():
        for i, node_id in enumerate(node_ids):
            yield usage_pb2.ReportUsageRequest(request_id=f"r{i}",
                                               batch=usage_pb2.UsageBatch(batch_id=f"b{i}", node_id=node_id))
    return gen()


async def test_a_node_reports_its_own_usage_and_is_the_bound_caller(server):
    channel, usage = server
    answer = await usage_pb2_grpc.UsageServiceStub(channel).ReportUsage(_batches("n-a", "n-a"), timeout=5)
    assert list(answer.accepted_batch_ids) == ["b0", "b1"]
    assert usage.callers == [("n-a", "node")]


async def test_a_usage_stream_that_turns_to_another_node_is_refused(server):
    channel, usage = server
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await usage_pb2_grpc.UsageServiceStub(channel).ReportUsage(_batches("n-a", "n-b"), timeout=5)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "rule own-node" in err.value.details() and "batch.node_id 'n-b'" in err.value.details()
    assert usage.callers == []


async def test_a_heartbeat_stream_answers_its_own_node_and_stops_at_another(server):
    channel, _ = server
    stub = nodes_pb2_grpc.NodeServiceStub(channel)

    def beats(*node_ids):
        async def gen():
            for seq, node_id in enumerate(node_ids, 1):
                yield nodes_pb2.HeartbeatRequest(node_id=node_id, seq=seq)
        return gen()

    assert [r.seq async for r in stub.Heartbeat(beats("n-a", "n-a", "n-a"), timeout=5)] == [1, 2, 3]
    seen = []
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for response in stub.Heartbeat(beats("n-a", "n-b", "n-a"), timeout=5):
            seen.append(response.seq)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert seen == [1]


async def test_a_method_without_a_servicer_is_unimplemented_not_opened(server):
    channel, _ = server
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await nodes_pb2_grpc.NodeServiceStub(channel).GetTopology(nodes_pb2.GetTopologyRequest(), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
