"""A job's prices are locked when it is admitted: a later price change never reaches its run or its bill."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shuniu.protos.v1 import catalog_pb2, common_pb2, grants_pb2, jobs_pb2, nodes_pb2
from shuniu.scheduler.jobs.admission import plan_admission
from shuniu.scheduler.jobs.node_requests import node_run_request

NOW_MS = 1_793_462_400_000


def _product(pid: str, price_version: int) -> catalog_pb2.Product:
    return catalog_pb2.Product(
        product_id=pid, state=catalog_pb2.PRODUCT_STATE_LISTED,
        spec=catalog_pb2.ProductSpec(holder_id="h", home_site="zhengzhou", domain_node_ids=["n1"],
                                     pricing=catalog_pb2.Pricing(price_version=price_version)))


def _grant(pids) -> grants_pb2.Grant:
    return grants_pb2.Grant(grant_id="g1", state=grants_pb2.GRANT_STATE_APPROVED, spec=grants_pb2.GrantSpec(
        job_kinds=[common_pb2.JOB_KIND_AGGREGATE],
        products=[common_pb2.ProductColumns(product_id=p, columns=["city"]) for p in pids]))


def _job_spec(pids) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(grant_id="g1", kind=common_pb2.JOB_KIND_AGGREGATE,
                            products=[common_pb2.ProductColumns(product_id=p) for p in pids])


@given(st.dictionaries(st.sampled_from(["p-a", "p-b", "p-c"]), st.tuples(st.integers(1, 50), st.integers(0, 50)),
                       min_size=1))
def test_the_run_carries_the_versions_locked_at_admission_whatever_the_catalog_holds_later(versions):
    pids = sorted(versions)
    at_admission = {p: _product(p, versions[p][0]) for p in pids}
    plan = plan_admission(_job_spec(pids), _grant(pids), at_admission, NOW_MS)
    assert {q.product_id: q.price_version for q in plan.quote.product_prices} == {p: v for p, (v, _) in versions.items()}
    # Meanwhile holders change their prices; the job is placed afterwards.
    at_placement = {p: _product(p, versions[p][0] + versions[p][1]) for p in pids}
    job = jobs_pb2.Job(job_id="j1", buyer_id="b", spec=_job_spec(pids), quote=plan.quote)
    request = node_run_request(job, _grant(pids), at_placement, plan.product_columns,
                               nodes_pb2.Node(node_id="n1", site="zhengzhou"), common_pb2.TIER_T1, 0)
    assert {i.product_id: i.price_version for i in request.inputs} == {p: v for p, (v, _) in versions.items()}


def test_a_job_without_a_locked_quote_runs_at_the_price_in_force():
    """Jobs admitted before quotes were stored have none; they keep the behaviour they were admitted under."""
    job = jobs_pb2.Job(job_id="j1", buyer_id="b", spec=_job_spec(["p-a"]))
    request = node_run_request(job, _grant(["p-a"]), {"p-a": _product("p-a", 7)}, {"p-a": ["city"]},
                               nodes_pb2.Node(node_id="n1", site="zhengzhou"), common_pb2.TIER_T1, 0)
    assert [i.price_version for i in request.inputs] == [7]

