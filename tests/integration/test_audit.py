"""The audit log against a real Redis: chaining raw events, tampering found at the right seq, a killed chainer."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys

import grpc
import pytest
import redis
import redis.asyncio as aioredis
from shuniu.protos.v1 import audit_pb2, common_pb2, jobs_pb2, nodes_pb2
from shuniu.scheduler.control_plane.audit_chainer import AuditChainer
from shuniu.scheduler.control_plane.audit_service import AuditService
from shuniu.scheduler.control_plane.audit_store import (
    CHECKPOINTS_KEY,
    ENTRIES_KEY,
    HEAD_KEY,
)
from shuniu.scheduler.jobs.store import EVENTS_KEY as JOB_EVENTS_KEY
from shuniu.security import audit_chain, signing

P = audit_pb2


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def key(tmp_path):
    return signing.load_or_create(signing.exchange_key_path(tmp_path))


def job_events(client: redis.Redis, jobs: int, start: int = 0) -> None:
    """Raw job transitions as the job store writes them: admitted, then running, per job."""
    pipe = client.pipeline(transaction=False)
    for n in range(start, start + jobs):
        for seq, (before, after) in enumerate([(0, jobs_pb2.JOB_STATE_ADMITTED),
                                               (jobs_pb2.JOB_STATE_ADMITTED, jobs_pb2.JOB_STATE_RUNNING)], 1):
            pipe.xadd(JOB_EVENTS_KEY, {"job_id": f"job-{n:05d}", "from": before, "to": after, "reason": "",
                                       "seq": seq, "unix_ms": 1_800_000_000_000 + n, "actor": "buyer-a"})
    pipe.execute()


async def _chain_all(redis_url: str, key, **options) -> tuple[int, aioredis.Redis]:
    c = aioredis.Redis.from_url(redis_url)
    chainer = AuditChainer(c, key, **options)
    total = 0
    while appended := await chainer.step():
        total += appended
    return total, c


def chain_all(redis_url, key, **options) -> int:
    async def run():
        total, c = await _chain_all(redis_url, key, **options)
        await c.aclose()
        return total
    return asyncio.run(run())


def verify(redis_url, key, **fields) -> audit_pb2.VerifyChainResponse:
    async def run():
        c = aioredis.Redis.from_url(redis_url)
        try:
            return await AuditService(c, {key.key_id: key.public_raw}).VerifyChain(audit_pb2.VerifyChainRequest(**fields), None)
        finally:
            await c.aclose()
    return asyncio.run(run())


def test_raw_events_become_a_gapless_linked_chain_with_signed_checkpoints(client, redis_url, key):
    job_events(client, 30)
    assert chain_all(redis_url, key, checkpoint_every=25) == 60
    assert chain_all(redis_url, key, checkpoint_every=25) == 0  # cursors moved: nothing chained twice
    entries = [P.AuditEntry.FromString(r) for r in client.lrange(ENTRIES_KEY, 0, -1)]
    assert [e.seq for e in entries] == list(range(1, 61))
    assert entries[0].prev_hash == audit_chain.GENESIS and all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert {(e.kind, e.action, e.actor) for e in entries} == {(P.AUDIT_KIND_JOB, "job.transition", "buyer-a")}
    checkpoints = [P.AuditCheckpoint.FromString(r) for r in client.lrange(CHECKPOINTS_KEY, 0, -1)]
    assert [(c.seq, c.hash) for c in checkpoints] == [(25, entries[24].hash), (50, entries[49].hash)]
    result = verify(redis_url, key)
    assert (result.ok, result.entries_checked, result.checkpoints_checked) == (True, 60, 2)


def _rewrite(client, index: int, change) -> None:
    entry = P.AuditEntry.FromString(client.lindex(ENTRIES_KEY, index))
    change(entry)
    client.lset(ENTRIES_KEY, index, entry.SerializeToString())


def _swap(client, a: int, b: int) -> None:
    first, second = client.lindex(ENTRIES_KEY, a), client.lindex(ENTRIES_KEY, b)
    client.lset(ENTRIES_KEY, a, second)
    client.lset(ENTRIES_KEY, b, first)


def _forge_checkpoint(client) -> None:
    cp = P.AuditCheckpoint.FromString(client.lindex(CHECKPOINTS_KEY, 0))
    cp.hash = bytes(32)
    client.lset(CHECKPOINTS_KEY, 0, cp.SerializeToString())


TAMPERING = [
    pytest.param(lambda c: _rewrite(c, 9, lambda e: setattr(e, "actor", "someone-else")), 10, P.CHAIN_PROBLEM_CHANGED,
                 id="field-changed"),
    pytest.param(lambda c: _rewrite(c, 9, lambda e: setattr(e, "details_json", '{"to":"JOB_STATE_SUCCEEDED"}')), 10,
                 P.CHAIN_PROBLEM_CHANGED, id="details-changed"),
    pytest.param(lambda c: c.lrem(ENTRIES_KEY, 1, c.lindex(ENTRIES_KEY, 14)), 15, P.CHAIN_PROBLEM_REMOVED,
                 id="entry-removed"),
    pytest.param(lambda c: _swap(c, 19, 20), 20, P.CHAIN_PROBLEM_REORDERED, id="two-entries-swapped"),
    pytest.param(lambda c: c.ltrim(ENTRIES_KEY, 0, 49), 51, P.CHAIN_PROBLEM_REMOVED, id="tail-cut"),
    pytest.param(_forge_checkpoint, 25, P.CHAIN_PROBLEM_BAD_CHECKPOINT, id="checkpoint-forged"),
]


@pytest.mark.parametrize("tamper, seq, problem", TAMPERING)
def test_tampering_in_redis_is_found_at_its_seq(client, redis_url, key, tamper, seq, problem):
    job_events(client, 30)
    chain_all(redis_url, key, checkpoint_every=25)
    assert [P.AuditCheckpoint.FromString(r).seq for r in client.lrange(CHECKPOINTS_KEY, 0, -1)] == [25, 50]
    assert verify(redis_url, key).ok
    tamper(client)
    result = verify(redis_url, key)
    assert (result.ok, result.first_bad_seq, result.problem) == (False, seq, problem), result.detail


def test_cli_verify_exits_non_zero_on_a_broken_chain(client, tmp_path, control_plane_factory, monkeypatch, eventually):
    monkeypatch.setenv("SHUNIU_STATE_DIR", str(tmp_path / "state"))
    plane = control_plane_factory()
    job_events(client, 5)

    def shuniu(*args):
        return subprocess.run([sys.executable, "-m", "shuniu.cli", *args, "--addr", plane.address],
                              capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"}, check=False)

    eventually(lambda: int(client.hget(HEAD_KEY, "seq") or 0) == 10, what="chain head at 10")
    ok = shuniu("audit", "verify")
    assert ok.returncode == 0 and "chain ok" in ok.stdout, ok.stdout + ok.stderr
    listed = shuniu("audit", "ls", "--subject", "job-00003", "--json")
    assert [e["action"] for e in json.loads(listed.stdout)["entries"]] == ["job.transition"] * 2
    _rewrite(client, 3, lambda e: setattr(e, "subject_id", "job-99999"))
    broken = shuniu("audit", "verify")
    assert broken.returncode == 1 and "seq 4" in broken.stdout and "changed" in broken.stdout, broken.stdout


def test_a_chainer_killed_mid_way_resumes_without_gaps_or_duplicates(client, tmp_path, control_plane_factory, monkeypatch,
                                                                    eventually):
    monkeypatch.setenv("SHUNIU_STATE_DIR", str(tmp_path / "state"))
    jobs, backlog = 0, 15_000
    plane = control_plane_factory()
    for _attempt in range(5):
        job_events(client, backlog, start=jobs)
        jobs += backlog
        eventually(lambda: int(client.hget(HEAD_KEY, "seq") or 0) >= 1_000, timeout_s=60, interval_s=0.002,
                   what="chaining under way")
        # Writes held, the chainer's next round cannot land; what the head shows now is what the kill leaves.
        client.execute_command("CLIENT", "PAUSE", 30_000, "WRITE")
        at_kill = int(client.hget(HEAD_KEY, "seq"))
        if at_kill < 2 * jobs:
            break
        client.execute_command("CLIENT", "UNPAUSE")  # a fast machine chained it all before the pause: more backlog
    else:
        pytest.fail("the chainer always finished its backlog before the pause")
    plane.kill()  # SIGKILL, mid-way through the backlog
    client.execute_command("CLIENT", "UNPAUSE")
    assert client.llen(ENTRIES_KEY) == at_kill == int(client.hget(HEAD_KEY, "seq"))
    plane = control_plane_factory()
    eventually(lambda: int(client.hget(HEAD_KEY, "seq") or 0) >= 2 * jobs, timeout_s=120, what="backlog chained")
    entries = [P.AuditEntry.FromString(r) for r in client.lrange(ENTRIES_KEY, 0, -1)]
    jobs_seen = [e for e in entries if e.kind == P.AUDIT_KIND_JOB]
    assert len(jobs_seen) == 2 * jobs == len({(e.subject_id, e.details_json) for e in jobs_seen})
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    with plane.client() as c:
        result = c.audit.VerifyChain(audit_pb2.VerifyChainRequest(), timeout=120)
    assert result.ok and result.entries_checked == len(entries), result.detail


REFUSALS = [
    pytest.param("ListEntries", P.AuditServiceListEntriesRequest(page_token="x"), "INVALID_ARGUMENT", "page_token", id="bad-token"),
    pytest.param("ListEntries", P.AuditServiceListEntriesRequest(from_seq=-1), "INVALID_ARGUMENT", "from_seq", id="negative-from"),
    pytest.param("ListEntries", P.AuditServiceListEntriesRequest(kind=99), "INVALID_ARGUMENT", "kind 99", id="unknown-kind"),
    pytest.param("VerifyChain", P.VerifyChainRequest(from_seq=5, to_seq=2), "INVALID_ARGUMENT", "from_seq", id="from-after-to"),
    pytest.param("TraceJob", P.TraceJobRequest(), "INVALID_ARGUMENT", "job_id", id="no-job"),
    pytest.param("TraceJob", P.TraceJobRequest(job_id="job-ghost"), "NOT_FOUND", "job-ghost", id="unknown-job"),
]


def test_bad_audit_requests_are_refused_with_the_rule(control_plane_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("SHUNIU_STATE_DIR", str(tmp_path / "state"))
    plane = control_plane_factory()
    with plane.client() as c:
        for case in REFUSALS:
            rpc, request, code, words = case.values
            with pytest.raises(grpc.RpcError) as err:
                getattr(c.audit, rpc)(request, timeout=10)
            assert (err.value.code().name, words in err.value.details()) == (code, True), (case.id, err.value.details())


def test_a_node_key_of_the_wrong_size_is_refused_and_nothing_is_stored(control_plane_factory, client, tmp_path, monkeypatch):
    monkeypatch.setenv("SHUNIU_STATE_DIR", str(tmp_path / "state"))
    plane = control_plane_factory()
    request = nodes_pb2.RegisterRequest(request_id="reg-1", node_id="zz-01", site="zhengzhou",
                                        compute_class=common_pb2.COMPUTE_CLASS_GENERAL,
                                        capacity=common_pb2.Capacity(cpu_milli=1000, memory_mb=1024),
                                        usage_public_key=b"short")
    with plane.client() as c:
        with pytest.raises(grpc.RpcError) as err:
            c.register(request)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "usage_public_key" in err.value.details()
        assert client.get("shuniu:node:zz-01") is None
        key = signing.load_or_create(signing.node_key_path(tmp_path, "zz-01"))
        request.usage_public_key, request.request_id = key.public_raw, "reg-2"
        assert c.register(request).node.usage_public_key == key.public_raw
