"""Hot/cold retention against a real Redis and real control planes: moved once, still served, still verifiable."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import grpc
import pytest
import redis
import redis.asyncio as aioredis
from conftest import AgentThread
from shuniu.market.ledger import BatchPosting, LedgerPosting, LedgerStore, ledger_key
from shuniu.market.ledger.cold import COLD_DATASET_KEY, dataset_directory
from shuniu.protos.v1 import (
    audit_pb2,
    catalog_pb2,
    common_pb2,
    grants_pb2,
    jobs_pb2,
    ledger_pb2,
)
from shuniu.scheduler.control_plane.audit_store import (
    ENTRIES_KEY,
    HEAD_KEY,
    AuditStore,
    ref_key,
)
from shuniu.scheduler.jobs.store import EVENTS_KEY, job_key
from shuniu.scheduler.retention.cold import ColdStores
from shuniu.scheduler.retention.mover import Retention
from shuniu.security import signing
from test_audit import chain_all, job_events, verify
from test_jobs import (
    CAPACITY,
    NODES,
    PRICE,
    aggregate_spec,
    power_spec,
    submit,
    write_power,
)

P = audit_pb2
FAR_FUTURE_MS = 4_000_000_000_000


@pytest.fixture
def state(tmp_path, monkeypatch):
    """The state directory of this test's control planes and of its in-process movers and readers."""
    monkeypatch.setenv("SHUNIU_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def run_retention(redis_url: str, retention_s: float = 1.0, now_ms: int = FAR_FUTURE_MS, crash_before_delete=False):
    """One retention pass in this process; with `crash_before_delete`, it dies after its cold commit."""
    async def go():
        c = aioredis.Redis.from_url(redis_url)
        cold = ColdStores(c)
        mover = Retention(c, cold, retention_s)
        if crash_before_delete:
            async def crash(*_):
                raise SystemExit("killed between the cold commit and the Redis delete")
            mover._delete_jobs = crash
        try:
            return await mover.step(now_ms)
        finally:
            cold.close()
            await c.aclose()
    return asyncio.run(go())


def cold_file(client: redis.Redis, name: str) -> sqlite3.Connection:
    return sqlite3.connect(dataset_directory(client.get(COLD_DATASET_KEY)) / name)


# ---- the audit chain: sealed into the cold store, still verified -----------------------------------


@pytest.fixture
def sealed(client, redis_url, state, tmp_path):
    """60 chained entries with checkpoints at 25 and 50; a retention pass seals 1..50 and their refs."""
    key = signing.load_or_create(signing.exchange_key_path(tmp_path))
    job_events(client, 30)
    chain_all(redis_url, key, checkpoint_every=25)
    report = run_retention(redis_url)
    assert (report.audit_entries, int(client.hget(HEAD_KEY, "sealed_seq"))) == (50, 50)
    return key


def test_a_sealed_prefix_leaves_redis_and_the_chain_still_verifies_across_both_parts(client, redis_url, sealed):
    assert [P.AuditEntry.FromString(r).seq for r in client.lrange(ENTRIES_KEY, 0, -1)] == list(range(51, 61))
    result = verify(redis_url, sealed)
    assert (result.ok, result.entries_checked, result.checkpoints_checked) == (True, 60, 2), result.detail
    # job-00000's two entries are sealed: its ref list moved to the cold index, and it is still found by it
    assert not client.exists(ref_key("job-00000")) and client.exists(ref_key("job-00029"))

    async def by_ref():
        c = aioredis.Redis.from_url(redis_url)
        store = AuditStore(c)
        try:
            return ([e.seq for e in await store.entries_by_ref("job-00000")],
                    [e.seq for e in await store.entries_by_ref("job-00029")],
                    [e.seq for e in await store.entries(49, 4)])
        finally:
            await c.aclose()
    assert asyncio.run(by_ref()) == ([1, 2], [59, 60], [49, 50, 51, 52])
    assert verify(redis_url, sealed, from_seq=99_999_999_999_999_993).entries_checked == 0, "past any seq: nothing read"
    assert run_retention(redis_url).audit_entries == 0, "sealed once"


def _rewrite(conn: sqlite3.Connection, seq: int) -> None:
    entry = P.AuditEntry.FromString(conn.execute("SELECT entry FROM entries WHERE seq = ?", (seq,)).fetchone()[0])
    entry.actor = "someone-else"
    conn.execute("UPDATE entries SET entry = ? WHERE seq = ?", (entry.SerializeToString(), seq))


def _swap(conn: sqlite3.Connection, a: int, b: int) -> None:
    rows = dict(conn.execute("SELECT seq, entry FROM entries WHERE seq IN (?, ?)", (a, b)).fetchall())
    conn.execute("UPDATE entries SET entry = ? WHERE seq = ?", (rows[b], a))
    conn.execute("UPDATE entries SET entry = ? WHERE seq = ?", (rows[a], b))


SEALED_TAMPERING = [
    pytest.param(lambda c: _rewrite(c, 10), 10, P.CHAIN_PROBLEM_CHANGED, id="sealed-entry-changed"),
    pytest.param(lambda c: c.execute("DELETE FROM entries WHERE seq = 15"), 15, P.CHAIN_PROBLEM_REMOVED,
                 id="sealed-entry-removed"),
    pytest.param(lambda c: _swap(c, 20, 21), 20, P.CHAIN_PROBLEM_REORDERED, id="sealed-entries-swapped"),
    pytest.param(lambda c: c.execute("DELETE FROM entries WHERE seq > 40"), 41, P.CHAIN_PROBLEM_REMOVED,
                 id="sealed-tail-cut"),
]


@pytest.mark.parametrize("tamper, seq, problem", SEALED_TAMPERING)
def test_tampering_in_the_sealed_part_is_found_at_its_seq(client, redis_url, sealed, tamper, seq, problem):
    conn = cold_file(client, "audit.sqlite")
    with conn:
        tamper(conn)
    conn.close()
    result = verify(redis_url, sealed)
    assert (result.ok, result.first_bad_seq, result.problem) == (False, seq, problem), result.detail


def test_chain_only_streams_are_trimmed_behind_the_chainer_and_the_window(client, redis_url, sealed):
    assert client.xlen(EVENTS_KEY) == 0, "the sealing pass trimmed the 60 chained events"
    job_events(client, 5, start=30)
    assert run_retention(redis_url).stream_entries == 0, "not chained yet: kept whatever their age"
    chain_all(redis_url, sealed)
    now_ms = time.time_ns() // 1_000_000
    assert run_retention(redis_url, retention_s=3600, now_ms=now_ms).stream_entries == 0, "chained, but in the window"
    assert run_retention(redis_url).stream_entries == 10
    assert client.xlen(EVENTS_KEY) == 0


# ---- jobs: moved once, served by every read --------------------------------------------------------


@pytest.fixture
def queued_market(control_plane_factory, state, tmp_path, eventually):
    """A control plane without Ray (jobs queue, never run), two agents, a listed product, an approved grant."""
    def start(**options):
        plane = control_plane_factory(**options)
        nodes = {"ray-n1": NODES["ray-n1"], "ray-n3": NODES["ray-n3"]}
        agents = [AgentThread(plane.address, n, site, CAPACITY, price_card=PRICE).__enter__() for n, site in nodes.items()]
        with plane.client() as c:
            eventually(lambda: len(list(c.list_nodes())) == len(nodes), what="agents registered")
            spec = power_spec(write_power(tmp_path / "power.parquet"), 600, list(nodes))
            product = c.catalog.RegisterProduct(catalog_pb2.RegisterProductRequest(request_id="reg", spec=spec),
                                                timeout=5).product
            eventually(lambda: c.catalog.GetProduct(catalog_pb2.GetProductRequest(product_id=product.product_id),
                       timeout=5).product.state == catalog_pb2.PRODUCT_STATE_LISTED, timeout_s=20, what="listed")
            grant = c.grants.ApplyGrant(grants_pb2.ApplyGrantRequest(request_id="apply", spec=grants_pb2.GrantSpec(
                buyer_id="zz-bank", scenario="SME credit", purpose="energy-planning",
                purpose_category=common_pb2.PURPOSE_CATEGORY_COMMERCIAL,
                products=[common_pb2.ProductColumns(product_id=product.product_id, columns=["credit_code", "city", "kwh"])],
                job_kinds=[common_pb2.JOB_KIND_AGGREGATE], expires_unix_ms=int(time.time() * 1000) + 86_400_000,
                limits=grants_pb2.GrantLimits(max_rows=10_000_000, max_calls=1000, max_budget_fen=10**10),
                egress=grants_pb2.EgressProfile(min_group_size=5, max_output_rows=100))), timeout=5).grant
        return plane, agents, aggregate_spec(grant, product, max_tier=common_pb2.TIER_T4)

    started = []

    def tracked(**options):
        plane, agents, spec = start(**options)
        started.append(agents)
        return plane, spec
    yield tracked
    for agents in started:
        for agent in agents:
            agent.__exit__()


def cancelled_jobs(plane, spec, count: int, prefix: str = "r") -> list[jobs_pb2.Job]:
    with plane.client() as c:
        jobs = [submit(c, spec, f"{prefix}-{n:03d}") for n in range(count)]
        return [c.jobs.CancelJob(jobs_pb2.CancelJobRequest(request_id=f"cancel-{j.job_id}", job_id=j.job_id),
                                 timeout=5).job for j in jobs]


def listing(c, **fields) -> tuple[list[str], int]:
    """Every job id of a listing, a page of 7 at a time, and the total of its first page."""
    ids, token, total = [], "", None
    while True:
        page = c.jobs.ListJobs(jobs_pb2.ListJobsRequest(page_size=7, page_token=token, **fields), timeout=5)
        ids += [j.job_id for j in page.jobs]
        total = page.total if total is None else total
        token = page.next_page_token
        if not token:
            return ids, total


def test_finished_jobs_past_retention_leave_redis_and_every_read_still_serves_them(
        queued_market, client, eventually):
    plane, spec = queued_market(retention=1.0)
    old = cancelled_jobs(plane, spec, 12)
    eventually(lambda: not any(client.exists(job_key(j.job_id)) for j in old), timeout_s=15, what="jobs moved")
    with plane.client() as c:
        fresh = submit(c, spec, "r-fresh")  # open: stays in Redis
        for job in old:
            assert not client.exists(f"shuniu:req:{job.request_id}")
            assert c.jobs.GetJob(jobs_pb2.GetJobRequest(job_id=job.job_id), timeout=5).job == job
            assert c.jobs.ExplainJob(jobs_pb2.ExplainJobRequest(job_id=job.job_id), timeout=5).state == job.state
        watched = list(c.jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=old[0].job_id), timeout=5))
        assert [w.to_state for w in watched] == [jobs_pb2.JOB_STATE_CANCELLED]
        with pytest.raises(grpc.RpcError) as refused:
            c.jobs.GetJobResult(jobs_pb2.GetJobResultRequest(job_id=old[0].job_id), timeout=5)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        newest_first = [fresh.job_id] + [j.job_id for j in sorted(old, key=lambda j: (j.submitted_unix_ms, j.job_id),
                                                                  reverse=True)]
        assert listing(c) == (newest_first, 13)
        assert listing(c, buyer_id="zz-bank") == (newest_first, 13)
        assert listing(c, grant_id=spec.grant_id) == (newest_first, 13)
        assert listing(c, states=[jobs_pb2.JOB_STATE_CANCELLED])[0] == newest_first[1:]
        # a retried submit is answered from the cold store: the same job, not a new one
        again = c.jobs.SubmitJob(jobs_pb2.SubmitJobRequest(request_id=old[3].request_id, spec=spec), timeout=5).job
        assert again.job_id == old[3].job_id and not client.exists(job_key(old[3].job_id))
        with pytest.raises(grpc.RpcError) as reused:
            other = jobs_pb2.JobSpec()
            other.CopyFrom(spec)
            other.price_cap_fen += 1
            c.jobs.SubmitJob(jobs_pb2.SubmitJobRequest(request_id=old[3].request_id, spec=other), timeout=5)
        assert reused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # the audit trail of a moved job is the same before and after its entries are sealed
        trace = lambda: list(c.audit.TraceJob(audit_pb2.TraceJobRequest(job_id=old[0].job_id), timeout=5).entries)  # noqa: E731
        story = trace()
        assert [e.action for e in story if e.kind == P.AUDIT_KIND_JOB] == ["job.transition"] * 3
        first = min(e.seq for e in story if e.kind == P.AUDIT_KIND_JOB)
        eventually(lambda: int(client.hget(HEAD_KEY, "sealed_seq") or 0) >= first, timeout_s=30,
                   what="the job's first transition sealed")
        assert trace() == story
        assert c.audit.VerifyChain(audit_pb2.VerifyChainRequest(), timeout=10).ok


