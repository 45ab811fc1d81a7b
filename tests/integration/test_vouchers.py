"""Compute vouchers (算力券) through real gRPC, a real biller and real Redis: issue, draw once, lapse, cap, statements."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import grpc
import pyarrow as pa
import pytest
import redis
from conftest import stored_state
from shuniu.market.billing import Biller, BillerConfig
from shuniu.market.ledger import LedgerStore
from shuniu.market.ledger.lines import read_lines
from shuniu.nodes.usage import UsageSpool, stream_fields
from shuniu.protos.usage_schema import USAGE_STREAM
from shuniu.protos.v1 import common_pb2, ledger_pb2, settlement_pb2

from shuniu.bench.billing import seed_market, synthetic_usage

L = ledger_pb2


def shuniu(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shuniu.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})


@pytest.fixture
def market(redis_url, tmp_path, monkeypatch, control_plane_factory):
    monkeypatch.setenv("SHUNIU_STATE_DIR", str(tmp_path / "state"))
    client = redis.Redis.from_url(redis_url)
    yield control_plane_factory(), client, seed_market(client)
    client.close()


def _issue(rpc, org: str, amount_fen: int, until_ms: int, classes=(), sites=(), programme="henan-2026"):
    spec = L.VoucherSpec(org_id=org, amount_fen=amount_fen, valid_until_unix_ms=until_ms, eligible_compute_classes=classes,
                         eligible_sites=sites, programme=programme)
    return rpc.vouchers.IssueVoucher(L.IssueVoucherRequest(request_id=f"issue-{org}-{amount_fen}-{until_ms}", spec=spec),
                                     timeout=rpc.timeout_s).voucher


def _bill_entry(client, fields) -> dict[str, int]:
    client.xadd(USAGE_STREAM, fields)
    biller = Biller(client, BillerConfig(block_ms=0))
    biller.ensure_group()
    while biller.step(block_ms=0):
        pass
    return biller.outcomes


def _compute_fen_of(client, batch_id: str, buyer: str) -> int:
    lines = read_lines(LedgerStore(client).lines(batch_id)).to_pydict()
    return sum(f for b, f in zip(lines["buyer_id"], lines["compute_fen"]) if b == buyer)


def test_vouchers_pay_compute_first_once_and_lapse_and_show_on_statements(market, redis_url, tmp_path):
    plane, client, m = market
    node = m.nodes[0]  # general compute at zhengzhou
    now_ms = int(time.time() * 1000)
    with plane.client() as rpc:
        for org in ("buyer-0", "buyer-1"):
            rpc.vouchers.SetVoucherCap(L.SetVoucherCapRequest(request_id=f"cap-{org}", org_id=org, cap_fen=10**7),
                                       timeout=rpc.timeout_s)
        small = _issue(rpc, "buyer-0", 2_000, now_ms + 3_600_000, classes=[common_pb2.COMPUTE_CLASS_GENERAL])
        hpc_only = _issue(rpc, "buyer-0", 7_000, now_ms + 3_600_000, classes=[common_pb2.COMPUTE_CLASS_HPC])
        luoyang_only = _issue(rpc, "buyer-0", 9_000, now_ms + 3_600_000, sites=["luoyang"])
        short = _issue(rpc, "buyer-1", 8_000, now_ms + 1_000)
        assert small.state == L.VOUCHER_STATE_ACTIVE and small.remaining_fen == 2_000 and small.spec.valid_from_unix_ms >= now_ms

        # Over the cap: refused with the numbers, nothing stored changes.
        before = stored_state(redis_url)
        with pytest.raises(grpc.RpcError) as refused:
            _issue(rpc, "buyer-0", 10**7, now_ms + 3_600_000)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "cap 10000000 fen, outstanding 18000 fen, asked 10000000 fen; at most 9982000 fen" in refused.value.details()
        assert stored_state(redis_url) == before

        time.sleep(max(0.0, (now_ms + 1_100 - time.time() * 1000) / 1000))  # the short voucher expires unused
        spool = UsageSpool(tmp_path / "spool", node)
        batch_id = spool.append(synthetic_usage(m, node, 400, seed=1))
        data = next(spool.pending()).read()
        fields = stream_fields(batch_id, node, data, 400, 0, m.keys[node])
        assert _bill_entry(client, fields) == {"posted": 1}
        due = _compute_fen_of(client, batch_id, "buyer-0")
        assert due > 2_000, "the test needs a compute charge larger than the small voucher"
        assert _compute_fen_of(client, batch_id, "buyer-1") > 0

        drawn = [p for p in rpc.ledger.ListPostings(L.ListPostingsRequest(batch_id=batch_id, page_size=1000),
                                                    timeout=rpc.timeout_s).postings if p.kind == L.POSTING_KIND_VOUCHER]
        assert [(p.voucher_id, p.debit_account_id, p.credit_account_id, p.amount_fen) for p in drawn] == \
            [(small.voucher_id, "subsidy:henan-2026", "buyer:buyer-0", 2_000)]

        # The same batch delivered again: the biller finds it posted; no voucher draws twice.
        assert _bill_entry(client, fields) == {"duplicate": 1}
        listed = rpc.vouchers.ListVouchers(L.ListVouchersRequest(org_id="buyer-0"), timeout=rpc.timeout_s)
        states = {v.voucher_id: (v.state, v.used_fen, v.remaining_fen) for v in listed.vouchers}
        assert states == {small.voucher_id: (L.VOUCHER_STATE_EXHAUSTED, 2_000, 0),
                          hpc_only.voucher_id: (L.VOUCHER_STATE_ACTIVE, 0, 7_000),
                          luoyang_only.voucher_id: (L.VOUCHER_STATE_ACTIVE, 0, 9_000)}
        assert (listed.cap_fen, listed.outstanding_fen) == (10**7, 16_000)
        lapsed = rpc.vouchers.ListVouchers(L.ListVouchersRequest(states=[L.VOUCHER_STATE_LAPSED]), timeout=rpc.timeout_s)
        assert [(v.voucher_id, v.remaining_fen) for v in lapsed.vouchers] == [(short.voucher_id, 8_000)]

        balance = rpc.ledger.GetBalance(L.GetBalanceRequest(account_id="buyer:buyer-0"), timeout=rpc.timeout_s)
        assert balance.voucher_available_fen == 16_000
        assert rpc.ledger.GetBalance(L.GetBalanceRequest(account_id="subsidy:henan-2026"),
                                     timeout=rpc.timeout_s).account.balance_fen == -2_000
        assert rpc.ledger.CheckLedger(L.CheckLedgerRequest(), timeout=rpc.timeout_s).ok

        closed = rpc.settlement.ClosePeriod(settlement_pb2.ClosePeriodRequest(request_id="close-nov", period="2026-11"),
                                            timeout=60)
    statements = {s.account_id: s for s in closed.statements}
    assert statements["buyer:buyer-0"].voucher_used_fen == 2_000
    assert statements["subsidy:henan-2026"].voucher_used_fen == 2_000
    assert statements["subsidy:henan-2026"].charges_fen == 2_000
    assert statements["buyer:buyer-1"].voucher_used_fen == 0
    assert "| voucher |" in statements["buyer:buyer-0"].summary

    listing = shuniu("vouchers", "list", "--org", "buyer-0", "--addr", plane.address)
    assert listing.returncode == 0, listing.stderr
    assert "exhausted" in listing.stdout and "cap 100,000.00 ¥, outstanding 160.00 ¥" in listing.stdout
    over = shuniu("vouchers", "issue", "--org", "buyer-1", "--amount-fen", str(10**8), "--valid-until", "+30d",
                  "--addr", plane.address)
    assert over.returncode != 0 and "error:" in over.stderr and "RESOURCE_EXHAUSTED" in over.stderr


def test_the_posting_script_refuses_a_stale_or_expired_voucher_before_any_write(redis_url, tmp_path):
    from shuniu.market.billing import PriceSource, charge_batch, prepare_usage
    from shuniu.market.vouchers import HeldVoucher
    from shuniu.market.vouchers.store import REMAINING_KEY

    client = redis.Redis.from_url(redis_url)
    m = seed_market(client)
    batch = synthetic_usage(m, m.nodes[0], 200, seed=3)
    book = PriceSource(client).book_for(batch)
    prepared = prepare_usage("b-stale", batch, book)
    now_ms = int(time.time() * 1000)

    def posting(until_ms: int):
        voucher = HeldVoucher("v-1", "buyer-0", 500, now_ms - 1, until_ms)
        return charge_batch(prepared, book, [0] * len(prepared.volume_fields), set(), m.nodes[0], [voucher], now_ms)

    store = LedgerStore(client)
    client.hset(REMAINING_KEY, "v-1", 499)  # another batch drew one fen since the voucher was read
    before = stored_state(redis_url)
    assert store.post(posting(now_ms + 60_000)).status == "stale_voucher"
    assert stored_state(redis_url) == before
    client.hset(REMAINING_KEY, "v-1", 500)
    before = stored_state(redis_url)
    assert store.post(posting(now_ms + 1)).status == "stale_voucher"  # expired by the time it is posted
    assert stored_state(redis_url) == before
    assert store.post(posting(now_ms + 60_000)).status == "posted"
    assert client.hget(REMAINING_KEY, "v-1") == b"0"
    assert store.check().ok
    client.close()



_HOUR_MS = 3_600_000
BAD_ISSUES = [  # (id, spec fields relative to now, cap set first, status, words of the message)
    ("expired", {"valid_until_unix_ms": -_HOUR_MS}, True, grpc.StatusCode.INVALID_ARGUMENT, "has passed"),
    ("ends-before-it-starts", {"valid_from_unix_ms": 3 * _HOUR_MS, "valid_until_unix_ms": 2 * _HOUR_MS}, True,
     grpc.StatusCode.INVALID_ARGUMENT, "must be after valid_from_unix_ms"),
    ("over-cap", {"amount_fen": 50_001}, True, grpc.StatusCode.RESOURCE_EXHAUSTED,
     "voucher cap exceeded for org 'org-over-cap': cap 50000 fen, outstanding 0 fen, asked 50001 fen; at most 50000 fen"),
    ("no-cap", {}, False, grpc.StatusCode.FAILED_PRECONDITION, "has no voucher cap; set one first"),
    ("zero", {"amount_fen": 0}, True, grpc.StatusCode.INVALID_ARGUMENT, "spec.amount_fen 0 out of range"),
    ("unknown-class", {"eligible_compute_classes": [9]}, True, grpc.StatusCode.INVALID_ARGUMENT,
     "spec.eligible_compute_classes has 9, unknown"),
    ("unknown-site", {"eligible_sites": ["atlantis"]}, True, grpc.StatusCode.INVALID_ARGUMENT, "atlantis"),
]


def test_a_voucher_expired_over_its_cap_or_malformed_is_refused_naming_the_rule_and_nothing_is_stored(
        redis_url, control_plane_factory):
    plane = control_plane_factory()
    with plane.client() as rpc:
        for case, fields, capped, code, words in BAD_ISSUES:
            org = f"org-{case}"
            if capped:
                rpc.vouchers.SetVoucherCap(L.SetVoucherCapRequest(request_id=f"cap-{org}", org_id=org, cap_fen=50_000),
                                           timeout=rpc.timeout_s)
            now_ms = int(time.time() * 1000)
            spec = {"org_id": org, "amount_fen": 1_000, "valid_until_unix_ms": _HOUR_MS, **fields}
            for name in ("valid_from_unix_ms", "valid_until_unix_ms"):  # relative to now, as `--valid-until +1h` is
                if spec.get(name):
                    spec[name] += now_ms
            before = stored_state(redis_url)
            with pytest.raises(grpc.RpcError) as refused:
                rpc.vouchers.IssueVoucher(L.IssueVoucherRequest(request_id=f"bad-{org}", spec=L.VoucherSpec(**spec)),
                                          timeout=rpc.timeout_s)
            assert (case, refused.value.code()) == (case, code)
            assert words in refused.value.details(), (case, refused.value.details())
            assert stored_state(redis_url) == before, case
            listed = rpc.vouchers.ListVouchers(L.ListVouchersRequest(org_id=org), timeout=rpc.timeout_s)
            assert (case, list(listed.vouchers), listed.outstanding_fen) == (case, [], 0)
