"""GrantService over real gRPC against a real control plane and Redis; GrantStore's admission under concurrency."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time

import grpc
import pytest
import redis
import redis.asyncio as aioredis

from conftest import stored_state

from shuniu.market.catalog import queue_product_write
from shuniu.market.grants import GRANT_EVENTS_KEY, Ask, GrantStore, GrantUse
from shuniu.protos.v1 import catalog_pb2, common_pb2, grants_pb2, negative_list_pb2

DAY_MS = 86_400_000
PUBLIC, INTERNAL, SENSITIVE, CORE = (common_pb2.CLASSIFICATION_GRADE_PUBLIC, common_pb2.CLASSIFICATION_GRADE_INTERNAL,
                                     common_pb2.CLASSIFICATION_GRADE_SENSITIVE, common_pb2.CLASSIFICATION_GRADE_CORE)
AGGREGATE, VERIFY = common_pb2.JOB_KIND_AGGREGATE, common_pb2.JOB_KIND_VERIFY
APPROVED, PENDING = grants_pb2.GRANT_STATE_APPROVED, grants_pb2.GRANT_STATE_PENDING
OPERATOR = (("shuniu-operator", "ops-wang"),)


def now_ms() -> int:
    return int(time.time() * 1000)


def listed_product(product_id: str, grade: int, price_version: int = 1) -> catalog_pb2.Product:
    schema = [catalog_pb2.Column(name="city", arrow_type="string"),
              catalog_pb2.Column(name="kwh", arrow_type="double"),
              catalog_pb2.Column(name="id_no", arrow_type="string", tags=["id_card_number"])]
    return catalog_pb2.Product(
        product_id=product_id, state=catalog_pb2.PRODUCT_STATE_LISTED,
        spec=catalog_pb2.ProductSpec(holder_id="holder-grid", name=product_id, grade=grade, schema=schema,
                                     allowed_purposes=["credit"], allowed_job_kinds=[AGGREGATE, VERIFY],
                                     pricing=catalog_pb2.Pricing(unit=catalog_pb2.PRICING_UNIT_PER_ROW,
                                                                 unit_price_fen=2, price_version=price_version)))


@pytest.fixture
def market(control_plane, redis_url):
    """A control plane with listed products of every grade, written through the catalog's store."""
    client = redis.Redis.from_url(redis_url)
    with client.pipeline() as pipe:
        for product in (listed_product("p-power", PUBLIC, price_version=3), listed_product("p-post", INTERNAL),
                        listed_product("p-claims", SENSITIVE), listed_product("p-ids", CORE)):
            queue_product_write(pipe, product, new_price=True)
        pipe.execute()
    client.close()
    return control_plane


def spec(product_id: str = "p-power", columns=("city", "kwh"), **overrides) -> grants_pb2.GrantSpec:
    fields = dict(buyer_id="bank-luoyang", scenario="SME credit scoring, Luoyang", purpose="credit",
                  purpose_category=common_pb2.PURPOSE_CATEGORY_COMMERCIAL, job_kinds=[AGGREGATE],
                  products=[common_pb2.ProductColumns(product_id=product_id, columns=list(columns))],
                  expires_unix_ms=now_ms() + 30 * DAY_MS,
                  limits=grants_pb2.GrantLimits(max_rows=100_000, max_calls=100, max_budget_fen=10_000))
    fields.update(overrides)
    return grants_pb2.GrantSpec(**fields)


def apply(client, request_id: str = "apply-1", **spec_fields) -> grants_pb2.Grant:
    request = grants_pb2.ApplyGrantRequest(request_id=request_id, spec=spec(**spec_fields))
    return client.grants.ApplyGrant(request, timeout=5).grant


def apply_request(client, request: grants_pb2.ApplyGrantRequest) -> grants_pb2.Grant:
    return client.grants.ApplyGrant(request, timeout=5).grant


