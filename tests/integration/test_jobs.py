"""Jobs end to end: submit under a grant, placement by tier, Ray dispatch to the chosen raylet, the sandbox, egress, usage."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import pathlib
import time
from collections.abc import Iterator, Mapping

import grpc
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
import redis
from conftest import AgentThread

from shuniu.nodes.product_verify import content_sha256
from shuniu.protos.v1 import catalog_pb2, common_pb2, grants_pb2, jobs_pb2
from shuniu.security import signing

CAPACITY = common_pb2.Capacity(cpu_milli=8000, memory_mb=16384)
PRICE = common_pb2.PriceCard(cpu_core_hour_fen=120, memory_gb_hour_fen=10)
AGGREGATE, CUSTOM, VERIFY = common_pb2.JOB_KIND_AGGREGATE, common_pb2.JOB_KIND_CUSTOM, common_pb2.JOB_KIND_VERIFY
S = jobs_pb2
# The session's Ray cluster hosts ray-n1, ray-n2 on its head and ray-n3, ray-n4 on a second raylet.
NODES = {"ray-n1": "zhengzhou", "ray-n2": "zhengzhou", "ray-n3": "xinyang", "ray-n4": "luoyang"}


def write_power(path: pathlib.Path, rows: int = 600) -> str:
    cities = ["zhengzhou", "luoyang", "xinyang"]
    pq.write_table(pa.table({
        "credit_code": [f"91410100MA{i:08d}" for i in range(rows)],
        "city": [cities[i % 3] for i in range(rows)],
        "kwh": [float(1000 + (i * 37) % 900) for i in range(rows)],
    }), path)
    return str(path)


def power_spec(path: str, rows: int, domain: list[str]) -> catalog_pb2.ProductSpec:
    spec = catalog_pb2.ProductSpec(
        holder_id="state-grid-henan", name="enterprise power use", category="energy",
        grade=common_pb2.CLASSIFICATION_GRADE_PUBLIC, home_site="xinyang", domain_node_ids=domain,
        files=[catalog_pb2.ProductFile(node_id=domain[0], path=path)],
        schema=[catalog_pb2.Column(name="credit_code", arrow_type="string"),
                catalog_pb2.Column(name="city", arrow_type="string"),
                catalog_pb2.Column(name="kwh", arrow_type="double")],
        identifier_columns=["credit_code"], row_count=rows, content_sha256=content_sha256([path]),
        allowed_purposes=["energy-planning"], allowed_job_kinds=[AGGREGATE, CUSTOM, VERIFY],
        pricing=catalog_pb2.Pricing(unit=catalog_pb2.PRICING_UNIT_PER_CALL, unit_price_fen=100,
                                    basis=catalog_pb2.PriceBasis(negotiated=catalog_pb2.NegotiatedBasis(
                                        agreement_ref="A-7", party_ids=["state-grid-henan", "exchange"]))))
    for right in ("holding", "processing_use", "product_operation"):
        getattr(spec.rights, right).holders.add(holder_id="state-grid-henan", share_bp=10_000)
    return spec


@contextlib.contextmanager
def power_market(plane, tmp_path: pathlib.Path, eventually, *, grants: Mapping[str, str] = {"apply-power": "zz-bank"},
                 job_kinds=(AGGREGATE, CUSTOM, VERIFY), max_calls: int = 20, max_budget_fen: int = 10_000_000,
                 usage_keys: bool = False) -> Iterator[tuple[catalog_pb2.Product, list[grants_pb2.Grant]]]:
    """Agents for `plane`'s nodes, the power product listed and an approved grant per (request id -> buyer) of
    `grants`, in that order; the agents are stopped after. With `usage_keys`, each agent registers the key its
    node's Ray workers sign usage with (the session's state directory), so that the biller takes their batches."""
    def usage_key(node_id: str) -> dict:
        key = signing.load_or_create(signing.node_key_path(os.environ["SHUNIU_STATE_DIR"], node_id))
        return {"usage_public_key": key.public_raw}

    agents = [AgentThread(plane.address, node_id, site, CAPACITY, price_card=PRICE,
                          **(usage_key(node_id) if usage_keys else {})).__enter__() for node_id, site in NODES.items()]
    try:
        with plane.client() as client:
            eventually(lambda: len(list(client.list_nodes())) == len(NODES), what="agents registered")
            path = write_power(tmp_path / "power.parquet")
            spec = power_spec(path, 600, ["ray-n1", "ray-n3"])
            product = client.catalog.RegisterProduct(
                catalog_pb2.RegisterProductRequest(request_id="reg-power", spec=spec), timeout=5).product
            eventually(lambda: client.catalog.GetProduct(catalog_pb2.GetProductRequest(
                product_id=product.product_id), timeout=5).product.state == catalog_pb2.PRODUCT_STATE_LISTED,
                timeout_s=20, what="product listed")
            approved = []
            for request_id, buyer in grants.items():
                grant = client.grants.ApplyGrant(grants_pb2.ApplyGrantRequest(request_id=request_id, spec=grants_pb2.GrantSpec(
                    buyer_id=buyer, scenario="SME credit, Xinyang", purpose="energy-planning",
                    purpose_category=common_pb2.PURPOSE_CATEGORY_COMMERCIAL,
                    products=[common_pb2.ProductColumns(product_id=product.product_id, columns=["credit_code", "city", "kwh"])],
                    job_kinds=job_kinds, expires_unix_ms=int(time.time() * 1000) + 86_400_000,
                    limits=grants_pb2.GrantLimits(max_rows=100_000, max_calls=max_calls, max_budget_fen=max_budget_fen),
                    egress=grants_pb2.EgressProfile(min_group_size=5, max_output_rows=100))), timeout=5).grant
                assert grant.state == grants_pb2.GRANT_STATE_APPROVED, grant.state_reason
                approved.append(grant)
        yield product, approved
    finally:
        for agent in agents:
            agent.__exit__()


@pytest.fixture
def market(ray_cluster, control_plane_factory, tmp_path, eventually):
    """A control plane on the Ray cluster, agents for its nodes, one listed product and an approved grant."""
    plane = control_plane_factory(ray_address=ray_cluster.address)
    with power_market(plane, tmp_path, eventually) as (product, (grant,)):
        yield plane, product, grant


def aggregate_spec(grant, product, **fields) -> jobs_pb2.JobSpec:
    spec = jobs_pb2.JobSpec(
        grant_id=grant.grant_id, kind=AGGREGATE, products=[common_pb2.ProductColumns(product_id=product.product_id)],
        aggregate=S.AggregateArgs(group_by=["city"], aggregations=[
            S.Aggregation(function=S.AGGREGATE_FUNCTION_COUNT),
            S.Aggregation(function=S.AGGREGATE_FUNCTION_SUM, column="kwh")]),
        resources=common_pb2.Capacity(cpu_milli=1000, memory_mb=512), compute_class=common_pb2.COMPUTE_CLASS_GENERAL,
        anchor_site="xinyang", max_tier=common_pb2.TIER_T1, price_cap_fen=100_000, max_runtime_s=60)
    for name, value in fields.items():
        target = getattr(spec, name)
        if hasattr(target, "CopyFrom"):
            target.CopyFrom(value)
        elif isinstance(value, list):
            del target[:]
            target.extend(value)
        else:
            setattr(spec, name, value)
    return spec


def submit(client, spec, request_id: str) -> jobs_pb2.Job:
    return client.jobs.SubmitJob(jobs_pb2.SubmitJobRequest(request_id=request_id, spec=spec), timeout=10).job


def finished(client, job_id: str, eventually, timeout_s: float = 60) -> jobs_pb2.Job:
    terminal = {S.JOB_STATE_SUCCEEDED, S.JOB_STATE_FAILED, S.JOB_STATE_CANCELLED, S.JOB_STATE_EGRESS_DENIED}
    return eventually(lambda: (j := client.jobs.GetJob(S.GetJobRequest(job_id=job_id), timeout=5).job).state
                      in terminal and j, timeout_s=timeout_s, what=f"job {job_id} finished")


def test_aggregate_runs_on_the_raylet_of_the_node_in_tier_and_releases_only_big_groups(market, ray_cluster,
                                                                                       redis_url, eventually):
    plane, product, grant = market
    with plane.client() as client:
        job = submit(client, aggregate_spec(grant, product), "sub-1")
        assert job.state == S.JOB_STATE_ADMITTED and job.quote.product_prices[0].price_version == 1
        watched = [change.to_state for change in client.jobs.WatchJob(S.WatchJobRequest(job_id=job.job_id), timeout=60)]
        done = finished(client, job.job_id, eventually)
    assert done.state == S.JOB_STATE_SUCCEEDED, (done.state_reason, done.state_message, list(done.failures))
    # Xinyang anchor, T1: only ray-n3 (Xinyang) is in the domain and within 1 ms.
    assert list(done.assigned_node_ids) == ["ray-n3"] and done.placed_tier == common_pb2.TIER_T1
    assert watched[-1] == S.JOB_STATE_SUCCEEDED and S.JOB_STATE_RUNNING in watched
    assert done.seq == 5  # PENDING, ADMITTED, SCHEDULED, RUNNING, SUCCEEDED
    store = redis.Redis.from_url(redis_url)
    table = ipc.open_stream(store.get(done.result.result_ref)).read_all()
    assert sorted(table.column_names) == ["city", "count", "sum_kwh"]
    assert sorted(table.column("count").to_pylist()) == [200, 200, 200]
    assert done.result.rows == 3
    entries = eventually(lambda: store.xrange("shuniu:usage"), timeout_s=20, what="usage batch on the stream")
    assert any(b"ray-n3" == fields[b"node_id"] for _, fields in entries)


def test_work_lands_on_the_raylet_hosting_the_node(market, ray_cluster, eventually):
    """The same job with a Zhengzhou anchor runs on ray-n1, hosted by the head raylet."""
    plane, product, grant = market
    code = ("import os, json, pyarrow as pa\n"
            "def run(table):\n"
            "    return pa.table({'rows': [table.num_rows]})\n")
    spec = aggregate_spec(grant, product, anchor_site="zhengzhou", kind=CUSTOM)
    spec.custom.CopyFrom(S.CustomArgs(source=code))
    with plane.client() as client:
        job = submit(client, spec, "sub-zz")
        done = finished(client, job.job_id, eventually)
    assert list(done.assigned_node_ids) == ["ray-n1"], done.state_message


def test_egress_denial_withholds_identifier_output(market, eventually):
    plane, product, grant = market
    spec = aggregate_spec(grant, product, kind=CUSTOM)
    spec.custom.CopyFrom(S.CustomArgs(source="def run(table):\n    return table.select(['credit_code']).rename_columns(['x'])\n"))
    with plane.client() as client:
        done = finished(client, submit(client, spec, "sub-leak").job_id, eventually)
    assert done.state == S.JOB_STATE_EGRESS_DENIED
    assert not done.result.result_ref and done.egress.violations


@pytest.mark.parametrize("change,code,words", [
    (dict(grant_id="g-unknown"), grpc.StatusCode.NOT_FOUND, "grant_not_found"),
    (dict(max_tier=7), grpc.StatusCode.INVALID_ARGUMENT, "max_tier 7 unknown; expected one of T1, T2, T3, T4"),
    (dict(resources=common_pb2.Capacity(cpu_milli=-1, memory_mb=512)), grpc.StatusCode.INVALID_ARGUMENT,
     "resources.cpu_milli"),
    (dict(products=[common_pb2.ProductColumns(product_id="prd-other")]), grpc.StatusCode.PERMISSION_DENIED,
     "product_outside_grant"),
    (dict(gang_size=3), grpc.StatusCode.FAILED_PRECONDITION, "gang_size 3 is more than any set of nodes"),
    (dict(price_cap_fen=1), grpc.StatusCode.FAILED_PRECONDITION, "price_cap_fen 1 is below the estimated cost"),
], ids=["unknown-grant", "tier-T7", "negative-cpu", "product-outside-grant", "gang-too-big", "price-cap-below-all"])
def test_bad_submissions_are_refused_and_store_nothing(market, redis_url, change, code, words):
    plane, product, grant = market
    store = redis.Redis.from_url(redis_url)
    usage_before = store.hgetall(f"shuniu:grant-usage:{grant.grant_id}")
    with plane.client() as client, pytest.raises(grpc.RpcError) as refused:
        submit(client, aggregate_spec(grant, product, **change), "sub-bad")
    assert refused.value.code() == code and words in refused.value.details()
    assert store.keys("shuniu:job:*") == [] and store.hgetall(f"shuniu:grant-usage:{grant.grant_id}") == usage_before


def test_a_retried_submit_returns_the_same_job_and_counts_once(market, redis_url):
    plane, product, grant = market
    with plane.client() as client:
        first = submit(client, aggregate_spec(grant, product), "sub-retry")
        again = submit(client, aggregate_spec(grant, product), "sub-retry")
        with pytest.raises(grpc.RpcError) as reused:
            submit(client, aggregate_spec(grant, product, priority=9), "sub-retry")
    assert first.job_id == again.job_id and reused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    usage = redis.Redis.from_url(redis_url).hgetall(f"shuniu:grant-usage:{grant.grant_id}")
    assert usage[b"calls"] == b"1" and usage[b"rows"] == b"600"


def test_submits_arriving_together_each_get_their_own_answer(market, redis_url):
    """Concurrent submits are admitted in rounds: a repeated request id still makes one job, counted once,
    and a refused submit refuses only itself."""
    plane, product, grant = market
    outside = aggregate_spec(grant, product, products=[common_pb2.ProductColumns(product_id="prd-other")])
    requests = [("same", aggregate_spec(grant, product))] * 6
    requests += [(f"own-{i}", aggregate_spec(grant, product)) for i in range(5)] + [("outside", outside)]

    def one(request):
        try:
            return submit(client, request[1], request[0]).job_id
        except grpc.RpcError as err:
            return err.code()

    with plane.client() as client, concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(one, requests))
    assert len(set(answers[:6])) == 1 and len(set(answers[6:11])) == 5 and answers[0] not in answers[6:11]
    assert answers[11] == grpc.StatusCode.PERMISSION_DENIED
    store = redis.Redis.from_url(redis_url)
    assert len(store.keys("shuniu:job:*")) == 6
    assert store.hget(f"shuniu:grant-usage:{grant.grant_id}", "calls") == b"6"


def test_a_burst_on_one_node_runs_each_job_once_with_every_transition_stored(market, redis_url, eventually):
    """Concurrent runs on one node share its usage spool; grouped writes keep every job's own history."""
    plane, product, grant = market
    with plane.client() as client, concurrent.futures.ThreadPoolExecutor(8) as pool:
        jobs = list(pool.map(lambda i: submit(client, aggregate_spec(grant, product), f"burst-{i}"), range(8)))
        done = [finished(client, job.job_id, eventually) for job in jobs]
    assert [(j.state, j.attempt, len(j.failures)) for j in done] == [(S.JOB_STATE_SUCCEEDED, 1, 0)] * 8, \
        [(j.state_reason, j.state_message) for j in done]
    assert {tuple(j.assigned_node_ids) for j in done} == {("ray-n3",)}
    store = redis.Redis.from_url(redis_url)
    assert [j.seq for j in done] == [5] * 8  # PENDING, ADMITTED, SCHEDULED, RUNNING, SUCCEEDED each
    events = [fields for _, fields in store.xrange("shuniu:events:jobs")]
    for job in done:
        states = [int(f[b"to"]) for f in events if f[b"job_id"] == job.job_id.encode()]
        assert states == [S.JOB_STATE_PENDING, S.JOB_STATE_ADMITTED, S.JOB_STATE_SCHEDULED, S.JOB_STATE_RUNNING,
                          S.JOB_STATE_SUCCEEDED], (job.job_id, states)
        assert store.exists(job.result.result_ref)
    assert store.smembers(f"shuniu:grant-jobs:{grant.grant_id}") == set()  # each ended with its transition


