"""Approved analyses end to end: custom code above public grade runs only as an analysis its product's approver
accepted by hash, named by the grant, with parameter values; public products keep free custom code."""

from __future__ import annotations

import time

import grpc
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
from conftest import AgentThread, stored_state
from test_jobs import CAPACITY, CUSTOM, NODES, PRICE, S, aggregate_spec, finished, power_spec, submit, write_power

from shuniu.market.analyses import code_sha256
from shuniu.protos.v1 import analyses_pb2, catalog_pb2, common_pb2, grants_pb2, jobs_pb2

A = analyses_pb2
OPERATOR = (("shuniu-operator", "ops-wang"),)
ROWS = 600
KWH_BY_CITY = """import pyarrow as pa
import pyarrow.compute as pc


def run(table, min_kwh):
    big = table.filter(pc.greater_equal(table["kwh"], min_kwh))
    cells = big.group_by(["city"]).aggregate([([], "count_all")])
    return pa.table({"city": cells["city"], "households": cells["count_all"].cast(pa.int64())})
"""
OTHER_CODE = "def run(table, min_kwh):\n    return table.select(['city'])\n"
FREE_CODE = "import pyarrow as pa\n\ndef run(table):\n    return pa.table({'rows': [table.num_rows]})\n"


def households_at_least(min_kwh: float) -> dict[str, int]:
    """The reference: what write_power's rows give, counted without Arrow."""
    cities = ["zhengzhou", "luoyang", "xinyang"]
    counts: dict[str, int] = {}
    for i in range(ROWS):
        if 1000 + (i * 37) % 900 >= min_kwh:
            counts[cities[i % 3]] = counts.get(cities[i % 3], 0) + 1
    return counts


def analysis_spec(product_id: str, source: str = KWH_BY_CITY, name: str = "kwh by city") -> A.AnalysisSpec:
    return A.AnalysisSpec(product_id=product_id, name=name, source=source,
                          output_schema=[A.OutputColumn(name="city", arrow_type="string"),
                                         A.OutputColumn(name="households", arrow_type="int64")],
                          parameters=[A.ParameterDeclaration(name="min_kwh", type=A.PARAMETER_TYPE_FLOAT64,
                                                             min="0", max="5000")])


def propose(client, request_id: str, spec: A.AnalysisSpec, approve: bool = True) -> A.Analysis:
    analysis = client.analyses.ProposeAnalysis(A.ProposeAnalysisRequest(request_id=request_id, spec=spec),
                                               timeout=5).analysis
    assert analysis.state == A.ANALYSIS_STATE_PROPOSED and analysis.spec.code_sha256 == code_sha256(spec.source)
    if not approve:
        return analysis
    return client.analyses.ApproveAnalysis(A.ApproveAnalysisRequest(
        request_id=f"ok-{request_id}", analysis_id=analysis.analysis_id, code_sha256=analysis.spec.code_sha256),
        timeout=5, metadata=OPERATOR).analysis


def register(client, eventually, request_id: str, spec: catalog_pb2.ProductSpec) -> catalog_pb2.Product:
    product = client.catalog.RegisterProduct(catalog_pb2.RegisterProductRequest(request_id=request_id, spec=spec),
                                             timeout=5).product
    state = eventually(lambda: (s := client.catalog.GetProduct(catalog_pb2.GetProductRequest(
        product_id=product.product_id), timeout=5).product.state) in (catalog_pb2.PRODUCT_STATE_UNDER_REVIEW,
                                                                      catalog_pb2.PRODUCT_STATE_LISTED) and s,
        timeout_s=20, what="product verified")
    if state == catalog_pb2.PRODUCT_STATE_UNDER_REVIEW:
        client.catalog.ReviewProduct(catalog_pb2.ReviewProductRequest(
            request_id=f"review-{request_id}", product_id=product.product_id, approve=True,
            certificate_valid_until_unix_ms=int(time.time() * 1000) + 86_400_000), timeout=5, metadata=OPERATOR)
    return product


def grant_spec(product_id: str, *analysis_ids: str) -> grants_pb2.GrantSpec:
    return grants_pb2.GrantSpec(
        buyer_id="zz-bank", scenario="household power, Xinyang", purpose="energy-planning",
        purpose_category=common_pb2.PURPOSE_CATEGORY_COMMERCIAL,
        products=[common_pb2.ProductColumns(product_id=product_id, columns=["credit_code", "city", "kwh"])],
        job_kinds=[CUSTOM], expires_unix_ms=int(time.time() * 1000) + 86_400_000, analysis_ids=analysis_ids,
        limits=grants_pb2.GrantLimits(max_rows=100_000, max_calls=20, max_budget_fen=10_000_000),
        egress=grants_pb2.EgressProfile(min_group_size=5, max_output_rows=100))