def with_store(redis_url: str, use):
    """Runs `await use(store)` on a GrantStore of its own connection pool."""
    async def main():
        client = aioredis.Redis.from_url(redis_url)
        try:
            return await use(GrantStore(client))
        finally:
            await client.aclose()
    return asyncio.run(main())


def consume(store: GrantStore, grant_id: str, rows: int = 0, calls: int = 1, columns=("city",)):
    return store.consume(grant_id, kind=AGGREGATE, product_columns={"p-power": list(columns)}, rows=rows, calls=calls,
                         spent_fen=0, dp_epsilon_milli=0, now_ms=now_ms())


# -- apply, decide, read ---------------------------------------------------------------------

def test_public_grant_is_approved_at_once_with_the_prices_in_force(market):
    with market.client() as client:
        grant = apply(client)
        assert (grant.state, grant.approval_mode, grant.state_reason) == (APPROVED, grants_pb2.APPROVAL_MODE_AUTO,
                                                                          "auto:public")
        assert [(p.product_id, p.price_version) for p in grant.product_prices] == [("p-power", 3)]
        read = client.grants.GetGrant(grants_pb2.GetGrantRequest(grant_id=grant.grant_id), timeout=5).grant
        assert read.spec == grant.spec and read.request_id == "apply-1"


def test_apply_is_idempotent_by_request_id(market, redis_url):
    request = grants_pb2.ApplyGrantRequest(request_id="apply-1", spec=spec())
    with market.client() as client:
        first = apply_request(client, request)
        again = apply_request(client, request)
        assert again == first
        listing = client.grants.ListGrants(grants_pb2.ListGrantsRequest(buyer_id="bank-luoyang"), timeout=5)
        assert listing.total == 1
        before = stored_state(redis_url)
        request.spec.scenario = "another scenario"
        with pytest.raises(grpc.RpcError) as err:
            apply_request(client, request)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "already used for a different request" in err.value.details()
        assert stored_state(redis_url) == before


def test_sensitive_grant_waits_for_an_operator_then_is_approved(market):
    with market.client() as client:
        grant = apply(client, product_id="p-claims")
        assert (grant.state, grant.state_reason) == (PENDING, "needs_operator:grade_sensitive")
        assert not grant.product_prices
        request = grants_pb2.ApproveGrantRequest(request_id="approve-1", grant_id=grant.grant_id, note="contract ok")
        approved = client.grants.ApproveGrant(request, timeout=5, metadata=OPERATOR).grant
        assert (approved.state, approved.decided_by) == (APPROVED, "ops-wang")
        assert approved.state_reason == "operator_approved: contract ok"
        assert [(p.product_id, p.price_version) for p in approved.product_prices] == [("p-claims", 1)]
        replay = client.grants.ApproveGrant(request, timeout=5, metadata=OPERATOR).grant
        assert replay == approved
        with pytest.raises(grpc.RpcError) as err:
            client.grants.ApproveGrant(grants_pb2.ApproveGrantRequest(request_id="approve-2", grant_id=grant.grant_id),
                                       timeout=5)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert f"grant {grant.grant_id} is APPROVED" in err.value.details()


def test_internal_grant_over_the_auto_ceiling_waits_and_can_be_rejected(market):
    with market.client() as client:
        grant = apply(client, product_id="p-post", limits=grants_pb2.GrantLimits(max_rows=10**9, max_calls=5,
                                                                                  max_budget_fen=5))
        assert (grant.state, grant.state_reason) == (PENDING, "needs_operator:internal_max_rows")
        rejected = client.grants.RejectGrant(grants_pb2.RejectGrantRequest(
            request_id="reject-1", grant_id=grant.grant_id, reason="too many rows"), timeout=5).grant
        assert (rejected.state, rejected.state_reason) == (grants_pb2.GRANT_STATE_REJECTED,
                                                           "operator_rejected: too many rows")