def test_a_gang_runs_on_all_its_nodes_at_once_on_their_raylets(market, redis_url, eventually):
    """Gang size 2 over the domain's two nodes, on different raylets: one Ray placement group holds a bundle
    on each; every member runs and meters on its own node; the job succeeds once."""
    plane, product, grant = market
    spec = aggregate_spec(grant, product, gang_size=2, max_tier=common_pb2.TIER_T3)
    with plane.client() as client:
        done = finished(client, submit(client, spec, "gang-1").job_id, eventually)
    assert done.state == S.JOB_STATE_SUCCEEDED, (done.state_reason, done.state_message)
    assert sorted(done.assigned_node_ids) == ["ray-n1", "ray-n3"] and done.attempt == 1
    assert done.result.rows == 3  # rank 0's released output: one row per city
    store = redis.Redis.from_url(redis_url)
    metered = eventually(lambda: (nodes := {f[b"node_id"] for _, f in store.xrange("shuniu:usage")}) == {b"ray-n1", b"ray-n3"}
                         and nodes, timeout_s=20, what="a usage batch from each member")
    assert metered == {b"ray-n1", b"ray-n3"}


def _endless_job(grant, product) -> jobs_pb2.JobSpec:
    spec = aggregate_spec(grant, product, kind=CUSTOM)
    spec.custom.CopyFrom(S.CustomArgs(source="def run(table):\n    while True:\n        pass\n"))
    return spec


