"""Small truths of the API on a real control plane: ListJobs totals count what the filter selects,
PlanJob says "not admissible", with the submit's own reason, whenever SubmitJob would refuse, and
ListPostings' job_id filter selects exactly the postings of the job's usage (jobs run on Ray and billed
by the biller), a buyer asking for another buyer's job getting the answer of an unknown job."""

from __future__ import annotations

import subprocess
import sys
import time

import grpc
import pytest
import redis
from test_jobs import aggregate_spec, finished, power_market, submit

from shuniu.client import Client
from shuniu.market.billing import Biller, BillerConfig
from shuniu.market.ledger import LedgerStore
from shuniu.protos.usage_schema import USAGE_STREAM, batch_from_ipc
from shuniu.protos.v1 import common_pb2, jobs_pb2, ledger_pb2
from shuniu.scheduler.jobs.store import queue_job_write
from shuniu.security import pki, tls

S = jobs_pb2
# (job id, buyer, grant, state) written straight to the store, as finished jobs are kept.
JOBS = [(f"job-{i:02d}", buyer, grant, state) for i, (buyer, grant, state) in enumerate(
    [("bank-a", "g-1", S.JOB_STATE_SUCCEEDED)] * 4 + [("bank-a", "g-1", S.JOB_STATE_FAILED)] * 3
    + [("bank-a", "g-2", S.JOB_STATE_SUCCEEDED)] * 2 + [("bank-b", "g-3", S.JOB_STATE_CANCELLED)] * 5)]


@pytest.fixture
def stored_jobs(control_plane, redis_url):
    client = redis.Redis.from_url(redis_url)
    now = int(time.time() * 1000)
    with client.pipeline() as pipe:
        for n, (job_id, buyer, grant, state) in enumerate(JOBS):
            job = S.Job(job_id=job_id, buyer_id=buyer, state=state, spec=S.JobSpec(grant_id=grant),
                        submitted_unix_ms=now - n, finished_unix_ms=now, seq=1)
            queue_job_write(pipe, job, S.JOB_STATE_UNSPECIFIED, now)
        pipe.execute()
    client.close()
    return control_plane


@pytest.mark.parametrize("request_", [
    S.ListJobsRequest(),
    S.ListJobsRequest(buyer_id="bank-a"),
    S.ListJobsRequest(states=[S.JOB_STATE_SUCCEEDED]),
    S.ListJobsRequest(buyer_id="bank-a", states=[S.JOB_STATE_FAILED]),
    S.ListJobsRequest(buyer_id="bank-a", grant_id="g-2"),
    S.ListJobsRequest(buyer_id="bank-b", grant_id="g-1"),
    S.ListJobsRequest(grant_id="g-1", states=[S.JOB_STATE_SUCCEEDED, S.JOB_STATE_CANCELLED]),
], ids=["all", "buyer", "state", "buyer-and-state", "buyer-and-grant", "buyer-and-another-buyers-grant",
        "grant-and-two-states"])
def test_list_jobs_total_counts_what_the_filter_selects_across_pages(stored_jobs, request_):
    expected = sorted(job_id for job_id, buyer, grant, state in JOBS
                      if (not request_.buyer_id or buyer == request_.buyer_id)
                      and (not request_.grant_id or grant == request_.grant_id)
                      and (not request_.states or state in request_.states))
    listed, token = [], ""
    with stored_jobs.client() as client:
        while True:
            request_.page_size, request_.page_token = 2, token
            page = client.jobs.ListJobs(request_, timeout=10)
            assert page.total == len(expected)
            listed += [j.job_id for j in page.jobs]
            token = page.next_page_token
            if not token:
                break
    assert sorted(listed) == expected


@pytest.fixture
def market(control_plane_factory, tmp_path, eventually):
    """A control plane (no Ray: admitted jobs wait), agents for its nodes, a listed product and a grant of 3 calls."""
    plane = control_plane_factory()
    with power_market(plane, tmp_path, eventually, grants={"apply": "zz-bank"}, job_kinds=[common_pb2.JOB_KIND_AGGREGATE],
                      max_calls=3, max_budget_fen=1_000_000) as (product, (grant,)):
        yield plane, product, grant


def _planned_then_submitted(client, spec, request_id: str) -> tuple[S.PlanJobResponse, grpc.RpcError | None]:
    plan = client.jobs.PlanJob(S.PlanJobRequest(spec=spec), timeout=10)
    try:
        client.jobs.SubmitJob(S.SubmitJobRequest(request_id=request_id, spec=spec), timeout=10)
    except grpc.RpcError as err:
        return plan, err
    return plan, None


