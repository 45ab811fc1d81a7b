"""Real agent processes against a control plane that is killed and restarted, and a Redis that crashes."""

from __future__ import annotations

import pathlib
from shuniu.protos.v1 import nodes_pb2
from shuniu.stack import LocalRedis, ManagedProcess
import grpc
import redis

from shuniu.protos.v1 import common_pb2, nodes_pb2_grpc
from test_node_service import heartbeat, register_request

READY = nodes_pb2.NODE_STATE_READY


def join_agent(plane, log_dir: pathlib.Path, node_id: str, site: str = "luoyang", name: str | None = None) -> ManagedProcess:
    args = ["node", "join", "--site", site, "--class", "ai", "--gpu", "4", "--node-id", node_id,
            "--addr", plane.address, "--interval", "0.2"]
    return ManagedProcess(name or f"agent-{node_id}", args, log_dir).start()


def test_agent_reconnects_after_control_plane_is_killed_and_no_node_is_lost(control_plane_factory, tmp_path, eventually):
    plane = control_plane_factory(interval=0.2, suspect_after=1.0, down_after=2.0, restart_grace=4.0)
    agents = [join_agent(plane, tmp_path, f"ly-{i}") for i in range(3)]
    try:
        with plane.client() as client:
            eventually(lambda: len([n for n in client.list_nodes() if n.state == READY]) == 3, 20, what="3 nodes READY")
            epochs = {n.node_id: n.epoch for n in client.list_nodes()}
            beat_before = client.get_node("ly-0").last_heartbeat_unix_ms
        plane.kill()
        plane.start()  # same port, same Redis
        with plane.client() as client:
            nodes = {n.node_id: n for n in client.list_nodes()}
            assert set(nodes) == set(epochs), "a restart loses no node"
            assert all(n.state == READY for n in nodes.values()), "a restart does not mark the fleet down"
            eventually(lambda: client.get_node("ly-0").last_heartbeat_unix_ms > beat_before + 500, 20,
                       what="heartbeats after the restart")
            for node in client.list_nodes():
                # The agents reconnected with their epoch: no re-registration was needed.
                assert node.epoch == epochs[node.node_id]
                assert node.state == READY
        assert all(a.running for a in agents)
    finally:
        for agent in agents:
            agent.stop()


def test_running_join_twice_for_one_node_keeps_one_node_and_fences_the_first(control_plane, tmp_path, eventually):
    first = join_agent(control_plane, tmp_path, "ly-dup", name="first")
    try:
        with control_plane.client() as client:
            eventually(lambda: any(n.node_id == "ly-dup" for n in client.list_nodes()), 20, what="first join")
            second = join_agent(control_plane, tmp_path, "ly-dup", name="second")
            try:
                eventually(lambda: client.get_node("ly-dup").epoch == 2, 20, what="second registration")
                assert first.proc is not None
                assert first.proc.wait(20) == 3, first.log_tail()
                assert "fenced by a newer registration" in first.log_tail()
                assert [n.node_id for n in client.list_nodes()] == ["ly-dup"]
                assert second.running
            finally:
                second.stop()
    finally:
        first.stop()


def test_redis_restart_with_aof_keeps_every_node(tmp_path, control_plane_factory, eventually):
    redis_server = LocalRedis(tmp_path / "aof").start()
    try:
        plane = control_plane_factory(redis_url=redis_server.url)
        with plane.client() as client:
            for i in range(50):
                client.register(register_request(node_id=f"n-{i:02d}", request_id=f"r-{i}"))
            client.drain("n-07", request_id="drain-7")
        channel = grpc.insecure_channel(plane.address)
        with channel:
            beat = heartbeat("n-03", 1, load=0.75, free=common_pb2.Capacity(cpu_milli=1234, memory_mb=5678))
            nodes_pb2_grpc.NodeServiceStub(channel).HeartbeatOnce(nodes_pb2.HeartbeatOnceRequest(heartbeat=beat), timeout=5)
        # Live data reaches Redis with the next batch (every 0.5 s).
        live = redis.Redis.from_url(redis_server.url)
        eventually(lambda: live.hexists("shuniu:nodes:live", "n-03"), 5, what="live status written")
        live.close()
        redis_server.kill()  # SIGKILL: no shutdown save, only the append-only file
        plane.kill()
        redis_server.start()
        plane.start()
        with plane.client() as client:
            nodes = {n.node_id: n for n in client.list_nodes()}
        assert len(nodes) == 50
        assert nodes["n-07"].draining and not nodes["n-08"].draining
        assert all(n.epoch == 1 for n in nodes.values())
        assert (nodes["n-03"].free.cpu_milli, nodes["n-03"].free.memory_mb) == (1234, 5678)
        assert nodes["n-03"].load == 0.75
    finally:
        redis_server.stop()