def test_a_job_past_its_max_runtime_is_stopped_and_not_retried(market, eventually):
    """The sandbox's wall clock is max_runtime_s: a run that waits past it fails TIMEOUT, whose retry limit is 0.

    (A busy loop meets the CPU-time limit, also max_runtime_s, first: RESOURCE_LIMIT, not retried either.)
    """
    plane, product, grant = market
    spec = aggregate_spec(grant, product, kind=CUSTOM, max_runtime_s=2)
    spec.custom.CopyFrom(S.CustomArgs(source="def run(table):\n    import time\n    time.sleep(600)\n"))
    with plane.client() as client:
        done = finished(client, submit(client, spec, "sub-overrun").job_id, eventually)
    assert done.state == S.JOB_STATE_FAILED and done.state_reason == "timeout", (done.state_reason, done.state_message)
    assert [(f.attempt, f.category) for f in done.failures] == [(1, S.FAILURE_CATEGORY_TIMEOUT)]
    assert done.finished_unix_ms - done.started_unix_ms < 30_000


def test_cancel_stops_a_running_job(market, eventually):
    plane, product, grant = market
    with plane.client() as client:
        job = submit(client, _endless_job(grant, product), "sub-cancel")
        eventually(lambda: client.jobs.GetJob(S.GetJobRequest(job_id=job.job_id), timeout=5).job.state
                   == S.JOB_STATE_RUNNING, timeout_s=30, what="running")
        cancelled = client.jobs.CancelJob(S.CancelJobRequest(request_id="c-1", job_id=job.job_id, reason="test"),
                                          timeout=10).job
    assert cancelled.state == S.JOB_STATE_CANCELLED and cancelled.state_message == "test"


