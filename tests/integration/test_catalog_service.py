"""CatalogService and NegativeListService on a real control plane and Redis, verified by a real NodeAgent."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import subprocess
import sys
import threading

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis
import redis.asyncio as aioredis
from conftest import AgentThread
from google.protobuf import json_format

from shuniu.market.catalog import ProductStore
from shuniu.nodes.product_verify import content_sha256
from shuniu.nodes.simulator import FleetPlan, run_fleet
from shuniu.protos.v1 import catalog_pb2, common_pb2, nodes_pb2
from shuniu.protos.v1 import negative_list_pb2 as nl_pb2
from shuniu.stack.seed import seed_stack

LISTED, REJECTED, UNDER_REVIEW = (catalog_pb2.PRODUCT_STATE_LISTED, catalog_pb2.PRODUCT_STATE_REJECTED,
                                  catalog_pb2.PRODUCT_STATE_UNDER_REVIEW)
_CAPACITY = common_pb2.Capacity(cpu_milli=8000, memory_mb=16384)


def write_parquet(path: pathlib.Path, rows: int) -> str:
    pq.write_table(pa.table({"patient_id": [f"P{i:06d}" for i in range(rows)],
                             "diagnosis_code": ["I10"] * rows, "amount_fen": list(range(rows))}), path)
    return str(path)


def make_spec(path: str, rows: int, node_id: str = "n-zz-1", grade=common_pb2.CLASSIFICATION_GRADE_INTERNAL,
              tags: tuple[str, ...] = ("health",)) -> catalog_pb2.ProductSpec:
    spec = catalog_pb2.ProductSpec(
        holder_id="henan-hs", name=f"claims {pathlib.Path(path).stem}", category="health", grade=grade,
        home_site="zhengzhou", domain_node_ids=[node_id], files=[catalog_pb2.ProductFile(node_id=node_id, path=path)],
        schema=[catalog_pb2.Column(name="patient_id", arrow_type="string"),
                catalog_pb2.Column(name="diagnosis_code", arrow_type="string", tags=list(tags)),
                catalog_pb2.Column(name="amount_fen", arrow_type="int64")],
        identifier_columns=["patient_id"], sensitive_columns=["diagnosis_code"], row_count=rows,
        content_sha256=content_sha256([path]), allowed_purposes=["actuarial"],
        allowed_job_kinds=[common_pb2.JOB_KIND_AGGREGATE],
        pricing=catalog_pb2.Pricing(unit=catalog_pb2.PRICING_UNIT_PER_CALL, unit_price_fen=500, basis=catalog_pb2.PriceBasis(
            negotiated=catalog_pb2.NegotiatedBasis(agreement_ref="A-1", party_ids=["henan-hs", "exchange"]))))
    for right in ("holding", "processing_use", "product_operation"):
        getattr(spec.rights, right).holders.add(holder_id="henan-hs", share_bp=7_500)
        getattr(spec.rights, right).holders.add(holder_id="hospital", share_bp=2_500)
    return spec


def register(client, spec, request_id="reg-1") -> catalog_pb2.Product:
    return client.catalog.RegisterProduct(catalog_pb2.RegisterProductRequest(request_id=request_id, spec=spec),
                                          timeout=5).product


def get(client, product_id, price_version=0) -> catalog_pb2.Product:
    return client.catalog.GetProduct(catalog_pb2.GetProductRequest(product_id=product_id, price_version=price_version),
                                     timeout=5).product


@pytest.fixture
def plane(control_plane):
    """A control plane whose fleet has two nodes (registered directly, without agents)."""
    with control_plane.client() as client:
        for node_id, site in (("n-zz-2", "zhengzhou"), ("n-ly-1", "luoyang")):
            client.register(nodes_pb2.RegisterRequest(request_id=f"r-{node_id}", node_id=node_id, site=site,
                                                      compute_class=1, capacity=_CAPACITY))
    return control_plane


def _wait_state(client, product_id, state, eventually) -> catalog_pb2.Product:
    return eventually(lambda: (p := get(client, product_id)).state == state and p, timeout_s=15,
                      what=f"product {product_id} in state {catalog_pb2.ProductState.Name(state)}")


def test_registered_product_is_listed_after_a_real_agent_verifies_it(plane, tmp_path, eventually):
    path = write_parquet(tmp_path / "claims.parquet", 1000)
    with AgentThread(plane.address, "n-zz-1", "zhengzhou", _CAPACITY) as agent, plane.client() as client:
        eventually(lambda: agent.agent.stats.registrations, what="agent registered")
        product = register(client, make_spec(path, 1000))
        assert product.state == catalog_pb2.PRODUCT_STATE_REGISTERED
        listed = _wait_state(client, product.product_id, LISTED, eventually)
    assert listed.verification.node_id == "n-zz-1" and listed.verification.ok
    assert listed.verification.row_count == 1000 and listed.listed_unix_ms > 0
    events = redis.Redis.from_url(plane.redis_url).xrange("shuniu:events:products")
    assert [(e[b"from"], e[b"to"]) for _, e in events] == [(b"", b"registered"), (b"registered", b"listed")]


def test_mismatch_leaves_the_product_rejected_with_the_reason(plane, tmp_path, eventually):
    path = write_parquet(tmp_path / "claims.parquet", 998)
    spec = make_spec(path, 1000)
    with AgentThread(plane.address, "n-zz-1", "zhengzhou", _CAPACITY) as agent, plane.client() as client:
        eventually(lambda: agent.agent.stats.registrations, what="agent registered")
        product = _wait_state(client, register(client, spec).product_id, REJECTED, eventually)
    assert product.state_reason == "row_count: declared 1000, found 998"
    assert product.verification.mismatch == "row_count: declared 1000, found 998"


def test_sensitive_product_waits_for_an_operators_review(plane, tmp_path, eventually):
    path = write_parquet(tmp_path / "claims.parquet", 50)
    with AgentThread(plane.address, "n-zz-1", "zhengzhou", _CAPACITY) as agent, plane.client() as client:
        eventually(lambda: agent.agent.stats.registrations, what="agent registered")
        product = register(client, make_spec(path, 50, grade=common_pb2.CLASSIFICATION_GRADE_SENSITIVE))
        _wait_state(client, product.product_id, UNDER_REVIEW, eventually)
        with pytest.raises(grpc.RpcError) as err:
            client.catalog.ReviewProduct(catalog_pb2.ReviewProductRequest(
                request_id="rev-0", product_id=product.product_id, approve=False), timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "a rejection must say why" in err.value.details()
        reviewed = client.catalog.ReviewProduct(catalog_pb2.ReviewProductRequest(
            request_id="rev-1", product_id=product.product_id, approve=True), timeout=5).product
    assert reviewed.state == LISTED


def test_replayed_request_returns_the_first_answer_and_a_reused_id_is_refused(plane, tmp_path):
    spec = make_spec(write_parquet(tmp_path / "c.parquet", 10), 10, node_id="n-zz-2")
    with plane.client() as client:
        first, again = register(client, spec, "same-id"), register(client, spec, "same-id")
        assert first == again
        spec.name = "another product"
        with pytest.raises(grpc.RpcError) as err:
            register(client, spec, "same-id")
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "already used" in err.value.details()
        listing = client.catalog.ListProducts(catalog_pb2.ListProductsRequest(), timeout=5)
    assert [p.product_id for p in listing.products] == [first.product_id] and listing.total == 1


def _catalog_state(url: str) -> dict[bytes, bytes]:
    r = redis.Redis.from_url(url)
    keys = [k for pattern in ("shuniu:product*", "shuniu:negative-list*", "shuniu:req:*", "shuniu:events:products")
            for k in r.scan_iter(match=pattern)]
    return {k: r.dump(k) for k in keys}


def _refusals(product_id: str, spec: catalog_pb2.ProductSpec):
    bad_site, bad_shares, outside, tagged = (catalog_pb2.ProductSpec() for _ in range(4))
    for s in (bad_site, bad_shares, outside, tagged):
        s.CopyFrom(spec)
    bad_site.home_site = "atlantis"
    bad_shares.rights.holding.holders[1].share_bp = 2_000
    outside.domain_node_ids[:] = ["n-ghost"]
    outside.files[0].node_id = "n-ghost"
    tagged.schema[1].tags.append("biometric")
    verification = catalog_pb2.ProductVerification(node_id="n-ly-1", row_count=10)
    return [
        ("unknown-site", "RegisterProduct", catalog_pb2.RegisterProductRequest(request_id="x1", spec=bad_site),
         grpc.StatusCode.INVALID_ARGUMENT, "spec.home_site 'atlantis' unknown"),
        ("shares", "RegisterProduct", catalog_pb2.RegisterProductRequest(request_id="x2", spec=bad_shares),
         grpc.StatusCode.INVALID_ARGUMENT, "spec.rights.holding: shares sum to 9,500 bp; expected exactly 10,000"),
        ("unregistered-node", "RegisterProduct", catalog_pb2.RegisterProductRequest(request_id="x3", spec=outside),
         grpc.StatusCode.FAILED_PRECONDITION, "spec.domain_node_ids[0] 'n-ghost' is not a registered node"),
        ("negative-list", "RegisterProduct", catalog_pb2.RegisterProductRequest(request_id="x4", spec=tagged),
         grpc.StatusCode.FAILED_PRECONDITION, "forbids column tag 'biometric': biometric data may not be traded"),
        ("no-request-id", "RegisterProduct", catalog_pb2.RegisterProductRequest(spec=spec),
         grpc.StatusCode.INVALID_ARGUMENT, "request_id is empty"),
        ("verify-outside-domain", "ReportVerification", catalog_pb2.ReportVerificationRequest(
            request_id="x5", product_id=product_id, verification=verification),
         grpc.StatusCode.PERMISSION_DENIED, "node 'n-ly-1' is not in the data domain"),
        ("review-unverified", "ReviewProduct", catalog_pb2.ReviewProductRequest(
            request_id="x6", product_id=product_id, approve=True),
         grpc.StatusCode.FAILED_PRECONDITION, "only a product under review can be reviewed"),
        ("delist-unknown", "DelistProduct", catalog_pb2.DelistProductRequest(request_id="x7", product_id="prd-nope"),
         grpc.StatusCode.NOT_FOUND, "product 'prd-nope' not found"),
        ("price-above-cap", "UpdateProductPrice", catalog_pb2.UpdateProductPriceRequest(
            request_id="x8", product_id=product_id, pricing=catalog_pb2.Pricing(
                unit=1, unit_price_fen=90, guided_cap_fen=80, basis=spec.pricing.basis)),
         grpc.StatusCode.INVALID_ARGUMENT, "pricing.unit_price_fen is 90 fen, above the guided cap"),
        ("price-basis-negative-cost", "UpdateProductPrice", catalog_pb2.UpdateProductPriceRequest(
            request_id="x9", product_id=product_id, pricing=catalog_pb2.Pricing(
                unit=1, unit_price_fen=50, basis=catalog_pb2.PriceBasis(cost=catalog_pb2.CostBasis(
                    collection_cost_fen=100, processing_cost_fen=-1, expected_units=10)))),
         grpc.StatusCode.INVALID_ARGUMENT, "pricing.basis.cost.processing_cost_fen is -1; expected 0 to"),
    ]


def test_refused_requests_change_nothing_stored(plane, tmp_path):
    spec = make_spec(write_parquet(tmp_path / "c.parquet", 10), 10, node_id="n-zz-2")
    with plane.client() as client:
        product = register(client, spec)
        client.negative_list.AddEntry(nl_pb2.NegativeListServiceAddEntryRequest(
            request_id="nl-1", entry=nl_pb2.NegativeListEntry(column_tag="biometric",
                                                               reason="biometric data may not be traded")), timeout=5)
        before = _catalog_state(plane.redis_url)
        for name, rpc, request, code, message in _refusals(product.product_id, spec):
            with pytest.raises(grpc.RpcError) as err:
                getattr(client.catalog, rpc)(request, timeout=5)
            assert (err.value.code(), name) == (code, name)
            assert message in err.value.details(), name
        assert _catalog_state(plane.redis_url) == before


def test_negative_list_entry_refuses_products_until_removed(plane, tmp_path):
    spec = make_spec(write_parquet(tmp_path / "c.parquet", 10), 10, node_id="n-zz-2")
    spec.allowed_job_kinds.append(common_pb2.JOB_KIND_CUSTOM)
    with plane.client() as client:
        entry = client.negative_list.AddEntry(nl_pb2.NegativeListServiceAddEntryRequest(
            request_id="nl-1", entry=nl_pb2.NegativeListEntry(
                column_tag="health", job_kind=common_pb2.JOB_KIND_CUSTOM, reason="no custom code on health data",
                legal_basis="PIPL art. 28")), timeout=5).entry
        with pytest.raises(grpc.RpcError) as err:
            register(client, spec, "reg-a")
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert err.value.details() == (f"negative-list entry {entry.entry_id} forbids column tag 'health' with job kind "
                                       "custom: no custom code on health data; legal basis: PIPL art. 28")
        listed = client.negative_list.ListEntries(nl_pb2.NegativeListServiceListEntriesRequest(), timeout=5)
        assert [e.entry_id for e in listed.entries] == [entry.entry_id]
        client.negative_list.RemoveEntry(nl_pb2.NegativeListServiceRemoveEntryRequest(
            request_id="nl-2", entry_id=entry.entry_id), timeout=5)
        assert register(client, spec, "reg-b").state == catalog_pb2.PRODUCT_STATE_REGISTERED
        with pytest.raises(grpc.RpcError) as err:
            client.negative_list.RemoveEntry(nl_pb2.NegativeListServiceRemoveEntryRequest(
                request_id="nl-3", entry_id=entry.entry_id), timeout=5)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_price_updates_add_versions_and_keep_the_old_ones(plane, tmp_path):
    spec = make_spec(write_parquet(tmp_path / "c.parquet", 10), 10, node_id="n-zz-2")
    with plane.client() as client:
        product = register(client, spec)
        for i, price_fen in enumerate((600, 700)):
            pricing = catalog_pb2.Pricing()
            pricing.CopyFrom(product.spec.pricing)
            pricing.unit_price_fen = price_fen
            product = client.catalog.UpdateProductPrice(catalog_pb2.UpdateProductPriceRequest(
                request_id=f"p-{i}", product_id=product.product_id, pricing=pricing), timeout=5).product
        assert (product.spec.pricing.price_version, product.spec.pricing.unit_price_fen) == (3, 700)
        assert [get(client, product.product_id, v).spec.pricing.unit_price_fen for v in (1, 2, 3, 0)] == [500, 600, 700, 700]
        with pytest.raises(grpc.RpcError) as err:
            get(client, product.product_id, 4)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND and "expected 1 to 3" in err.value.details()

    async def read_store():
        client = aioredis.Redis.from_url(plane.redis_url)
        try:
            store = ProductStore(client)
            return (await store.get_pricing(product.product_id, 1), await store.get_pricing(product.product_id),
                    await store.price_versions(product.product_id))
        finally:
            await client.aclose()

    first, in_force, versions = asyncio.run(read_store())
    assert (first.price_version, first.unit_price_fen, in_force.unit_price_fen) == (1, 500, 700)
    assert [v.price_version for v in versions] == [1, 2, 3]


def test_list_products_filters_and_pages(plane, tmp_path):
    with plane.client() as client:
        ids = []
        for i in range(5):
            spec = make_spec(write_parquet(tmp_path / f"c{i}.parquet", 10), 10, node_id="n-zz-2")
            spec.holder_id = "holder-a" if i % 2 else "holder-b"
            ids.append(register(client, spec, f"reg-{i}").product_id)
        pages, token = [], ""
        while True:
            page = client.catalog.ListProducts(catalog_pb2.ListProductsRequest(page_size=2, page_token=token), timeout=5)
            pages.append([p.product_id for p in page.products])
            token = page.next_page_token
            if not token:
                break
        assert [len(p) for p in pages] == [2, 2, 1] and sum(pages, []) == sorted(ids)
        held = client.catalog.ListProducts(catalog_pb2.ListProductsRequest(holder_id="holder-a"), timeout=5)
        assert held.total == 2 and {p.spec.holder_id for p in held.products} == {"holder-a"}
        listed = client.catalog.ListProducts(catalog_pb2.ListProductsRequest(states=[LISTED]), timeout=5)
        assert listed.total == 0


def shuniu(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shuniu.cli", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "200"})


def test_cli_round_trip(plane, tmp_path):
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json_format.MessageToJson(make_spec(write_parquet(tmp_path / "c.parquet", 10), 10, "n-zz-2")))
    addr = ["--addr", plane.address]
    registered = shuniu("products", "register", str(spec_file), "--json", *addr)
    assert registered.returncode == 0, registered.stderr
    product_id = json.loads(registered.stdout)["product_id"]

    listing = shuniu("products", "ls", "--state", "registered", "--holder", "henan-hs", "--json", *addr)
    assert [p["product_id"] for p in json.loads(listing.stdout)["products"]] == [product_id]
    assert product_id in shuniu("products", "ls", "--grade", "internal", *addr).stdout
    priced = shuniu("products", "price", product_id, "--price-fen", "650", "--json", *addr)
    assert json.loads(priced.stdout)["spec"]["pricing"]["price_version"] == "2", priced.stderr
    shown = json.loads(shuniu("products", "show", product_id, "--price-version", "1", "--json", *addr).stdout)
    assert shown["spec"]["pricing"]["unit_price_fen"] == "500"
    # The human view states the price basis too; `products price` keeps the basis in force.
    assert "price basis: negotiated: agreement_ref A-1, party_ids henan-hs+exchange" in \
        shuniu("products", "show", product_id, *addr).stdout
    assert shuniu("products", "delist", product_id, "--reason", "withdrawn", *addr).returncode == 0
    assert "delisted: withdrawn" in shuniu("products", "show", product_id, *addr).stdout

    added = shuniu("negative-list", "add", "--column-tag", "genetic", "--reason", "no genetic data", "--json", *addr)
    entry_id = json.loads(added.stdout)["entry_id"]
    assert entry_id in shuniu("negative-list", "ls", *addr).stdout
    assert shuniu("negative-list", "rm", entry_id, *addr).returncode == 0
    assert json.loads(shuniu("negative-list", "ls", "--json", *addr).stdout)["total"] == 0


@pytest.mark.parametrize(("args", "message"), [
    (["products", "register", "{spec}"], "is not a valid ProductSpec as JSON"),
    (["products", "register", "/nonexistent/spec.json"], "cannot read /nonexistent/spec.json"),
    (["products", "show", "prd-nope"], "NOT_FOUND: product 'prd-nope' not found"),
    (["products", "ls", "--grade", "secret"], "grade 'secret' unknown; expected one of public, internal"),
    (["products", "review", "prd-nope", "--approve"], "NOT_FOUND"),
    (["negative-list", "add", "--reason", "x"], "INVALID_ARGUMENT: entry sets nothing to match"),
    (["negative-list", "add", "--job-kind", "mining", "--reason", "x"], "job kind 'mining' unknown"),
], ids=["malformed-spec", "missing-file", "unknown-product", "unknown-grade", "review-unknown", "empty-entry",
        "unknown-kind"])
def test_cli_refusals_print_an_error_and_exit_non_zero(plane, tmp_path, args, message):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"holder_id": "h", "grade": "CLASSIFICATION_GRADE_SECRET"}))
    result = shuniu(*[a.replace("{spec}", str(bad)) for a in args], "--addr", plane.address)
    assert result.returncode != 0
    assert "error:" in result.stderr and message in " ".join(result.stderr.split())


def test_stack_seed_products_reach_their_states_through_the_simulated_fleets_verifier(control_plane, tmp_path, eventually):
    plan = FleetPlan(count=20, mix={common_pb2.COMPUTE_CLASS_GENERAL: 1}, seed=7)
    holder: dict = {}

    async def fleet() -> None:
        holder["loop"], holder["stop"] = asyncio.get_running_loop(), asyncio.Event()
        await run_fleet(control_plane.address, plan, holder["stop"], verify_products_every_s=0.2)

    thread = threading.Thread(target=lambda: asyncio.run(fleet()), daemon=True)
    thread.start()
    try:
        with control_plane.client() as client:
            lines = seed_stack(client, tmp_path, plan.specs(), wait_s=20)
            assert lines[0] == "negative list: 3 default entries added" and len(lines) == 5, lines
            assert lines[-1].startswith("analysis 'claims by city and age band': approved as an-"), lines

            def verified() -> dict[str, int] | None:
                products = client.catalog.ListProducts(catalog_pb2.ListProductsRequest(), timeout=5).products
                states = {p.spec.name: p.state for p in products}
                return states if catalog_pb2.PRODUCT_STATE_REGISTERED not in states.values() else None

            states = eventually(verified, timeout_s=20, what="seed products verified")
            # A second `shuniu up` registers nothing again.
            again = seed_stack(client, tmp_path, plan.specs())
            assert all("already in the catalog as prd-" in line for line in again[1:-1]), again
            assert again[-1].startswith("analysis 'claims by city and age band': already approved as an-"), again
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(15)
    assert states == {"Enterprise electricity use by city, 2025": LISTED, "Intercity logistics waybills, 2025": LISTED,
                      "Medical-insurance claims, 2025": UNDER_REVIEW}
