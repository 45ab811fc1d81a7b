"""Each record_id billed once, whatever batch carries it (usage.proto's promise), against a real Redis and biller.

A record placed again in a new, validly signed batch, repeated within one batch, or repeated after
the biller was killed between batches is charged once; the rest of its batch is billed. Every test
compares the ledger with the reference rater over the same records taken once each (found by their
record_id strings, sharing no code with the hashes the biller keeps), to the fen.
"""

from __future__ import annotations

import asyncio
import json
import time

import pyarrow as pa
import pytest
import redis
import redis.asyncio as aioredis

from shuniu.bench.billing import NOV_2026_MS, Market, seed_market, signed_sender, synthetic_usage
from shuniu.market.billing import Biller, BillerConfig, PriceSource, reference_balances
from shuniu.market.billing.record_ids import forget_expired
from shuniu.market.ledger import BatchPosting, LedgerStore, ledger_key
from shuniu.market.ledger.store import records_key
from shuniu.monitoring import metrics
from shuniu.nodes.usage import UsageSpool, stream_fields
from shuniu.protos.usage_schema import DEAD_LETTER_STREAM, USAGE_STREAM, batch_to_ipc
from shuniu.scheduler.control_plane.audit_chainer import AuditChainer
from shuniu.scheduler.control_plane.audit_store import AuditStore
from shuniu.security import signing
from shuniu.stack import ManagedProcess

DAY_MS = 86_400_000


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def _rows(batch: pa.RecordBatch, rows: list[int]) -> pa.RecordBatch:
    return batch.take(pa.array(rows))


def _joined(*parts: pa.RecordBatch) -> pa.RecordBatch:
    return pa.Table.from_batches(parts).combine_chunks().to_batches()[0]


def _send(client, market: Market, node: str, batch: pa.RecordBatch, batch_id: str) -> None:
    """Append a batch signed by its node, as the node's sender does (a spool refuses ids repeated within a batch)."""
    client.xadd(USAGE_STREAM, stream_fields(batch_id, node, batch_to_ipc(batch, batch_id), batch.num_rows,
                                            int(time.time() * 1000), market.keys[node]))


def _drain(biller: Biller) -> None:
    biller.ensure_group()
    while biller.step(block_ms=0):
        pass


def _once(batches: dict[str, pa.RecordBatch], order: list[str]) -> list[tuple[str, pa.RecordBatch]]:
    """The batches in commit order with each record_id kept at its first appearance only."""
    seen: set[str] = set()
    out = []
    for batch_id in order:
        keep = []
        for record_id in batches[batch_id].column("record_id").to_pylist():
            keep.append(record_id not in seen)
            seen.add(record_id)
        out.append((batch_id, batches[batch_id].filter(pa.array(keep))))
    return [(b, batch) for b, batch in out if batch.num_rows]


def _assert_charged_once(client, batches: dict[str, pa.RecordBatch]) -> None:
    ledger = LedgerStore(client)
    order = ledger.batch_order()
    assert sorted(order) == sorted(batches), "every batch posted, none dead-lettered"
    assert client.xlen(DEAD_LETTER_STREAM) == 0
    expected = reference_balances(_once(batches, order), PriceSource(client))
    assert {a.account_id: a.balance_fen for a in ledger.accounts() if a.balance_fen} == expected
    check = ledger.check()
    assert check.ok and check.total_debits_fen == check.total_credits_fen > 0


@pytest.mark.parametrize("same_round", [False, True], ids=["billed-after-the-first-landed", "both-in-one-round"])
def test_a_record_placed_again_in_a_new_signed_batch_is_charged_once(client, same_round):
    market = seed_market(client)
    node = market.nodes[0]
    first = synthetic_usage(market, node, 400, seed=1)
    second = _joined(synthetic_usage(market, node, 300, seed=2), _rows(first, [0, 7, 399]))
    biller = Biller(client, BillerConfig(block_ms=0))
    _send(client, market, node, first, "b-1")
    if not same_round:
        _drain(biller)
    _send(client, market, node, second, "b-2")
    _drain(biller)
    assert biller.outcomes == {"posted": 2}
    summary = LedgerStore(client).batch_summary("b-2")
    assert summary["records"] == 300 and summary["repeat_records"] == 3
    assert sorted(summary["repeat_record_ids"]) == sorted(_rows(first, [0, 7, 399]).column("record_id").to_pylist())
    _assert_charged_once(client, {"b-1": first, "b-2": second})


def test_a_whole_batch_sent_again_under_a_new_batch_id_charges_nothing_more(client, tmp_path):
    market = seed_market(client)
    node = market.nodes[1]
    spool = UsageSpool(tmp_path / "spool", node)
    batch = synthetic_usage(market, node, 500, seed=3)
    ids = [spool.append(batch), spool.append(batch)]  # the same records, spooled twice: two batch ids
    assert signed_sender(market, spool, client).send_pending() == 2
    biller = Biller(client, BillerConfig(block_ms=0))
    _drain(biller)
    assert biller.outcomes == {"posted": 2}
    again = LedgerStore(client).batch_summary(ids[1])
    assert again["records"] == 0 and again["charged_fen"] == 0 and again["repeat_records"] == 500
    _assert_charged_once(client, dict(zip(ids, [batch, batch])))