def test_a_control_plane_killed_mid_move_loses_and_duplicates_nothing(queued_market, client, redis_url, eventually):
    plane, spec = queued_market(retention=3600)
    jobs = cancelled_jobs(plane, spec, 30)
    # killed between the cold commit and the Redis delete: every job is on both sides
    with pytest.raises(SystemExit):
        run_retention(redis_url, crash_before_delete=True)
    assert all(client.exists(job_key(j.job_id)) for j in jobs)
    with plane.client() as c:
        ids, total = listing(c)
        assert sorted(ids) == sorted(j.job_id for j in jobs) and len(ids) == len(set(ids))
    plane.kill()
    plane.liveness["retention"] = 1.0  # the options the fixture turns into flags: now a short window
    plane.start()  # a restarted control plane finishes the move
    try:
        eventually(lambda: not any(client.exists(job_key(j.job_id)) for j in jobs), timeout_s=15, what="move finished")
        plane.kill()  # and once more, at whatever point it is
        plane.start()
        with plane.client() as c:
            ids, total = listing(c)
            assert (sorted(ids), total) == (sorted(j.job_id for j in jobs), len(jobs))
            for job in jobs:
                assert c.jobs.GetJob(jobs_pb2.GetJobRequest(job_id=job.job_id), timeout=5).job == job
    finally:
        plane.stop()
    rows = cold_file(client, "jobs.sqlite").execute("SELECT job_id FROM jobs").fetchall()
    assert sorted(r[0] for r in rows) == sorted(j.job_id for j in jobs)


