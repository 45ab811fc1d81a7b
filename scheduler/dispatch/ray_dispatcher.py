"""Runs work on a chosen node as a Ray task pinned by the node's custom resource.

The scheduler never imports the code that runs on the node: a task names its entry point
as "module:function", and the worker on the node imports it. The entry point takes and
returns bytes (serialized protobuf), so nothing but plain data crosses the boundary.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import os
from collections.abc import Mapping

from shuniu.nodes.ray_node import RAY_LOOPBACK_ENV, node_ids_of, node_resource

# Ray reads this once, when it is imported: set later, it would not stop a driver from
# rewriting 127.0.0.1 to the machine's outward address.
for _name, _value in RAY_LOOPBACK_ENV.items():
    os.environ.setdefault(_name, _value)

import ray  # noqa: E402
import ray.exceptions  # noqa: E402
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group  # noqa: E402
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy  # noqa: E402

NAMESPACE = "shuniu"


def _entry_point(entry_point: str):
    module, _, name = entry_point.partition(":")
    return getattr(importlib.import_module(module), name)


# No retries: the scheduler decides whether a failed attempt runs again, so that a job never
# runs twice to completion.
@ray.remote(num_cpus=0, max_retries=0)
def _run_entry_point(entry_point: str, payload: bytes) -> bytes:
    return _entry_point(entry_point)(payload)


# A run holds one CPU slot of its raylet: a raylet never starts more workers (and warm
# sandboxes) at once than the CPUs it was given; the rest wait in Ray's queue.
@ray.remote(num_cpus=1, max_retries=0, num_returns="streaming")
def _stream_entry_point(entry_point: str, payload: bytes):
    yield from _entry_point(entry_point)(payload)


@dataclasses.dataclass(frozen=True)
class DispatchFailure:
    """Why a dispatched task did not return: a category the retry policy keys on, and the detail."""

    category: str  # "node_lost", "cancelled", "task_error"
    detail: str


def classify(error: BaseException) -> DispatchFailure:
    """Maps a Ray exception to the failure categories the scheduler retries by."""
    if isinstance(error, ray.exceptions.TaskCancelledError):
        return DispatchFailure("cancelled", "the task was cancelled")
    if isinstance(error, (ray.exceptions.NodeDiedError, ray.exceptions.WorkerCrashedError,
                          ray.exceptions.LocalRayletDiedError, ray.exceptions.OwnerDiedError)):
        return DispatchFailure("node_lost", f"{type(error).__name__}: the node or its worker died")
    if isinstance(error, ray.exceptions.RayTaskError):
        cause = error.cause if getattr(error, "cause", None) is not None else error
        return DispatchFailure("task_error", f"{type(cause).__name__}: {cause}")
    return DispatchFailure("task_error", f"{type(error).__name__}: {error}")


class RayDispatcher:
    """A driver connection to the Ray cluster; `dispatch` pins one task to one node (hard affinity)."""

    def __init__(self, address: str) -> None:
        self.address = address

    def connect(self) -> None:
        if ray.is_initialized():
            return
        ray.init(address=self.address, namespace=NAMESPACE, log_to_driver=False, logging_level="warning",
                 _node_ip_address="127.0.0.1")

    def close(self) -> None:
        if ray.is_initialized():
            ray.shutdown()

    def hosted_nodes(self) -> Mapping[str, str]:
        """Shuniu node id -> Ray node id, for every live raylet."""
        hosted: dict[str, str] = {}
        for raylet in ray.nodes():
            if raylet.get("Alive"):
                for node_id in node_ids_of(raylet.get("Resources", {})):
                    hosted[node_id] = raylet["NodeID"]
        return hosted

    def dispatch(self, node_id: str, entry_point: str, payload: bytes, name: str = "") -> ray.ObjectRef:
        """Starts `entry_point(payload)` on `node_id`; await or ray.get the reference for its bytes."""
        options = {"resources": {node_resource(node_id): 1}}
        if name:
            options["name"] = name
        return _run_entry_point.options(**options).remote(entry_point, payload)

    def dispatch_stream(self, node_id: str, entry_point: str, payload: bytes, name: str = "",
                        gang: tuple[PlacementGroup, int] | None = None):
        """Starts a generator entry point on `node_id`; `async for ref in …: await ref` reads what it yields.

        With `gang` (a reserved placement group and this member's bundle), the task runs in the
        bundle reserved on its node.
        """
        options: dict = {"resources": {node_resource(node_id): 1}}
        if name:
            options["name"] = name
        if gang is not None:
            group, index = gang
            options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=index)
        return _stream_entry_point.options(**options).remote(entry_point, payload)

    @staticmethod
    def reserve_gang(node_ids: list[str], name: str = "") -> PlacementGroup:
        """Asks Ray for one bundle (a run's CPU slot) on each node, reserved all at once or not at all."""
        bundles = [{"CPU": 1, node_resource(node_id): 1} for node_id in node_ids]
        return placement_group(bundles, strategy="PACK", name=name)

    @staticmethod
    async def gang_ready(group: PlacementGroup, timeout_s: float) -> bool:
        """True once every bundle is reserved; False if Ray could not within `timeout_s`."""
        try:
            await asyncio.wait_for(group.ready(), timeout_s)
        except TimeoutError:
            return False
        return True

    @staticmethod
    def release_gang(group: PlacementGroup) -> None:
        """Frees the bundles; a member still running in one is stopped with it."""
        remove_placement_group(group)

    classify = staticmethod(classify)

    @staticmethod
    def cancel(refs) -> None:
        """Stops the tasks, killing their workers if running (and with them the sandboxes they started)."""
        for ref in refs:
            ray.cancel(ref, force=True)
