"""How a Shuniu node is named inside Ray, so that work can be pinned to it.

Every node agent's raylet carries one custom resource per Shuniu node it hosts (a real
machine hosts one; the local stack's single raylet hosts all its simulated nodes). A task
that asks for one unit of it can run only there: hard pinning, not a soft preference.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

RESOURCE_PREFIX = "shuniu-node/"
# Units per node: enough that concurrency on a node is bounded by the scheduler's capacity
# accounting, never by Ray.
UNITS_PER_NODE = 10_000

# Ray listens on the machine's outward address unless this is set and the node IP is loopback.
RAY_LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def node_resource(node_id: str) -> str:
    """The custom resource that pins a task to `node_id`."""
    if not node_id:
        raise ValueError("node_id must be non-empty")
    return RESOURCE_PREFIX + node_id


def node_ids_of(resources: dict[str, float]) -> list[str]:
    """The Shuniu nodes a raylet hosts, from its resource dictionary."""
    return sorted(name[len(RESOURCE_PREFIX):] for name in resources if name.startswith(RESOURCE_PREFIX))


def resources_json(node_ids: Iterable[str]) -> str:
    """The `--resources` argument of `ray start` for a raylet hosting `node_ids`."""
    return json.dumps({node_resource(n): UNITS_PER_NODE for n in sorted(set(node_ids))})


def ping(payload: bytes) -> bytes:
    """Entry point that says where it ran: the Ray node id and process (for checks and `shuniu` diagnostics)."""
    import os

    import ray

    return json.dumps({"ray_node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid(),
                       "echo": payload.decode(errors="replace")}).encode()
