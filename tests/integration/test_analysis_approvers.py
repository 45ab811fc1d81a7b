"""Who may decide an analysis, under mTLS: the AnalysisService behind the real interceptor, in process on loopback.

A product's analyses are decided by its holder, or by the exchange's operator where the product's policy says
so; anyone else is refused with PERMISSION_DENIED naming the rule, and the refusal changes nothing stored.
"""

from __future__ import annotations

import grpc
import pytest
import redis
import redis.asyncio as aioredis
from conftest import stored_state

from shuniu.market.catalog import queue_product_write
from shuniu.protos.v1 import analyses_pb2, analyses_pb2_grpc, catalog_pb2, common_pb2
from shuniu.scheduler.control_plane.analysis_service import AnalysisService
from shuniu.scheduler.control_plane.auth_interceptor import AuthInterceptor, OwnerLookup
from shuniu.security import pki, tls

A = analyses_pb2
HOLDER, OTHER_HOLDER, OPERATOR, BUYER = "state-grid-henan", "other-holder", "ops", "zz-bank"
IDENTITIES = {HOLDER: "data_holder", OTHER_HOLDER: "data_holder", OPERATOR: "operator", BUYER: "buyer"}
SOURCE = "def run(table, n):\n    return table\n"


def _product(product_id: str, approver: int) -> catalog_pb2.Product:
    return catalog_pb2.Product(product_id=product_id, state=catalog_pb2.PRODUCT_STATE_LISTED, spec=catalog_pb2.ProductSpec(
        holder_id=HOLDER, name=product_id, grade=common_pb2.CLASSIFICATION_GRADE_SENSITIVE, analysis_approver=approver,
        pricing=catalog_pb2.Pricing(unit=catalog_pb2.PRICING_UNIT_PER_CALL, unit_price_fen=1, price_version=1)))


@pytest.fixture
async def stubs(tmp_path, redis_url):
    """One stub per identity, to a server with the AnalysisService behind the interceptor; two listed products:
    p-holder (its holder decides) and p-operator (the operator decides)."""
    store = redis.Redis.from_url(redis_url)
    with store.pipeline() as pipe:
        queue_product_write(pipe, _product("p-holder", A.ANALYSIS_APPROVER_HOLDER), new_price=True)
        queue_product_write(pipe, _product("p-operator", A.ANALYSIS_APPROVER_OPERATOR), new_price=True)
        pipe.execute()
    store.close()
    pki.init_ca(tmp_path)
    pki.issue_server(tmp_path)
    for name, role in IDENTITIES.items():
        pki.issue_identity(tmp_path, pki.user_identity(name, role))
    client = aioredis.Redis.from_url(redis_url)
    server = grpc.aio.server(interceptors=[AuthInterceptor(OwnerLookup(client))])
    analyses_pb2_grpc.add_AnalysisServiceServicer_to_server(AnalysisService(client, 3600), server)
    port = server.add_secure_port("127.0.0.1:0", tls.server_credentials(tmp_path))
    await server.start()
    channels = {name: tls.aio_channel(f"127.0.0.1:{port}", tls.load_client_tls(tmp_path, name)) for name in IDENTITIES}
    yield {name: analyses_pb2_grpc.AnalysisServiceStub(channel) for name, channel in channels.items()}
    for channel in channels.values():
        await channel.close()
    await server.stop(0)
    await client.aclose()


async def _propose(stub, product_id: str, request_id: str) -> analyses_pb2.Analysis:
    spec = A.AnalysisSpec(product_id=product_id, name="n", source=SOURCE,
                          output_schema=[A.OutputColumn(name="rows", arrow_type="int64")],
                          parameters=[A.ParameterDeclaration(name="n", type=A.PARAMETER_TYPE_INT64, min="1", max="9")])
    return (await stub.ProposeAnalysis(A.ProposeAnalysisRequest(request_id=request_id, spec=spec), timeout=5)).analysis


async def _approve(stub, analysis: analyses_pb2.Analysis, request_id: str) -> analyses_pb2.Analysis:
    return (await stub.ApproveAnalysis(A.ApproveAnalysisRequest(
        request_id=request_id, analysis_id=analysis.analysis_id, code_sha256=analysis.spec.code_sha256),
        timeout=5)).analysis


@pytest.mark.parametrize("product_id, decider, refused_by", [
    ("p-holder", HOLDER, None),
    ("p-holder", OTHER_HOLDER, "rule own-analysis"),
    ("p-holder", OPERATOR, "rule analysis-approver"),
    ("p-holder", BUYER, "rule ApproveAnalysis"),
    ("p-operator", OPERATOR, None),
    ("p-operator", HOLDER, "rule analysis-approver"),
], ids=["holder-decides", "another-holder", "operator-under-holder-policy", "buyer", "operator-policy",
        "holder-under-operator-policy"])
async def test_only_the_approver_the_products_policy_names_may_approve(stubs, redis_url, product_id, decider,
                                                                        refused_by):
    proposed = await _propose(stubs[BUYER], product_id, f"propose-{decider}")
    assert proposed.proposed_by == BUYER and proposed.holder_id == HOLDER
    if refused_by is None:
        decided = await _approve(stubs[decider], proposed, "approve")
        assert decided.state == A.ANALYSIS_STATE_APPROVED and decided.decided_by == decider
        return
    before = stored_state(redis_url)
    for rpc, request in (("ApproveAnalysis", A.ApproveAnalysisRequest(
            request_id="approve", analysis_id=proposed.analysis_id, code_sha256=proposed.spec.code_sha256)),
            ("RejectAnalysis", A.RejectAnalysisRequest(request_id="reject", analysis_id=proposed.analysis_id,
                                                        reason="no"))):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await getattr(stubs[decider], rpc)(request, timeout=5)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED and refused_by.replace(
            "ApproveAnalysis", rpc) in err.value.details(), err.value.details()
    assert stored_state(redis_url) == before


async def test_approval_binds_the_reviewed_hash_and_a_decided_analysis_stays_decided(stubs, redis_url):
    proposed = await _propose(stubs[BUYER], "p-holder", "propose")
    before = stored_state(redis_url)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stubs[HOLDER].ApproveAnalysis(A.ApproveAnalysisRequest(
            request_id="approve-wrong", analysis_id=proposed.analysis_id, code_sha256="0" * 64), timeout=5)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and proposed.spec.code_sha256 in err.value.details()
    assert stored_state(redis_url) == before
    rejected = (await stubs[HOLDER].RejectAnalysis(A.RejectAnalysisRequest(
        request_id="reject", analysis_id=proposed.analysis_id, reason="reads identifiers"), timeout=5)).analysis
    assert rejected.state == A.ANALYSIS_STATE_REJECTED and rejected.state_reason == "rejected: reads identifiers"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _approve(stubs[HOLDER], proposed, "approve-late")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "is REJECTED" in err.value.details()
    listed = (await stubs[BUYER].ListAnalyses(A.ListAnalysesRequest(product_id="p-holder"), timeout=5)).analyses
    assert [a.analysis_id for a in listed] == [proposed.analysis_id] and not listed[0].spec.source
    events = redis.Redis.from_url(redis_url).xrange("shuniu:events:analyses")
    assert [(f[b"from"], f[b"to"], f[b"actor"]) for _, f in events] == [
        (b"ANALYSIS_STATE_UNSPECIFIED", b"ANALYSIS_STATE_PROPOSED", BUYER.encode()),
        (b"ANALYSIS_STATE_PROPOSED", b"ANALYSIS_STATE_REJECTED", HOLDER.encode())]