@pytest.fixture
def exchange(ray_cluster, control_plane_factory, tmp_path, eventually):
    """On Ray with agents: a public and a sensitive product over the same file, analyses on both (approved or
    merely proposed), and two approved grants: custom on the public product, custom naming one analysis on the
    sensitive one."""
    plane = control_plane_factory(ray_address=ray_cluster.address)
    agents = [AgentThread(plane.address, node_id, site, CAPACITY, price_card=PRICE).__enter__()
              for node_id, site in NODES.items()]
    try:
        with plane.client() as client:
            eventually(lambda: len(list(client.list_nodes())) == len(NODES), what="agents registered")
            path = write_power(tmp_path / "power.parquet", ROWS)
            public = register(client, eventually, "reg-public", power_spec(path, ROWS, ["ray-n1", "ray-n3"]))
            sensitive_spec = power_spec(path, ROWS, ["ray-n1", "ray-n3"])
            sensitive_spec.name, sensitive_spec.grade = "household power", common_pb2.CLASSIFICATION_GRADE_SENSITIVE
            sensitive = register(client, eventually, "reg-sensitive", sensitive_spec)
            found = {
                "approved": propose(client, "an-kwh", analysis_spec(sensitive.product_id)),
                "on_public": propose(client, "an-public", analysis_spec(public.product_id)),
                "proposed": propose(client, "an-wait", analysis_spec(sensitive.product_id, OTHER_CODE, "w"), False),
                "not_granted": propose(client, "an-other", analysis_spec(sensitive.product_id, OTHER_CODE, "o")),
            }
            applied = client.grants.ApplyGrant(grants_pb2.ApplyGrantRequest(
                request_id="apply-sensitive", spec=grant_spec(sensitive.product_id,
                                                              found["approved"].analysis_id)), timeout=5).grant
            assert applied.state == grants_pb2.GRANT_STATE_PENDING, applied.state_reason
            on_sensitive = client.grants.ApproveGrant(grants_pb2.ApproveGrantRequest(
                request_id="approve-sensitive", grant_id=applied.grant_id), timeout=5, metadata=OPERATOR).grant
            on_public = client.grants.ApplyGrant(grants_pb2.ApplyGrantRequest(
                request_id="apply-public", spec=grant_spec(public.product_id)), timeout=5).grant
            assert on_public.state == on_sensitive.state == grants_pb2.GRANT_STATE_APPROVED
        yield plane, {"public": public, "sensitive": sensitive}, found, {"public": on_public, "sensitive": on_sensitive}
    finally:
        for agent in agents:
            agent.__exit__()


def custom_spec(grant, product, **custom) -> jobs_pb2.JobSpec:
    # Zhengzhou's ray-n1 holds the product's file (power_spec puts it on the domain's first node).
    spec = aggregate_spec(grant, product, kind=CUSTOM, anchor_site="zhengzhou")
    spec.custom.CopyFrom(S.CustomArgs(**custom))
    return spec


def released(redis_url: str, job: jobs_pb2.Job) -> pa.Table:
    import redis

    store = redis.Redis.from_url(redis_url)
    try:
        return ipc.open_stream(store.get(job.result.result_ref)).read_all()
    finally:
        store.close()


def test_an_approved_analysis_runs_with_its_parameters_and_returns_its_declared_schema(exchange, redis_url,
                                                                                       eventually):
    plane, products, found, grants = exchange
    analysis = found["approved"]
    with plane.client() as client:
        job = submit(client, custom_spec(grants["sensitive"], products["sensitive"], analysis_id=analysis.analysis_id,
                                         parameters={"min_kwh": "1500"}), "run-analysis")
        # The stored job runs the approved code, with the typed values and the contract the exchange filled in.
        assert job.spec.custom.source == KWH_BY_CITY and job.spec.custom.code_sha256 == analysis.spec.code_sha256
        assert [(v.name, v.float64_value) for v in job.spec.custom.parameter_values] == [("min_kwh", 1500.0)]
        done = finished(client, job.job_id, eventually)
        assert done.state == S.JOB_STATE_SUCCEEDED, (done.state_reason, done.state_message)
        free = finished(client, submit(client, custom_spec(grants["public"], products["public"], source=FREE_CODE),
                                       "free-on-public").job_id, eventually)
    table = released(redis_url, done)
    assert [(f.name, str(f.type)) for f in table.schema] == [("city", "string"), ("households", "int64")]
    assert dict(zip(table.column("city").to_pylist(), table.column("households").to_pylist())) == \
        households_at_least(1500)
    assert free.state == S.JOB_STATE_SUCCEEDED, (free.state_reason, free.state_message)  # public keeps free code
    assert released(redis_url, free).column("rows").to_pylist() == [ROWS]


