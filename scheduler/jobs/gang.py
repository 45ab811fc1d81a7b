"""Gang jobs: how the members' runs make one outcome. Pure.

A gang runs the same request on each of its nodes (each member reads and meters on its own
node). The job succeeds only if every member does; its released output is the first member's
(rank 0). Otherwise the first member that did not succeed says how the job ended.
"""

from __future__ import annotations

from collections.abc import Sequence

from shuniu.protos.v1 import jobs_pb2, runs_pb2

# How long Ray may take to reserve every member's bundle before the attempt fails (and is retried).
GANG_RESERVE_S = 30.0


class GangNotReserved(Exception):
    """Ray could not reserve a bundle on every member's node in time."""


def gang_result(results: Sequence[runs_pb2.NodeRunResult | None]) -> runs_pb2.NodeRunResult | None:
    """The job's outcome from its members' results (one result for a job that is not a gang)."""
    if any(r is None for r in results):
        return None
    for result in results:
        if result.state != jobs_pb2.JOB_STATE_SUCCEEDED:
            return result
    return results[0]


def usage_batches(results: Sequence[runs_pb2.NodeRunResult | None]) -> list[str]:
    """The usage batches the members' runs wrote (every member meters and bills its own run), in member order."""
    return [r.usage_batch_id for r in results if r is not None and r.usage_batch_id]