def _add_entry(client, **fields) -> str:
    entry = negative_list_pb2.NegativeListEntry(reason="identity numbers are not traded", **fields)
    return client.negative_list.AddEntry(negative_list_pb2.NegativeListServiceAddEntryRequest(
        request_id=f"nl-{fields}", entry=entry), timeout=5).entry.entry_id


REFUSALS = [
    ("unknown-product", lambda c: apply(c, product_id="p-nope"), grpc.StatusCode.NOT_FOUND,
     "product 'p-nope' not found"),
    ("unknown-column", lambda c: apply(c, columns=("city", "salary")), grpc.StatusCode.INVALID_ARGUMENT,
     "product 'p-power' has no column 'salary'"),
    ("purpose", lambda c: apply(c, purpose="marketing"), grpc.StatusCode.INVALID_ARGUMENT,
     "purpose 'marketing' not allowed by product 'p-power'; expected one of credit"),
    ("expired", lambda c: apply(c, expires_unix_ms=now_ms() - 1), grpc.StatusCode.INVALID_ARGUMENT,
     "expires_unix_ms"),
    ("core-aggregate", lambda c: apply(c, product_id="p-ids"), grpc.StatusCode.INVALID_ARGUMENT,
     "core data"),
    ("kind-unknown", lambda c: apply(c, job_kinds=[7]), grpc.StatusCode.INVALID_ARGUMENT, "job_kinds has 7"),
    ("approve-unknown", lambda c: c.grants.ApproveGrant(
        grants_pb2.ApproveGrantRequest(request_id="a-x", grant_id="g-nope"), timeout=5),
     grpc.StatusCode.NOT_FOUND, "grant 'g-nope' not found"),
    ("get-unknown", lambda c: c.grants.GetGrant(grants_pb2.GetGrantRequest(grant_id="g-nope"), timeout=5),
     grpc.StatusCode.NOT_FOUND, "grant 'g-nope' not found"),
    ("list-bad-state", lambda c: c.grants.ListGrants(grants_pb2.ListGrantsRequest(states=[9]), timeout=5),
     grpc.StatusCode.INVALID_ARGUMENT, "states has 9"),
    ("no-request-id", lambda c: apply(c, request_id=""), grpc.StatusCode.INVALID_ARGUMENT, "request_id is empty"),
]


@pytest.mark.parametrize(("call", "code", "message"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS])
def test_refused_request_names_the_rule_and_changes_nothing(market, redis_url, call, code, message):
    with market.client() as client:
        apply(client, request_id="seed")
        before = stored_state(redis_url)
        with pytest.raises(grpc.RpcError) as err:
            call(client)
        assert err.value.code() == code
        assert message in err.value.details()
        assert stored_state(redis_url) == before


def test_negative_list_refuses_application_and_later_approval(market, redis_url):
    with market.client() as client:
        pending = apply(client, request_id="before-entry", product_id="p-claims", columns=("city", "id_no"))
        entry_id = _add_entry(client, column_tag="id_card_number")
        before = stored_state(redis_url)
        with pytest.raises(grpc.RpcError) as err:
            apply(client, request_id="after-entry", columns=("city", "id_no"))
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert f"negative-list entry {entry_id}" in err.value.details()
        with pytest.raises(grpc.RpcError) as err:
            client.grants.ApproveGrant(grants_pb2.ApproveGrantRequest(request_id="ap", grant_id=pending.grant_id),
                                       timeout=5)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and entry_id in err.value.details()
        assert stored_state(redis_url) == before


def test_reject_and_revoke_need_the_right_state_and_a_reason(market, redis_url):
    with market.client() as client:
        pending = apply(client, product_id="p-claims")
        before = stored_state(redis_url)
        for call, code, message in [
            (lambda: client.grants.RevokeGrant(grants_pb2.RevokeGrantRequest(
                request_id="rv", grant_id=pending.grant_id, reason="x"), timeout=5),
             grpc.StatusCode.FAILED_PRECONDITION, "is PENDING (needs_operator:grade_sensitive); only a APPROVED"),
            (lambda: client.grants.RejectGrant(grants_pb2.RejectGrantRequest(
                request_id="rj", grant_id=pending.grant_id), timeout=5),
             grpc.StatusCode.INVALID_ARGUMENT, "reason is empty"),
        ]:
            with pytest.raises(grpc.RpcError) as err:
                call()
            assert err.value.code() == code and message in err.value.details()
        assert stored_state(redis_url) == before