def test_a_record_repeated_within_one_batch_is_charged_once_and_the_rest_billed(client):
    market = seed_market(client)
    node = market.nodes[2]
    base = synthetic_usage(market, node, 300, seed=4)
    batch = _joined(base.slice(0, 150), _rows(base, [3, 3, 140]), base.slice(150))
    biller = Biller(client, BillerConfig(block_ms=0))
    _send(client, market, node, batch, "b-within")
    _drain(biller)
    assert biller.outcomes == {"posted": 1}
    summary = LedgerStore(client).batch_summary("b-within")
    assert summary["records"] == 300 and summary["repeat_records"] == 3
    _assert_charged_once(client, {"b-within": batch})


def test_a_record_repeated_after_the_biller_was_killed_between_batches_is_charged_once(client, redis_url, tmp_path,
                                                                                         eventually):
    market = seed_market(client)
    node = market.nodes[3]
    first = synthetic_usage(market, node, 2000, seed=5)
    second = _joined(_rows(first, list(range(0, 2000, 97))), synthetic_usage(market, node, 1000, seed=6))
    logs = tmp_path / "logs"
    billers = []

    def start(name: str) -> ManagedProcess:
        billers.append(ManagedProcess(name, ["biller", "--redis-url", redis_url, "--claim-idle", "0.3", "--consumer", name,
                                             "--archive-dir", str(logs / "usage-archive")], logs).start())
        return billers[-1]

    try:
        _send(client, market, node, first, "b-before")
        start("biller-1")
        eventually(lambda: client.llen(ledger_key("order")) == 1, timeout_s=60, what="the first batch posted")
        billers[0].kill()  # SIGKILL between batches: only Redis remembers what was billed
        _send(client, market, node, second, "b-after")
        start("biller-2")
        eventually(lambda: client.llen(ledger_key("order")) == 2 and client.xpending(USAGE_STREAM, "billers")["pending"] == 0,
                   timeout_s=60, what="the second batch posted")
    finally:
        for process in billers:
            process.kill()
    assert LedgerStore(client).batch_summary("b-after")["repeat_records"] == len(range(0, 2000, 97))
    _assert_charged_once(client, {"b-before": first, "b-after": second})


def test_a_repeat_is_counted_in_the_metric_and_leaves_an_audit_entry(client, redis_url, tmp_path):
    market = seed_market(client)
    node = market.nodes[4]
    first = synthetic_usage(market, node, 200, seed=7)
    before = metrics.BILLER.get_sample_value("shuniu_usage_records_refused_total", {"reason": "repeat"}) or 0.0
    biller = Biller(client, BillerConfig(block_ms=0))
    _send(client, market, node, first, "b-audit-1")
    _send(client, market, node, _joined(synthetic_usage(market, node, 50, seed=8), _rows(first, [1, 2])), "b-audit-2")
    _drain(biller)
    after = metrics.BILLER.get_sample_value("shuniu_usage_records_refused_total", {"reason": "repeat"})
    assert after - before == 2

    async def audited() -> list:
        c = aioredis.Redis.from_url(redis_url)
        try:
            chainer = AuditChainer(c, signing.load_or_create(signing.exchange_key_path(tmp_path)))
            while await chainer.step():
                pass
            return await AuditStore(c).entries_by_ref("b-audit-2")
        finally:
            await c.aclose()

    entries = {e.action: json.loads(e.details_json) for e in asyncio.run(audited())}
    assert entries["usage.repeat"] == {"node_id": node, "records": 2,
                                       "record_ids": _rows(first, [1, 2]).column("record_id").to_pylist()}
    assert "usage.repeat" not in {e.action for e in asyncio.run(_entries_of(redis_url, "b-audit-1"))}


async def _entries_of(redis_url: str, ref: str) -> list:
    c = aioredis.Redis.from_url(redis_url)
    try:
        return await AuditStore(c).entries_by_ref(ref)
    finally:
        await c.aclose()


