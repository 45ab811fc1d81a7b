"""A control-plane crash (kill -9) mid-run: the restarted plane rebuilds its queue from Redis; nothing lost or doubled."""

from __future__ import annotations

import grpc
import redis
from test_jobs import _endless_job, aggregate_spec, finished, market, submit  # noqa: F401, F811  (market is a fixture)

from shuniu.protos.v1 import jobs_pb2 as S


def _state(client, job_id: str) -> S.Job:
    return client.jobs.GetJob(S.GetJobRequest(job_id=job_id), timeout=5).job


def test_a_killed_control_plane_requeues_the_running_job_and_keeps_every_job_once(market, redis_url, eventually):
    plane, product, grant = market
    with plane.client() as client:
        running = submit(client, _endless_job(grant, product), "sub-endless")
        eventually(lambda: _state(client, running.job_id).state == S.JOB_STATE_RUNNING, timeout_s=30, what="running")
        done = finished(client, submit(client, aggregate_spec(grant, product), "sub-done").job_id, eventually)
    assert done.state == S.JOB_STATE_SUCCEEDED

    plane.kill()
    # Same address: the agents reconnect to it. Their reconnect backoff on a loaded machine can pass
    # the fixture's 2 s, which would mark them DOWN; the grace under test is the restart's, not theirs.
    plane.liveness["restart_grace"] = 15.0
    plane.start()

    with plane.client() as client:
        # The attempt in flight died with the old driver; the job runs again as attempt 2.
        again = eventually(lambda: (j := _state(client, running.job_id)).attempt == 2
                           and j.state == S.JOB_STATE_RUNNING and j, timeout_s=180, what="requeued and running again")
        assert [f.category for f in again.failures] == [S.FAILURE_CATEGORY_SYSTEM_ERROR]
        assert _state(client, done.job_id).state == S.JOB_STATE_SUCCEEDED
        # A client retrying its submit across the crash gets the same job back.
        assert submit(client, aggregate_spec(grant, product), "sub-done").job_id == done.job_id
        client.jobs.CancelJob(S.CancelJobRequest(request_id="c-restart", job_id=running.job_id), timeout=10)
        with_reason = _state(client, running.job_id)
        refused_twice = None
        try:
            client.jobs.CancelJob(S.CancelJobRequest(request_id="c-restart-2", job_id=done.job_id), timeout=10)
        except grpc.RpcError as err:
            refused_twice = err.code()
    assert with_reason.state == S.JOB_STATE_CANCELLED
    assert refused_twice == grpc.StatusCode.FAILED_PRECONDITION
    store = redis.Redis.from_url(redis_url)
    assert sorted(k.decode() for k in store.keys("shuniu:job:*")) == sorted(
        f"shuniu:job:{j}" for j in (running.job_id, done.job_id))