def test_listing_filters_by_state_and_pages_in_application_order(market):
    with market.client() as client:
        made = [apply(client, request_id=f"a{i}", product_id="p-claims" if i % 2 else "p-power") for i in range(5)]
        seen, token = [], ""
        while True:
            page = client.grants.ListGrants(grants_pb2.ListGrantsRequest(page_size=2, page_token=token), timeout=5)
            assert page.total == 5 and len(page.grants) <= 2
            seen += [g.grant_id for g in page.grants]
            token = page.next_page_token
            if not token:
                break
        assert seen == sorted(g.grant_id for g in made)
        pending = client.grants.ListGrants(grants_pb2.ListGrantsRequest(states=[PENDING]), timeout=5)
        assert {g.grant_id for g in pending.grants} == {made[1].grant_id, made[3].grant_id}
        other = client.grants.ListGrants(grants_pb2.ListGrantsRequest(buyer_id="someone-else"), timeout=5)
        assert other.total == 0


def test_grant_reads_expired_after_its_expiry_and_refuses_use(market, redis_url):
    with market.client() as client:
        grant = apply(client, expires_unix_ms=now_ms() + 800)
        time.sleep(1.0)
        read = client.grants.GetGrant(grants_pb2.GetGrantRequest(grant_id=grant.grant_id), timeout=5).grant
        assert (read.state, read.state_reason) == (grants_pb2.GRANT_STATE_EXPIRED, "expired")
    decision = with_store(redis_url, lambda store: consume(store, grant.grant_id))
    assert not decision.allowed and decision.rule == "state" and "EXPIRED" in decision.message


# -- use counting and revocation -------------------------------------------------------------

def test_revoke_lists_running_jobs_appends_the_event_and_stops_use(market, redis_url):
    with market.client() as client:
        grant = apply(client)

        async def start_jobs(store):
            return [await store.job_started(grant.grant_id, j) for j in ("job-1", "job-2", "job-3")]

        assert with_store(redis_url, start_jobs) == [True, True, True]
        with_store(redis_url, lambda store: store.job_finished(grant.grant_id, "job-2"))
        response = client.grants.RevokeGrant(grants_pb2.RevokeGrantRequest(
            request_id="revoke-1", grant_id=grant.grant_id, reason="contract ended"), timeout=5, metadata=OPERATOR)
        assert list(response.cancelled_job_ids) == ["job-1", "job-3"]
        assert response.grant.state == grants_pb2.GRANT_STATE_REVOKED and response.grant.revoked_unix_ms > 0
    events = redis.Redis.from_url(redis_url).xrange(GRANT_EVENTS_KEY)
    last = {k.decode(): v.decode() for k, v in events[-1][1].items()}
    assert (last["grant_id"], last["from"], last["to"]) == (grant.grant_id, "GRANT_STATE_APPROVED",
                                                            "GRANT_STATE_REVOKED")
    assert json.loads(last["cancel_job_ids"]) == ["job-1", "job-3"]
    assert last["reason"] == "operator_revoked: contract ended"
    assert with_store(redis_url, lambda store: store.job_started(grant.grant_id, "job-4")) is False
    decision = with_store(redis_url, lambda store: consume(store, grant.grant_id))
    assert not decision.allowed and "REVOKED" in decision.message