def _market_keys(redis_url: str) -> dict[bytes, bytes]:
    """What a refused submit must leave as it was: jobs, grants and their use, analyses, request ids, credit."""
    kinds = (b"job", b"grant", b"analys", b"req", b"credit", b"events:jobs", b"events:grants", b"events:analyses")
    return {k: v for k, v in stored_state(redis_url).items() if k.removeprefix(b"shuniu:").startswith(kinds)}


def test_custom_code_outside_an_approved_analysis_is_refused_at_submit_naming_the_rule(exchange, redis_url):
    plane, products, found, grants = exchange
    sensitive, granted = products["sensitive"], grants["sensitive"]
    approved = found["approved"].analysis_id
    cases = [  # (case, custom args, status, reason the refusal names)
        ("free code above public", dict(source=KWH_BY_CITY), "FAILED_PRECONDITION", "approved_analysis_required"),
        ("analysis not approved", dict(analysis_id=found["proposed"].analysis_id, parameters={"min_kwh": "1"}),
         "FAILED_PRECONDITION", "analysis_not_approved"),
        ("analysis of another product", dict(analysis_id=found["on_public"].analysis_id, parameters={"min_kwh": "1"}),
         "FAILED_PRECONDITION", "analysis_product"),
        ("analysis the grant does not name", dict(analysis_id=found["not_granted"].analysis_id,
                                                  parameters={"min_kwh": "1"}), "FAILED_PRECONDITION",
         "analysis_not_granted"),
        ("pinned hash differs", dict(analysis_id=approved, parameters={"min_kwh": "1"},
                                     code_sha256=code_sha256(OTHER_CODE)), "FAILED_PRECONDITION", "code_hash"),
        ("buyer's own code", dict(analysis_id=approved, parameters={"min_kwh": "1"}, source=OTHER_CODE),
         "FAILED_PRECONDITION", "code_hash"),
        ("value out of range", dict(analysis_id=approved, parameters={"min_kwh": "-5"}), "INVALID_ARGUMENT",
         "parameter"),
        ("value missing", dict(analysis_id=approved), "INVALID_ARGUMENT", "parameter"),
        ("value of the wrong type", dict(analysis_id=approved, parameters={"min_kwh": "lots"}), "INVALID_ARGUMENT",
         "parameter"),
        ("unknown analysis", dict(analysis_id="an-000000000000-00000000", parameters={"min_kwh": "1"}), "NOT_FOUND",
         "analysis_not_found"),
    ]
    before = _market_keys(redis_url)
    with plane.client() as client:
        for i, (case, custom, status, reason) in enumerate(cases):
            with pytest.raises(grpc.RpcError) as err:
                submit(client, custom_spec(granted, sensitive, **custom), f"refused-{i}")
            assert err.value.code().name == status, (case, err.value.details())
            assert err.value.details().startswith(f"{reason}:"), (case, err.value.details())
            if reason != "parameter" and reason != "analysis_not_found":
                assert "rule approved-analysis" in err.value.details(), case
        assert list(client.jobs.ListJobs(jobs_pb2.ListJobsRequest(grant_id=granted.grant_id), timeout=5).jobs) == []
    assert _market_keys(redis_url) == before


def test_a_grant_of_custom_jobs_above_public_names_approved_analyses_of_its_products(exchange, redis_url):
    plane, products, found, _ = exchange
    sensitive = products["sensitive"].product_id
    cases = [  # (case, analysis ids, status, reason in the message)
        ("no analysis", (), "FAILED_PRECONDITION", "rule approved-analysis"),
        ("an analysis not approved", (found["proposed"].analysis_id,), "FAILED_PRECONDITION", "is PROPOSED"),
        ("an analysis of another product", (found["on_public"].analysis_id,), "FAILED_PRECONDITION",
         "which the grant does not cover"),
        ("an unknown analysis", ("an-000000000000-00000000",), "NOT_FOUND", "not found"),
    ]
    before = stored_state(redis_url, events=False)
    with plane.client() as client:
        for i, (case, ids, status, words) in enumerate(cases):
            with pytest.raises(grpc.RpcError) as err:
                client.grants.ApplyGrant(grants_pb2.ApplyGrantRequest(request_id=f"g-refused-{i}",
                                                                      spec=grant_spec(sensitive, *ids)), timeout=5)
            assert err.value.code().name == status and words in err.value.details(), (case, err.value.details())
    after = stored_state(redis_url, events=False)
    assert {k: v for k, v in after.items() if b"grant" in k} == {k: v for k, v in before.items() if b"grant" in k}
