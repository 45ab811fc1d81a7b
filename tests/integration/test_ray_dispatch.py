"""Ray dispatch: work pinned to a Shuniu node runs on the raylet that hosts it, and Ray stays on loopback."""

from __future__ import annotations

import json
import os
import pathlib

import pytest
import ray

from shuniu.nodes.ray_node import node_ids_of, node_resource, resources_json
from shuniu.scheduler.dispatch import RayDispatcher
from shuniu.scheduler.dispatch.ray_dispatcher import classify


@pytest.fixture(scope="module")
def dispatcher(ray_cluster) -> RayDispatcher:
    dispatcher = RayDispatcher(ray_cluster.address)
    dispatcher.connect()  # already connected by the fixture: must be a no-op
    return dispatcher


def test_node_resources_name_each_node():
    assert node_resource("zz-1") == "shuniu-node/zz-1"
    assert node_ids_of(json.loads(resources_json(["b", "a", "a"]))) == ["a", "b"]
    with pytest.raises(ValueError):
        node_resource("")


def test_hosted_nodes_map_to_their_raylets(ray_cluster, dispatcher):
    hosted = dispatcher.hosted_nodes()
    for raylet, node_ids in ray_cluster.HOSTED.items():
        for node_id in node_ids:
            assert hosted[node_id] == ray_cluster.ray_node_ids[raylet]


@pytest.mark.parametrize("raylet,node_id", [(r, n) for r, ids in {
    "head": ("ray-n1", "ray-n2"), "raylet": ("ray-n3", "ray-n4")}.items() for n in ids])
def test_work_lands_on_the_raylet_of_the_node_chosen(ray_cluster, dispatcher, raylet, node_id):
    for _ in range(3):
        answer = json.loads(ray.get(dispatcher.dispatch(node_id, "shuniu.nodes.ray_node:ping", b"hi"), timeout=60))
        assert answer["ray_node_id"] == ray_cluster.ray_node_ids[raylet]
        assert answer["echo"] == "hi"


def test_a_failing_entry_point_is_a_task_error(dispatcher):
    ref = dispatcher.dispatch("ray-n3", "shuniu.nodes.ray_node:no_such_function", b"")
    with pytest.raises(ray.exceptions.RayTaskError) as caught:
        ray.get(ref, timeout=60)
    failure = classify(caught.value)
    assert failure.category == "task_error"
    assert "AttributeError" in failure.detail


def _listening_sockets_of(pids: set[int]) -> list[str]:
    """Local addresses of TCP listeners owned by `pids` (from /proc, no tools needed)."""
    inodes: dict[str, int] = {}
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in pathlib.Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.append(fields[1])
    return found


def _ray_pids() -> set[int]:
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = pathlib.Path(f"/proc/{entry}/cmdline").read_bytes()
            except (FileNotFoundError, PermissionError, ProcessLookupError):
                continue
            if b"/ray/" in cmdline or cmdline.startswith(b"ray::"):
                pids.add(int(entry))
    return pids


def test_ray_listens_on_loopback_only(ray_cluster):
    listeners = _listening_sockets_of(_ray_pids())
    assert listeners, "found no Ray listeners to check"
    # 127.0.0.1, ::1 and ::ffff:127.0.0.1 as /proc prints them
    loopback = ("0100007F:", "00000000000000000000000001000000:", "0000000000000000FFFF00000100007F:")
    outward = [addr for addr in listeners if not addr.startswith(loopback)]
    assert outward == []
