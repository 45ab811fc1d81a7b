"""The usage path at volume, against a real Redis: batches split under the size cap, plain and dictionary-encoded
batches billed alike, posting bodies in either stored form, volume counters written in chunks, and the billing
benchmark stopping at the first dead letter."""

from __future__ import annotations

import pathlib

import pyarrow as pa
import pytest
import redis

import shuniu.nodes.usage.spool as spool_module
from shuniu.bench.billing import _wait_posted, seed_market, signed_sender, synthetic_usage
from shuniu.market.billing import Biller, BillerConfig, PriceSource, charge_batch, prepare_usage, reference_balances
from shuniu.market.ledger import BatchPosting, LedgerPosting, LedgerStore, PostOutcome, ledger_key
from shuniu.nodes.usage import BatchTooLargeError, UsageSpool, stream_fields
from shuniu.protos.usage_schema import USAGE_STREAM, batch_from_ipc, batch_to_ipc
from shuniu.protos.v1 import ledger_pb2
from shuniu.stack import ManagedProcess


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def _bill_all(client: redis.Redis) -> Biller:
    biller = Biller(client, BillerConfig(block_ms=0))
    biller.ensure_group()
    while biller.step(block_ms=0):
        pass
    return biller


def _assert_ledger_equals_reference(client: redis.Redis, made: dict[str, pa.RecordBatch]) -> None:
    ledger = LedgerStore(client)
    order = ledger.batch_order()
    assert sorted(order) == sorted(made)
    expected = reference_balances([(b, made[b]) for b in order], PriceSource(client))
    assert {a.account_id: a.balance_fen for a in ledger.accounts() if a.balance_fen} == expected
    assert ledger.check().ok


def test_a_batch_over_the_size_cap_is_refused_or_split_and_every_piece_is_billed(client, tmp_path, monkeypatch):
    cap = 64 * 1024  # the spool's cap, lowered so that a small batch crosses it
    monkeypatch.setattr(spool_module, "MAX_IPC_BYTES", cap)
    market = seed_market(client)
    node = market.nodes[0]
    spool = UsageSpool(tmp_path / "spool", node)
    batch = synthetic_usage(market, node, 4000, seed=3)

    with pytest.raises(BatchTooLargeError, match=f"at most {cap:,} bytes per batch"):
        spool.append(batch)
    assert list(spool.pending()) == []  # nothing spooled

    ids = spool.append_split(batch)
    pending = list(spool.pending())
    assert len(ids) > 1 and [p.batch_id for p in pending] == ids  # spool order is record order
    assert all(p.path.stat().st_size <= cap for p in pending)
    pieces = {p.batch_id: batch_from_ipc(p.read())[0] for p in pending}
    assert pa.Table.from_batches([pieces[i] for i in ids]).to_pylist() == pa.Table.from_batches([batch]).to_pylist()

    assert signed_sender(market, spool, client).send_pending() == len(ids)
    assert _bill_all(client).outcomes == {"posted": len(ids)}
    _assert_ledger_equals_reference(client, pieces)


def test_plain_string_batches_of_older_agents_bill_as_dictionary_encoded_ones(client, tmp_path):
    market = seed_market(client)
    node = market.nodes[1]
    spool = UsageSpool(tmp_path / "spool", node)
    made = {spool.append(synthetic_usage(market, node, 500, seed=1, prefix="new")): None}
    sender = signed_sender(market, spool, client)
    sender.send_pending()
    old = synthetic_usage(market, node, 500, seed=2, prefix="old")  # plain strings, as an older agent spooled them
    client.xadd(USAGE_STREAM, stream_fields("old-batch", node, batch_to_ipc(old, "old-batch"), old.num_rows, 0, market.keys[node]))
    made = {batch_id: synthetic_usage(market, node, 500, seed=1, prefix="new") for batch_id in made} | {"old-batch": old}
    assert _bill_all(client).outcomes == {"posted": 2}
    _assert_ledger_equals_reference(client, made)


def test_posting_bodies_of_either_form_are_read_and_checked(client):
    store = LedgerStore(client)
    rows = BatchPosting("rows", (LedgerPosting(ledger_pb2.POSTING_KIND_DATA, "buyer:a", "holder:h", 30, "2026-11"),), 30, 1)
    market = seed_market(client)
    batch = synthetic_usage(market, market.nodes[0], 300, seed=4)
    book = PriceSource(client).book_for(batch)
    prepared = prepare_usage("columns", batch, book)
    columns = charge_batch(prepared, book, [0] * len(prepared.volume_fields), set())
    assert hasattr(columns.postings, "accounts")  # the biller's postings are columns
    for posting in (rows, columns):
        assert store.post(posting).status == "posted"
    read = {batch_id: postings for batch_id, postings, _, _ in store.batch_postings(["rows", "columns"])}
    assert read == {"rows": list(rows.postings), "columns": list(columns.postings)}
    check = store.check()
    assert check.ok and check.postings_checked == 1 + len(columns.postings)


def test_volume_counters_past_one_script_chunk_are_checked_and_written(client):
    store = LedgerStore(client)
    fields = [f"p|buyer-{k:04d}|2026-11" for k in range(2500)]  # more than the script's 2,000 per command
    posting = lambda batch_id, before: BatchPosting(  # noqa: E731
        batch_id, (LedgerPosting(ledger_pb2.POSTING_KIND_DATA, "buyer:a", "holder:h", 5, "2026-11"),), 5, 1,
        volume={f: (before, before + 1 + k % 3) for k, f in enumerate(fields)})
    assert store.post(posting("b1", 0)).status == "posted"
    assert store.volumes(fields) == [1 + k % 3 for k in range(2500)]

    client.hset(ledger_key("volume"), fields[2300], 99)  # a counter in the second chunk moved meanwhile
    stale = BatchPosting("b2", posting("b2", 0).postings, 5, 1,
                         volume={f: (1 + k % 3, 10) for k, f in enumerate(fields)})
    before = dict(client.hgetall(ledger_key("debits")))
    assert store.post(stale) == PostOutcome("stale_volume", fields[2300])
    assert dict(client.hgetall(ledger_key("debits"))) == before and store.batch_summary("b2") is None


def test_the_billing_bench_stops_at_the_first_dead_letter(client, redis_url, tmp_path: pathlib.Path):
    biller = ManagedProcess("biller", ["biller", "--redis-url", redis_url], tmp_path / "logs").start()
    try:
        client.xadd(USAGE_STREAM, {"batch_id": "garbage", "node_id": "node-000", "arrow_ipc": b"not arrow"})
        with pytest.raises(RuntimeError, match="dead-lettered batch garbage.*bad_schema: .*not an Arrow IPC stream"):
            _wait_posted(client, biller, 1, timeout_s=30)
    finally:
        biller.stop()