def test_plan_says_not_admissible_exactly_when_submit_refuses_and_why(market):
    plane, product, grant = market
    cases = {  # in this order: the calls case comes after three admitted jobs used the grant's three calls
        "admissible": aggregate_spec(grant, product),
        "over-budget": aggregate_spec(grant, product, price_cap_fen=2_000_000),
        "no-node-ever-fits": aggregate_spec(grant, product, resources=common_pb2.Capacity(cpu_milli=64_000, memory_mb=512)),
        "admissible-2": aggregate_spec(grant, product),
        "admissible-3": aggregate_spec(grant, product),
        "calls-used-up": aggregate_spec(grant, product),
    }
    with plane.client() as client:
        for name, spec in cases.items():
            plan, refusal = _planned_then_submitted(client, spec, f"sub-{name}")
            if name.startswith("admissible"):
                assert plan.admissible and refusal is None, (name, plan.admission_reason, refusal)
            else:
                assert refusal is not None, name
                assert not plan.admissible, (name, refusal.details())
                assert plan.admission_reason == refusal.details(), name
        assert "limit max_calls" in plan.admission_reason
        unsatisfiable = client.jobs.PlanJob(S.PlanJobRequest(spec=cases["no-node-ever-fits"]), timeout=10)
    assert unsatisfiable.explanation.rejections, "a refused plan still says what each filter removed"
    assert not unsatisfiable.placement.node_ids