# ---- the ledger: rated lines move, the idempotency record and the check stay -----------------------


def test_rated_lines_of_old_batches_move_and_a_batch_posted_again_stays_a_no_op(client, redis_url, state):
    ledger = LedgerStore(client)

    def batch(n: int) -> BatchPosting:
        posting = LedgerPosting(ledger_pb2.POSTING_KIND_DATA, "buyer:a", "holder:h", 100 + n, "2026-11")
        return BatchPosting(f"b-{n}", (posting,), 100 + n, 1, lines_ipc=f"lines of b-{n}".encode() * 50)

    assert [ledger.post(batch(n)).status for n in range(3)] == ["posted"] * 3
    now_ms = time.time_ns() // 1_000_000
    assert run_retention(redis_url, retention_s=3600, now_ms=now_ms).ledger_lines == 0, "posted within the window"
    assert run_retention(redis_url).ledger_lines == 3
    assert not any(client.exists(ledger_key(f"lines:b-{n}")) for n in range(3))
    assert [ledger.lines(f"b-{n}") for n in range(3)] == [batch(n).lines_ipc for n in range(3)]
    assert ledger.post(batch(1)).status == "duplicate"
    assert ledger.check().ok and ledger.batch_order() == ["b-0", "b-1", "b-2"]
    assert ledger.post(batch(3)).status == "posted"
    assert run_retention(redis_url).ledger_lines == 1, "each batch's lines move once"