def test_revoking_the_grant_cancels_its_running_jobs(market, eventually):
    plane, product, grant = market
    with plane.client() as client:
        job = submit(client, _endless_job(grant, product), "sub-revoke")
        eventually(lambda: client.jobs.GetJob(S.GetJobRequest(job_id=job.job_id), timeout=5).job.state
                   == S.JOB_STATE_RUNNING, timeout_s=30, what="running")
        client.grants.RevokeGrant(grants_pb2.RevokeGrantRequest(request_id="rv-1", grant_id=grant.grant_id,
                                                                reason="contract ended"),
                                  metadata=(("shuniu-operator", "op"),), timeout=10)
        done = finished(client, job.job_id, eventually)
        with pytest.raises(grpc.RpcError) as refused:
            submit(client, aggregate_spec(grant, product), "sub-after-revoke")
    assert done.state == S.JOB_STATE_CANCELLED and done.state_reason == "grant_revoked"
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "revoked" in refused.value.details()


def test_plan_and_explain_change_nothing(market, redis_url):
    plane, product, grant = market
    with plane.client() as client:
        plan = client.jobs.PlanJob(S.PlanJobRequest(spec=aggregate_spec(grant, product)), timeout=10)
    assert plan.admissible and list(plan.placement.node_ids) == ["ray-n3"]
    removed = {r.filter: r.nodes_removed for r in plan.explanation.rejections}
    assert removed["domain"] == 2 and removed["tier"] == 1, json.dumps(removed)
    assert redis.Redis.from_url(redis_url).keys("shuniu:job:*") == []


