"""Budgets on every answer, end to end: a sensitive product's noisy aggregates charge the grant's ε,
a spent budget is refused, and its verification policy refuses and counts the claims beyond it."""

from __future__ import annotations

import time

import grpc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
import redis
from conftest import AgentThread
from test_jobs import CAPACITY, NODES, PRICE, aggregate_spec, finished, power_spec, submit, write_power

from shuniu.protos.v1 import catalog_pb2, common_pb2, grants_pb2, jobs_pb2

S = jobs_pb2
AGGREGATE, VERIFY = common_pb2.JOB_KIND_AGGREGATE, common_pb2.JOB_KIND_VERIFY
OPERATOR = (("shuniu-operator", "ops-wang"),)
CLAIMS_PER_KEY = 6
TARGET = "91410100MA00000007"  # row 7: kwh = 1000 + 7·37 = 1259


def budgeted_spec(path: str) -> catalog_pb2.ProductSpec:
    spec = power_spec(path, 600, ["ray-n1", "ray-n3"])
    spec.grade = common_pb2.CLASSIFICATION_GRADE_SENSITIVE
    spec.allowed_job_kinds[:] = [AGGREGATE, VERIFY]
    spec.privacy.CopyFrom(catalog_pb2.PrivacyDefaults(
        epsilon_per_release_milli=1_000, grant_budget_milli=2_000,
        bounds=[catalog_pb2.ColumnBounds(column="kwh", lower=0, upper=2_000)]))
    spec.verification.CopyFrom(catalog_pb2.VerificationPolicy(
        key_columns=["credit_code"], max_claims_per_key=CLAIMS_PER_KEY, period_s=86_400,
        rules=[catalog_pb2.VerificationRule(column="kwh", operators=["in_range"], min_range_width=100)]))
    return spec


@pytest.fixture
def budgeted(ray_cluster, control_plane_factory, tmp_path, eventually):
    """A control plane on Ray, its agents, a listed sensitive product with answer budgets, an approved grant."""
    plane = control_plane_factory(ray_address=ray_cluster.address)
    agents = [AgentThread(plane.address, node_id, site, CAPACITY, price_card=PRICE).__enter__()
              for node_id, site in NODES.items()]
    try:
        with plane.client() as client:
            eventually(lambda: len(list(client.list_nodes())) == len(NODES), what="agents registered")
            spec = budgeted_spec(write_power(tmp_path / "power.parquet"))
            product = client.catalog.RegisterProduct(
                catalog_pb2.RegisterProductRequest(request_id="reg-budgeted", spec=spec), timeout=5).product
            eventually(lambda: client.catalog.GetProduct(catalog_pb2.GetProductRequest(
                product_id=product.product_id), timeout=5).product.state == catalog_pb2.PRODUCT_STATE_UNDER_REVIEW,
                timeout_s=20, what="product verified")
            client.catalog.ReviewProduct(catalog_pb2.ReviewProductRequest(
                request_id="review-budgeted", product_id=product.product_id, approve=True,
                certificate_valid_until_unix_ms=int(time.time() * 1000) + 86_400_000), timeout=5, metadata=OPERATOR)
            applied = client.grants.ApplyGrant(grants_pb2.ApplyGrantRequest(request_id="apply-budgeted", spec=grants_pb2.GrantSpec(
                buyer_id="zz-bank", scenario="SME credit, Xinyang", purpose="energy-planning",
                purpose_category=common_pb2.PURPOSE_CATEGORY_COMMERCIAL,
                products=[common_pb2.ProductColumns(product_id=product.product_id, columns=["credit_code", "city", "kwh"])],
                job_kinds=[AGGREGATE, VERIFY], expires_unix_ms=int(time.time() * 1000) + 86_400_000,
                limits=grants_pb2.GrantLimits(max_rows=10_000_000, max_calls=1_000, max_budget_fen=100_000_000),
                egress=grants_pb2.EgressProfile(min_group_size=5, max_output_rows=100))), timeout=5).grant
            grant = client.grants.ApproveGrant(grants_pb2.ApproveGrantRequest(
                request_id="approve-budgeted", grant_id=applied.grant_id, note="budgets"), timeout=5,
                metadata=OPERATOR).grant
            assert grant.state == grants_pb2.GRANT_STATE_APPROVED, grant.state_reason
        yield plane, product, grant
    finally:
        for agent in agents:
            agent.__exit__()


def _usage(client, grant_id: str) -> grants_pb2.GrantUsage:
    return client.grants.GetGrant(grants_pb2.GetGrantRequest(grant_id=grant_id), timeout=5).grant.usage