def test_consume_counts_use_and_refuses_scope_and_limits(market, redis_url):
    with market.client() as client:
        grant = apply(client, limits=grants_pb2.GrantLimits(max_rows=1_000, max_calls=3))

    async def uses(store):
        return [await consume(store, grant.grant_id, rows=400),
                await consume(store, grant.grant_id, rows=400),
                await consume(store, grant.grant_id, rows=400),
                await consume(store, grant.grant_id, rows=0, columns=("id_no",)),
                await store.consume(grant.grant_id, kind=VERIFY, product_columns={"p-power": []}, rows=0, calls=1,
                                    spent_fen=0, dp_epsilon_milli=0, now_ms=now_ms()),
                await consume(store, grant.grant_id, rows=200),
                await consume(store, grant.grant_id, rows=0),
                await store.get(grant.grant_id)]

    *decisions, stored = with_store(redis_url, uses)
    assert [d.allowed for d in decisions] == [True, True, False, False, False, True, False]
    assert decisions[2].message == "limit max_rows: 1,000 allowed, 800 used, 400 asked"
    assert [d.rule for d in decisions[3:5]] == ["columns", "job_kind"]
    assert decisions[6].message == "limit max_calls: 3 allowed, 3 used, 1 asked"
    assert (stored.usage.rows, stored.usage.calls) == (1_000, 3) and stored.usage.updated_unix_ms > 0


def test_concurrent_consume_from_threads_and_tasks_never_overshoots(market, redis_url):
    with market.client() as client:
        grant = apply(client, limits=grants_pb2.GrantLimits(max_rows=1_000))
    results: list[bool] = []
    lock = threading.Lock()

    async def hammer(store):
        decisions = await asyncio.gather(*(consume(store, grant.grant_id, rows=30) for _ in range(25)))
        with lock:
            results.extend(d.allowed for d in decisions)

    threads = [threading.Thread(target=with_store, args=(redis_url, hammer)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = with_store(redis_url, lambda store: store.get(grant.grant_id))
    assert len(results) == 100
    assert sum(results) == 33 and stored.usage.rows == 990 and stored.usage.calls == 33


def test_revocation_racing_job_starts_cancels_every_recorded_job(market, redis_url, eventually):
    """Either a job is recorded before the revocation and listed for cancelling, or refused after it."""
    with market.client() as client:
        grant = apply(client)
        started: dict[str, bool] = {}

        async def start_until_refused(store):
            for i in range(5000):
                started[f"job-{i}"] = ok = await store.job_started(grant.grant_id, f"job-{i}")
                if not ok:
                    return

        thread = threading.Thread(target=with_store, args=(redis_url, start_until_refused))
        thread.start()
        eventually(lambda: len(started) >= 5, what="jobs starting")
        response = client.grants.RevokeGrant(grants_pb2.RevokeGrantRequest(
            request_id="revoke-race", grant_id=grant.grant_id, reason="race"), timeout=5)
        thread.join()
    assert list(started.values())[-1] is False
    recorded = {job for job, ok in started.items() if ok}
    assert recorded == set(response.cancelled_job_ids) and len(recorded) >= 5


# -- the command line ------------------------------------------------------------------------

def shuniu(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shuniu.cli", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "200"})


def test_cli_apply_list_show_approve_revoke_round_trip(market, tmp_path):
    addr = ("--addr", market.address)
    applied = shuniu("grants", "apply", "--buyer", "bank-luoyang", "--scenario", "SME credit, Luoyang",
                     "--purpose", "credit", "--product", "p-claims:city,kwh", "--kind", "aggregate",
                     "--expires", "30d", "--max-rows", "5000", "--max-calls", "10", "--min-group-size", "10",
                     "--json", *addr)
    assert applied.returncode == 0, applied.stderr
    grant = json.loads(applied.stdout)
    assert grant["state"] == "GRANT_STATE_PENDING" and grant["spec"]["egress"]["min_group_size"] == 10
    approved = shuniu("grants", "approve", grant["grant_id"], "--note", "ok", "--operator", "ops-li", *addr)
    assert approved.returncode == 0 and "approved" in approved.stdout, approved.stderr
    listing = shuniu("grants", "ls", "--state", "approved", "--json", *addr)
    assert [g["grant_id"] for g in json.loads(listing.stdout)["grants"]] == [grant["grant_id"]]
    table = shuniu("grants", "ls", "--buyer", "bank-luoyang", *addr)
    assert grant["grant_id"] in table.stdout and "0/5,000" in table.stdout
    shown = json.loads(shuniu("grants", "show", grant["grant_id"], *addr).stdout)
    assert shown["decided_by"] == "ops-li"
    revoked = shuniu("grants", "revoke", grant["grant_id"], "--reason", "audit finding", *addr)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout and "jobs to cancel: none" in revoked.stdout
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps({"buyer_id": "city-planning", "scenario": "Load map", "purpose": "credit",
                                     "purpose_category": "public_governance", "job_kinds": ["aggregate"],
                                     "products": [{"product_id": "p-power", "columns": ["city"]}],
                                     "expires": "7d"}))
    from_file = shuniu("grants", "apply", "--spec", str(spec_file), *addr)
    assert from_file.returncode == 0 and "approved (auto:public)" in from_file.stdout, from_file.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["grants", "apply", "--buyer", "b", "--scenario", "s", "--purpose", "credit", "--product", "p-power:city",
      "--kind", "aggregate", "--expires", "soon"], "expires 'soon' unreadable"),
    (["grants", "apply", "--buyer", "b", "--scenario", "s", "--purpose", "credit", "--product", "p-nope:city",
      "--kind", "aggregate"], "NOT_FOUND: product 'p-nope' not found"),
    (["grants", "apply", "--product", "p-power", "--kind", "aggregate"], "expected ID:col1,col2"),
    (["grants", "apply", "--product", "p-power:city", "--kind", "mining"], "--kind 'mining' unknown"),
    (["grants", "ls", "--state", "lost"], "--state 'lost' unknown"),
    (["grants", "revoke", "g-nope", "--reason", "x"], "NOT_FOUND: grant 'g-nope' not found"),
], ids=["expiry", "unknown-product", "product-without-columns", "unknown-kind", "unknown-state", "revoke-unknown"])
def test_cli_bad_input_exits_nonzero_with_a_clear_message(market, args, message):
    result = shuniu(*args, "--addr", market.address)
    assert result.returncode != 0
    assert message in " ".join(result.stderr.split())