def _shuniu(*args: str):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "shuniu.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})


def test_cli_run_prints_the_released_output_and_lists_the_job(market):
    plane, product, grant = market
    result = _shuniu("run", "--addr", plane.address, "--grant", grant.grant_id, "--product", product.product_id,
                     "--group-by", "city", "--agg", "count", "--agg", "mean:kwh", "--anchor", "xinyang",
                     "--max-tier", "T1", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert sorted(r["city"] for r in rows) == ["luoyang", "xinyang", "zhengzhou"] and all(r["count"] == 200 for r in rows)
    listed = _shuniu("jobs", "ls", "--addr", plane.address, "--buyer", "zz-bank", "--state", "succeeded", "--json")
    assert listed.returncode == 0 and len(json.loads(listed.stdout)["jobs"]) == 1
    refused = _shuniu("submit", "--addr", plane.address, "--grant", grant.grant_id, "--product", product.product_id,
                      "--agg", "count", "--max-tier", "T7")
    assert refused.returncode != 0 and 'max-tier "T7" unknown' in refused.stderr


def test_cli_plans_watches_shows_explains_and_cancels_with_tables_json_and_exit_codes(market, eventually):
    plane, product, grant = market
    addr = ("--addr", plane.address)
    planned = _shuniu("plan", *addr, "--grant", grant.grant_id, "--product", product.product_id, "--agg", "count",
                      "--anchor", "xinyang", "--max-tier", "T1", "--json")
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout)["admissible"] and json.loads(planned.stdout)["placement"]["node_ids"]
    with plane.client() as client:
        done = submit(client, aggregate_spec(grant, product), "cli-watch")
        watched = _shuniu("watch", done.job_id, *addr)
        assert watched.returncode == 0 and "succeeded" in watched.stdout.lower(), watched.stdout + watched.stderr
        shown = _shuniu("jobs", "show", done.job_id, *addr, "--json")
        assert shown.returncode == 0 and json.loads(shown.stdout)["state"] == "JOB_STATE_SUCCEEDED"
        for node_id in ("ray-n1", "ray-n3"):  # the product's domain drained: the next job waits
            client.drain(node_id, "cli test")
        waiting = submit(client, aggregate_spec(grant, product), "cli-wait")
        explained = _shuniu("explain", waiting.job_id, *addr)
        assert explained.returncode == 0 and "nodes considered" in explained.stdout, explained.stdout + explained.stderr
        as_json = json.loads(_shuniu("explain", waiting.job_id, *addr, "--json").stdout)
        assert as_json["explanation"]["rejections"] and as_json["job_id"] == waiting.job_id
        cancelled = _shuniu("cancel", waiting.job_id, *addr, "--reason", "cli test")
        assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout, cancelled.stdout + cancelled.stderr
        assert _shuniu("watch", waiting.job_id, *addr).returncode == 2  # ended without output
    missing = _shuniu("jobs", "show", "job-nope", *addr)
    assert missing.returncode != 0 and "NOT_FOUND" in missing.stderr