def test_each_noisy_release_charges_the_grant_and_a_spent_budget_is_refused(budgeted, redis_url, eventually):
    plane, product, grant = budgeted
    assert grant.spec.limits.max_dp_epsilon_milli == 2_000  # the product's default budget, filled in
    exact = pq.read_table(product.spec.files[0].path).group_by("city").aggregate([("kwh", "sum")])
    exact = dict(zip(exact.column("city").to_pylist(), exact.column("kwh_sum").to_pylist()))
    store = redis.Redis.from_url(redis_url)
    with plane.client() as client:
        for release in (1, 2):
            done = finished(client, submit(client, aggregate_spec(grant, product), f"agg-{release}").job_id, eventually)
            assert done.state == S.JOB_STATE_SUCCEEDED, (done.state_reason, done.state_message)
            assert done.egress.dp_epsilon_spent_milli == 1_000
            assert _usage(client, grant.grant_id).dp_epsilon_spent_milli == 1_000 * release
            table = ipc.open_stream(store.get(done.result.result_ref)).read_all()
            released = dict(zip(table.column("city").to_pylist(), table.column("sum_kwh").to_pylist()))
            assert released.keys() == exact.keys() and all(released[c] != exact[c] for c in exact)
        with pytest.raises(grpc.RpcError) as refused:
            submit(client, aggregate_spec(grant, product), "agg-3")
        assert _usage(client, grant.grant_id).dp_epsilon_spent_milli == 2_000
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_dp_epsilon_milli: 2,000 allowed, 2,000 used, 1,000 asked" in refused.value.details()


def _verify_spec(grant, product, claim: S.Claim) -> S.JobSpec:
    return aggregate_spec(grant, product, kind=VERIFY, verify=S.VerifyArgs(claims=[claim]))


def _range(low: float, high: float) -> S.Claim:
    return S.Claim(claim_id="c", key_column="credit_code", key_value=TARGET, column="kwh",
                   operator=S.CLAIM_OPERATOR_IN_RANGE, low=f"{low:g}", high=f"{high:g}")


def test_claims_outside_the_policy_are_refused_naming_the_rule_and_counted(budgeted):
    plane, product, grant = budgeted
    equality = S.Claim(claim_id="c", key_column="credit_code", key_value=TARGET, column="kwh",
                       operator=S.CLAIM_OPERATOR_EQUALS, value="1259")
    on_city = S.Claim(claim_id="c", key_column="credit_code", key_value=TARGET, column="city",
                      operator=S.CLAIM_OPERATOR_IN_SET, values=["xinyang", "luoyang"])
    with plane.client() as client:
        for i, (claim, rule) in enumerate([(equality, "verify_policy:operator"), (on_city, "verify_policy:operator"),
                                           (_range(1200, 1299), "verify_policy:range_width")]):
            with pytest.raises(grpc.RpcError) as refused:
                submit(client, _verify_spec(grant, product, claim), f"bad-claim-{i}")
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert refused.value.details().startswith(rule)
        assert _usage(client, grant.grant_id).claims_refused == 3


def test_a_bisection_of_one_persons_amount_is_stopped_before_it_pins_the_value(budgeted, eventually):
    """Range claims, each halving what is known of one company's kWh, up to three hundred tried: the
    policy answers six, refuses every try after them (twenty are enough to show it), and six bits
    of [0, 2,000] leave over thirty candidate values."""
    plane, product, grant = budgeted
    low, high, answered, refusals = 0.0, 2_000.0, 0, []
    with plane.client() as client:
        for attempt in range(300):
            middle = max((low + high) / 2, low + 100)
            try:
                job = submit(client, _verify_spec(grant, product, _range(low, middle)), f"bisect-{attempt}")
            except grpc.RpcError as err:
                refusals.append(err)
                if len(refusals) >= 20:  # refused once, refused every time after: the rest of the few hundred alike
                    break
                continue
            done = finished(client, job.job_id, eventually)
            assert done.state == S.JOB_STATE_SUCCEEDED, done.state_message
            answered += 1
            holds = ipc.open_stream(client.jobs.GetJobResult(S.GetJobResultRequest(job_id=job.job_id), timeout=5)
                                    .arrow_ipc).read_all().column("holds")[0].as_py()
            low, high = (low, middle) if holds else (middle, high)
        usage = _usage(client, grant.grant_id)
    assert answered == CLAIMS_PER_KEY
    assert all(e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "verify_policy:per_key_limit" in e.details()
               for e in refusals)
    assert low <= 1259 <= high and high - low > 30  # still over thirty whole kWh the answers allow
    assert usage.claims_refused == len(refusals)