def test_consume_many_counts_in_order_and_reads_a_stale_record_again(market, redis_url):
    with market.client() as client:
        grant = apply(client, limits=grants_pb2.GrantLimits(max_rows=10_000, max_calls=3))
    async def uses(store):
        stale = grant.SerializeToString()  # not the bytes stored: the store must read the record again
        asks = [GrantUse(grant.grant_id, AGGREGATE, {"p-power": []}, Ask(rows=10, calls=1), now_ms(), f"job-{i}")
                for i in range(5)]
        return await store.consume_many(asks, {grant.grant_id: stale}), await store.get(grant.grant_id)

    decisions, stored = with_store(redis_url, uses)
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert decisions[3].rule == "limit:max_calls" and "3 used" in decisions[3].message
    assert (stored.usage.calls, stored.usage.rows) == (3, 30)


def test_consume_with_a_use_id_counts_once(market, redis_url):
    with market.client() as client:
        grant = apply(client, limits=grants_pb2.GrantLimits(max_rows=1_000, max_calls=3))

    async def uses(store):
        def once(use_id):
            return store.consume(grant.grant_id, kind=AGGREGATE, product_columns={"p-power": []}, rows=300, calls=1,
                                 spent_fen=0, dp_epsilon_milli=0, now_ms=now_ms(), use_id=use_id)
        return [await once("job-a"), await once("job-a"), await once("job-b"), await store.get(grant.grant_id)]

    first, retried, other, stored = with_store(redis_url, uses)
    assert first.allowed and retried.allowed and other.allowed
    assert (retried.usage.rows, retried.usage.calls) == (300, 1)
    assert (stored.usage.rows, stored.usage.calls) == (600, 2)