def test_records_of_a_period_closed_past_the_retention_are_refused_as_too_late_and_the_rest_billed(client):
    market = seed_market(client)
    node = market.nodes[5]
    november = synthetic_usage(market, node, 300, seed=9)
    biller = Biller(client, BillerConfig(block_ms=0, record_retention_ms=0))  # forgotten once closed
    _send(client, market, node, november, "b-nov")
    _drain(biller)
    # November as settlement leaves it closed (its rounding posting aside: not what this test is about).
    client.hset(ledger_key("periods"), "2026-11", f"closed:{int(time.time() * 1000)}")
    late = synthetic_usage(market, node, 120, seed=10, prefix="late")
    december = synthetic_usage(market, node, 200, seed=11, start_ms=NOV_2026_MS + 31 * DAY_MS, prefix="dec")
    _send(client, market, node, _joined(late, _rows(november, [0]), december), "b-mixed")
    _drain(biller)
    summary = LedgerStore(client).batch_summary("b-mixed")
    # November's record billed before is refused too: its period's record ids are forgotten, whatever it repeats.
    assert (summary["records"], summary["too_late_records"], "repeat_records" in summary) == (200, 121, False)
    assert LedgerStore(client).batch_order() == ["b-nov", "b-mixed"]
    expected = reference_balances([("b-nov", november), ("b-mixed", december)], PriceSource(client))
    assert {a.account_id: a.balance_fen for a in LedgerStore(client).accounts() if a.balance_fen} == expected
    assert client.exists(records_key("2026-11"))
    now_ms = int(time.time() * 1000)
    assert forget_expired(client, LedgerStore(client).closed_periods(), now_ms, 0, margin_ms=0) == 1
    assert not client.exists(records_key("2026-11")) and client.exists(records_key("2026-12"))


def test_a_record_another_biller_billed_meanwhile_is_found_in_the_log_s_new_tail_and_charged_once(client):
    market = seed_market(client)
    node = market.nodes[6]
    early, first = synthetic_usage(market, node, 100, seed=12, prefix="early"), synthetic_usage(market, node, 200, seed=13)
    second = _joined(synthetic_usage(market, node, 150, seed=14), _rows(first, [5, 6]))
    a, b = (Biller(client, BillerConfig(block_ms=0, consumer=name)) for name in ("a", "b"))
    _send(client, market, node, early, "b-early")
    _drain(a)  # a has read November's log as it was then
    _send(client, market, node, first, "b-first")
    _drain(b)
    _send(client, market, node, second, "b-second")
    _drain(a)  # a's write is refused as stale, a reads the log's tail and leaves out what b billed
    assert a.outcomes == {"posted": 2} and b.outcomes == {"posted": 1}
    assert LedgerStore(client).batch_summary("b-second")["repeat_records"] == 2
    _assert_charged_once(client, {"b-early": early, "b-first": first, "b-second": second})


_EMPTY = BatchPosting("b-script", (), 0, 0)


@pytest.mark.parametrize("closed_ago_ms, expected_len, status", [
    (None, 0, "stale_records"),
    (10 * DAY_MS, 8, "too_late"),
], ids=["the-log-grew-since-it-was-read", "a-period-past-its-retention"])
def test_the_posting_script_refuses_a_stale_log_or_a_late_period_and_changes_nothing(client, closed_ago_ms, expected_len,
                                                                                     status):
    client.set(records_key("2026-11"), b"\x00" * 8)
    if closed_ago_ms is not None:
        client.hset(ledger_key("periods"), "2026-11", f"closed:{int(time.time() * 1000) - closed_ago_ms}")
    before = {k: client.dump(k) for k in client.keys("*")}
    outcome = LedgerStore(client).post(_EMPTY, record_logs=[("2026-11", expected_len, b"\x01" * 8)], retention_ms=7 * DAY_MS)
    assert (outcome.status, outcome.detail) == (status, "2026-11")
    assert {k: client.dump(k) for k in client.keys("*")} == before


def test_a_posted_batch_appends_its_record_hashes_to_the_log_once(client):
    ledger = LedgerStore(client)
    assert ledger.post(_EMPTY, record_logs=[("2026-11", 0, b"\x03" * 8 + b"\x04" * 8)]).status == "posted"
    assert ledger.post(_EMPTY, record_logs=[("2026-11", 16, b"\x03" * 8 + b"\x04" * 8)]).status == "duplicate"
    assert client.get(records_key("2026-11")) == b"\x03" * 8 + b"\x04" * 8


def test_the_billing_bench_sends_one_record_in_a_thousand_again_and_none_is_charged_twice():
    from shuniu.bench.billing import run_billing_bench

    r = run_billing_bench(20_000, batch_records=1000, sample_records=200)
    assert (r["batches"], r["repeats_placed"], r["repeats_charged"], r["dead_lettered_batches"]) == (20, 20, 0, 0)
    assert r["ledger_ok"] and r["charged_fen"] > 0


def test_repeats_are_records_of_the_same_node_s_earlier_batch_one_in_a_thousand():
    from shuniu.bench.billing import with_repeats

    market = Market(("n-0", "n-1"), {"n-0": "cc-0", "n-1": "cc-1"}, ("p",), ("b",))
    batches = [synthetic_usage(market, market.nodes[i % 2], 1500, seed=i) for i in range(4)]
    out, placed = with_repeats(batches, nodes=2)
    assert placed == 6 and [b.num_rows for b in out] == [1500] * 4 and out[:2] == batches[:2]
    for i in (2, 3):
        ids = out[i].column("record_id").to_pylist()
        again = [r for r in ids if r in set(batches[i - 2].column("record_id").to_pylist())]
        assert len(again) == 3 and set(out[i].column("node_id").to_pylist()) == {market.nodes[i % 2]}
