"""How a gang's member results make the job's outcome."""

from __future__ import annotations

import pytest

from shuniu.protos.v1 import jobs_pb2, runs_pb2
from shuniu.scheduler.jobs.gang import gang_result

OK, FAILED, DENIED = jobs_pb2.JOB_STATE_SUCCEEDED, jobs_pb2.JOB_STATE_FAILED, jobs_pb2.JOB_STATE_EGRESS_DENIED


def run(state: int, reason: str) -> runs_pb2.NodeRunResult:
    return runs_pb2.NodeRunResult(state=state, reason=reason)


@pytest.mark.parametrize("members,expected", [
    ([run(OK, "rank0")], "rank0"),
    ([run(OK, "rank0"), run(OK, "rank1")], "rank0"),
    ([run(OK, "rank0"), run(FAILED, "rank1 crashed")], "rank1 crashed"),
    ([run(DENIED, "rank0 leaked"), run(FAILED, "rank1 crashed")], "rank0 leaked"),
    ([run(OK, "rank0"), None], None),
], ids=["single", "all-succeed-rank0-speaks", "one-failure-fails-the-gang", "first-unsuccessful-speaks",
        "a-member-without-result"])
def test_gang_outcome(members, expected):
    result = gang_result(members)
    assert (None if result is None else result.reason) == expected