def test_cli_plan_prints_not_admissible_with_the_reason(market):
    plane, product, grant = market
    result = subprocess.run([sys.executable, "-m", "shuniu.cli", "plan", "--addr", plane.address, "--grant", grant.grant_id,
                             "--product", product.product_id, "--agg", "count", "--anchor", "xinyang", "--cpu", "64"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "not admissible: unsatisfiable" in " ".join(result.stdout.split()), result.stdout


# ---- ListPostings(job_id) -------------------------------------------------------------------------------------
# Three jobs run on Ray and billed: two of bank-a, one of bank-b. The holder of the product reads its revenue.
USERS = {"ops": "operator", "bank-a": "buyer", "bank-b": "buyer", "state-grid-henan": "data_holder"}
BILLED = {"a1": "bank-a", "a2": "bank-a", "b1": "bank-b"}


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ca")
    pki.init_ca(directory)
    pki.issue_server(directory)
    for name, role in USERS.items():
        pki.issue_identity(directory, pki.user_identity(name, role))
    return directory


def _batches_by_job(store: redis.Redis) -> dict[str, set[str]]:
    """Job id -> the usage batches on the stream holding records of it: read from the records, not the jobs."""
    found: dict[str, set[str]] = {}
    for _, fields in store.xrange(USAGE_STREAM):
        batch, _ = batch_from_ipc(fields[b"arrow_ipc"])
        for job_id in set(batch.column("job_id").to_pylist()):
            found.setdefault(job_id, set()).add(fields[b"batch_id"].decode())
    return found


@pytest.fixture
def billed_jobs(ray_cluster, control_plane_factory, redis_url, tmp_path, eventually):
    """(the plane the jobs ran on, finished job by name, the usage batches of each job id as the stream has them)."""
    plane = control_plane_factory(ray_address=ray_cluster.address)
    with power_market(plane, tmp_path, eventually, grants={"apply-a": "bank-a", "apply-b": "bank-b"},
                      job_kinds=[common_pb2.JOB_KIND_AGGREGATE], usage_keys=True) as (product, grants):
        grant_of = {g.spec.buyer_id: g for g in grants}
        with plane.client() as client:
            jobs = {name: submit(client, aggregate_spec(grant_of[buyer], product), f"sub-{name}")
                    for name, buyer in BILLED.items()}
            # the first runs wait for Ray to start workers, slow on a busy machine
            done = {name: finished(client, job.job_id, eventually, timeout_s=300) for name, job in jobs.items()}
    assert all(j.state == S.JOB_STATE_SUCCEEDED for j in done.values()), [(j.state_reason, j.state_message) for j in done.values()]
    store = redis.Redis.from_url(redis_url)
    try:
        ledger, biller = LedgerStore(store), Biller(store, BillerConfig(block_ms=0))
        biller.ensure_group()

        def all_billed():
            while biller.step(block_ms=0):
                pass
            batches = _batches_by_job(store)
            return all(j.job_id in batches for j in done.values()) and all(
                ledger.batch_summary(b) for ids in batches.values() for b in ids) and batches

        batches = eventually(all_billed, timeout_s=60, what="every job's usage billed")
        assert ledger.check().ok
    finally:
        store.close()
    return plane, done, batches


def _pages(client, request: ledger_pb2.ListPostingsRequest) -> tuple[list[ledger_pb2.Posting], set[int]]:
    """Every posting a request selects, two a page, and the totals the pages said."""
    postings, totals, token = [], set(), ""
    while True:
        request.page_size, request.page_token = 2, token
        page = client.ledger.ListPostings(request, timeout=10)
        postings += page.postings
        totals.add(page.total)
        if not (token := page.next_page_token):
            return postings, totals


def test_list_postings_by_job_selects_exactly_the_postings_of_that_jobs_usage(billed_jobs):
    plane, done, batches = billed_jobs
    with plane.client() as client:
        every, _ = _pages(client, ledger_pb2.ListPostingsRequest())
        for name, job in done.items():
            assert set(job.usage_batch_ids) == batches[job.job_id], name  # the job names the batches its run wrote
            expected = [p.posting_id for p in every if p.batch_id in batches[job.job_id]]
            listed, totals = _pages(client, ledger_pb2.ListPostingsRequest(job_id=job.job_id))
            assert [p.posting_id for p in listed] == expected and expected, name
            assert totals == {len(expected)}, name
            buyer = f"buyer:{BILLED[name]}"
            own, _ = _pages(client, ledger_pb2.ListPostingsRequest(job_id=job.job_id, account_id=buyer))
            assert [p.posting_id for p in own] == [p.posting_id for p in listed if buyer in (
                p.debit_account_id, p.credit_account_id)], name
        # What the buyers' jobs debited is what their accounts were debited: the job filter misses nothing.
        for buyer in ("bank-a", "bank-b"):
            charged = sum(p.amount_fen for name, job in done.items() if BILLED[name] == buyer
                          for p in _pages(client, ledger_pb2.ListPostingsRequest(job_id=job.job_id))[0]
                          if p.debit_account_id == f"buyer:{buyer}")
            account = client.ledger.GetBalance(ledger_pb2.GetBalanceRequest(account_id=f"buyer:{buyer}")).account
            assert charged == account.debits_fen > 0, buyer
        unknown = client.ledger.ListPostings(ledger_pb2.ListPostingsRequest(job_id="job-unknown"), timeout=10)
    assert (list(unknown.postings), unknown.total) == ([], 0)


def test_a_buyer_asking_for_another_buyers_job_gets_the_answer_of_an_unknown_job(billed_jobs, control_plane_factory,
                                                                               ca_dir):
    plane, done, _ = billed_jobs
    with plane.client() as client:
        a1 = _pages(client, ledger_pb2.ListPostingsRequest(job_id=done["a1"].job_id))[0]
    plane.stop()  # the same Redis, now served under mTLS
    secure = control_plane_factory(tls_dir=str(ca_dir), tls=tls.load_client_tls(ca_dir, "ops"))

    def as_(name: str) -> Client:
        return Client(secure.address, timeout_s=5, tls=tls.load_client_tls(ca_dir, name))

    with as_("bank-a") as bank_a, as_("state-grid-henan") as holder:
        own = bank_a.ledger.ListPostings(ledger_pb2.ListPostingsRequest(account_id="buyer:bank-a", job_id=done["a1"].job_id))
        assert [p.posting_id for p in own.postings] == [p.posting_id for p in a1 if p.debit_account_id == "buyer:bank-a"]
        revenue = holder.ledger.ListPostings(ledger_pb2.ListPostingsRequest(
            account_id="holder:state-grid-henan", job_id=done["a1"].job_id))
        assert [p.posting_id for p in revenue.postings] == [p.posting_id for p in a1
                                                             if p.credit_account_id == "holder:state-grid-henan"] != []
        answers = {}
        for which, job_id in (("another's", done["b1"].job_id), ("unknown", "job-unknown")):
            listed = bank_a.ledger.ListPostings(ledger_pb2.ListPostingsRequest(account_id="buyer:bank-a", job_id=job_id))
            with pytest.raises(grpc.RpcError) as refused:  # without its own account, a party is refused before any read
                bank_a.ledger.ListPostings(ledger_pb2.ListPostingsRequest(job_id=job_id))
            answers[which] = (listed.SerializeToString(), refused.value.code(), refused.value.details())
    assert answers["another's"] == answers["unknown"]
    assert answers["unknown"][:2] == (ledger_pb2.ListPostingsResponse().SerializeToString(),
                                      grpc.StatusCode.PERMISSION_DENIED)
