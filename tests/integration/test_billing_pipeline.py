"""Usage to ledger against a real Redis: spool → stream → biller → ledger, with crashes, restarts and replay.

Every billing test ends by comparing the ledger's balances with the plain-Python reference rater
over the same records, in the ledger's commit order (volume tiers make order matter), to
the fen, and by the ledger's own check.
"""

from __future__ import annotations

import logging
import pathlib
import threading
import time

import pyarrow as pa
import pytest
import redis

from shuniu.bench.billing import Market, job_ids_of, seed_market, signed_sender, synthetic_usage
from shuniu.market.billing import Biller, BillerConfig, PriceSource, dead_letter_counts, reference_balances
from shuniu.market.billing.archive import UsageArchive
from shuniu.market.ledger import LedgerStore
from shuniu.nodes.usage import UsageSpool, stream_fields
from shuniu.nodes.usage.spool import RECORD_COUNT_METADATA, spooled_record_count
from shuniu.protos.usage_schema import DEAD_LETTER_STREAM, USAGE_STREAM, batch_to_ipc
from shuniu.stack import LocalRedis, ManagedProcess


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def _spool(tmp_path: pathlib.Path, market: Market, node: str, batches: int, records: int, seed: int = 0) -> tuple[UsageSpool, dict]:
    spool = UsageSpool(tmp_path / f"spool-{node}", node)
    made = {}
    for i in range(batches):
        batch = synthetic_usage(market, node, records, seed=seed + i, prefix=f"{node}-")
        made[spool.append(batch)] = batch
    return spool, made


def _drain(biller: Biller) -> None:
    biller.ensure_group()
    while biller.step(block_ms=0):
        pass


def _assert_ledger_equals_reference(client: redis.Redis, made: dict[str, pa.RecordBatch]) -> None:
    ledger = LedgerStore(client)
    order = ledger.batch_order()
    assert sorted(order) == sorted(made), "every batch posted exactly once"
    expected = reference_balances([(b, made[b]) for b in order], PriceSource(client))
    got = {a.account_id: a.balance_fen for a in ledger.accounts() if a.balance_fen}
    assert got == expected
    check = ledger.check()
    assert check.ok and check.total_debits_fen == check.total_credits_fen > 0


def test_batches_flow_from_spool_to_ledger_and_equal_the_reference(client, tmp_path):
    market = seed_market(client)
    made = {}
    for node in market.nodes[:3]:
        spool, batches = _spool(tmp_path, market, node, batches=4, records=500, seed=len(made))
        made.update(batches)
        assert signed_sender(market, spool, client).send_pending() == 4
        assert list(spool.pending()) == []
    assert client.xlen(USAGE_STREAM) == 12
    biller = Biller(client, BillerConfig(block_ms=0))
    _drain(biller)
    assert biller.outcomes == {"posted": 12}
    assert client.xpending(USAGE_STREAM, "billers")["pending"] == 0
    _assert_ledger_equals_reference(client, made)


def test_a_batch_posted_twice_is_a_noop_that_says_so(client, tmp_path):
    market = seed_market(client)
    spool, made = _spool(tmp_path, market, market.nodes[0], batches=1, records=200)
    (batch_id,) = made
    data = next(spool.pending()).read()
    for _ in range(2):  # the sender's crash between XADD and delete: the same batch arrives twice
        client.xadd(USAGE_STREAM, stream_fields(batch_id, market.nodes[0], data, 200, 0, market.keys[market.nodes[0]]))
    biller = Biller(client, BillerConfig(block_ms=0))
    _drain(biller)
    assert biller.outcomes == {"posted": 1, "duplicate": 1}
    before = {a.account_id: a.balance_fen for a in LedgerStore(client).accounts()}
    outcome = Biller(client).ledger.post(_charged(client, batch_id, made[batch_id]))
    assert (outcome.status, outcome.detail.startswith("{")) == ("duplicate", True)
    assert {a.account_id: a.balance_fen for a in LedgerStore(client).accounts()} == before
    _assert_ledger_equals_reference(client, made)


def _charged(client, batch_id, batch):
    from shuniu.market.billing import charge_batch, prepare_usage

    book = PriceSource(client).book_for(batch)
    prepared = prepare_usage(batch_id, batch, book)
    return charge_batch(prepared, book, [0] * len(prepared.volume_fields), set())


def test_the_posting_script_refuses_an_unbalanced_set_and_changes_nothing(client, tmp_path):
    market = seed_market(client)
    _, made = _spool(tmp_path, market, market.nodes[0], batches=1, records=100)
    posting = _charged(client, *next(iter(made.items())))
    store = LedgerStore(client)
    debits, credits = posting.account_totals()
    sides = [len(debits), *(x for i in debits.items() for x in i), len(credits), *(x for i in credits.items() for x in i)]
    keys = ["shuniu:ledger:" + k for k in ("batches", "order", "postings", "debits", "credits", "totals", "volume", "periods",
                                            "lines:x", "updated")] + ["shuniu:usage"]
    with pytest.raises(redis.ResponseError, match="unbalanced posting set"):
        store._post(keys=keys, args=["x", 0, posting.charged_fen + 1, "{}", "{}", b"", "", "", *sides, 0, 0])
    assert client.keys("shuniu:ledger:*") == []


def test_a_stale_volume_or_a_closed_period_is_refused_before_any_write(client, tmp_path):
    market = seed_market(client)
    _, made = _spool(tmp_path, market, market.nodes[0], batches=1, records=300)
    posting = _charged(client, *next(iter(made.items())))
    store = LedgerStore(client)
    field = next(iter(posting.volume))
    client.hset("shuniu:ledger:volume", field, 7)
    assert store.post(posting).status == "stale_volume"
    client.hdel("shuniu:ledger:volume", field)
    store.close_period("2026-11")
    assert (store.post(posting).status, store.post(posting).detail) == ("period_closed", "2026-11")
    assert store.batch_order() == [] and store.accounts() == []


def test_a_consumer_that_died_holding_entries_is_claimed_and_nothing_doubles(client, tmp_path):
    market = seed_market(client)
    spool, made = _spool(tmp_path, market, market.nodes[1], batches=5, records=300)
    signed_sender(market, spool, client).send_pending()
    dead = Biller(client, BillerConfig(consumer="dead", count=3, block_ms=0))
    dead.ensure_group()
    client.xreadgroup("billers", "dead", {USAGE_STREAM: ">"}, count=3)  # read, then died before billing
    dead.handle(*_first_pending(client, "dead"))  # and one it billed before dying (acked by the script)
    survivor = Biller(client, BillerConfig(consumer="survivor", claim_idle_ms=0, block_ms=0))
    _drain(survivor)
    assert survivor.outcomes == {"posted": 4}
    _assert_ledger_equals_reference(client, made)


def _first_pending(client, consumer):
    entry = client.xpending_range(USAGE_STREAM, "billers", "-", "+", 1, consumername=consumer)[0]
    (entry_id, fields), = client.xrange(USAGE_STREAM, entry["message_id"], entry["message_id"])
    return entry_id.decode(), fields


def _biller_process(redis_url: str, logs: pathlib.Path, name: str) -> ManagedProcess:
    return ManagedProcess(name, ["biller", "--redis-url", redis_url, "--claim-idle", "0.3", "--consumer", name,
                                 "--archive-dir", str(logs / "usage-archive")], logs).start()


def test_biller_killed_mid_stream_restarts_and_bills_each_batch_once(client, redis_url, tmp_path, eventually):
    market = seed_market(client)
    spool, made = _spool(tmp_path, market, market.nodes[2], batches=30, records=3000)
    signed_sender(market, spool, client).send_pending()
    first = _biller_process(redis_url, tmp_path / "logs", "biller-1")
    try:
        eventually(lambda: client.llen("shuniu:ledger:order") >= 3, timeout_s=60, what="first batches posted")
        first.kill()  # SIGKILL: whatever batch it was rating stays pending under its name
        posted_at_kill = client.llen("shuniu:ledger:order")
        assert posted_at_kill < 30, "the biller finished before it could be killed; make the stream longer"
        second = _biller_process(redis_url, tmp_path / "logs", "biller-2")
        try:
            eventually(lambda: client.llen("shuniu:ledger:order") == 30 and client.xpending(USAGE_STREAM, "billers")["pending"] == 0,
                       timeout_s=120, what="every batch posted and acknowledged")
        finally:
            assert second.stop() == 0, second.log_tail()  # SIGTERM: a clean exit
    finally:
        first.kill()
    _assert_ledger_equals_reference(client, made)


def test_sender_killed_mid_send_resends_the_rest_and_nothing_doubles(client, redis_url, tmp_path, eventually):
    market = seed_market(client)
    node = market.nodes[3]
    spool, made = _spool(tmp_path, market, node, batches=120, records=2000)
    key_file = tmp_path / "node.ed25519"
    key_file.write_bytes(market.keys[node].private_bytes())
    args = ["usage", "send", "--spool", str(spool.directory), "--node-id", node, "--redis-url", redis_url,
            "--key", str(key_file)]
    sender = ManagedProcess("sender", args, tmp_path / "logs").start()
    eventually(lambda: client.xlen(USAGE_STREAM) >= 5, timeout_s=60, what="first batches appended")
    sender.kill()
    appended, left = client.xlen(USAGE_STREAM), len(list(spool.pending()))
    # Killed with batches left; those appended but not yet deleted (if the kill fell inside a
    # round) are in both places and must not be billed twice.
    assert left > 0 and appended + left >= 120, (appended, left)
    again = ManagedProcess("sender-again", args, tmp_path / "logs").start()
    assert again.proc.wait(120) == 0, again.log_tail()
    assert list(spool.pending()) == []
    assert client.xlen(USAGE_STREAM) >= 120  # a batch appended just before the kill may be there twice
    biller = Biller(client, BillerConfig(block_ms=0))
    _drain(biller)
    assert biller.outcomes["posted"] == 120 and biller.outcomes.get("duplicate", 0) == client.xlen(USAGE_STREAM) - 120
    _assert_ledger_equals_reference(client, made)


def test_redis_restart_keeps_the_ledger_and_a_full_replay_changes_nothing(tmp_path):
    server = LocalRedis(tmp_path / "own-redis").start()
    try:
        c = redis.Redis.from_url(server.url)
        market = seed_market(c)
        spool, made = _spool(tmp_path, market, market.nodes[4], batches=6, records=1000)
        sender = signed_sender(market, spool, c)
        sender.send_pending(max_batches=3)
        _drain(Biller(c, BillerConfig(block_ms=0)))
        server.kill()  # a crash; the append-only file has every acknowledged write
        server.start()
        sender.send_pending()
        biller = Biller(c, BillerConfig(block_ms=0))
        _drain(biller)
        assert biller.outcomes == {"posted": 3}
        _assert_ledger_equals_reference(c, made)
        before = {a.account_id: a.balance_fen for a in LedgerStore(c).accounts()}
        replay = Biller(c, BillerConfig(group="replay", block_ms=0))  # a new group reads the stream from the start
        _drain(replay)
        assert replay.outcomes == {"duplicate": 6}
        assert {a.account_id: a.balance_fen for a in LedgerStore(c).accounts()} == before
        _assert_ledger_equals_reference(c, made)
        c.close()
    finally:
        server.stop()


def _ipc(batch: pa.RecordBatch) -> bytes:
    return batch_to_ipc(batch, "x")


DEAD = [
    ("bad_schema", lambda m, b: {"arrow_ipc": b"not arrow"}),
    ("bad_schema", lambda m, b: {"arrow_ipc": _ipc(b.drop_columns(["queries"]))}),
    ("negative_quantity", lambda m, b: {"arrow_ipc": _ipc(b.set_column(b.schema.get_field_index("rows"), b.schema.field("rows"),
                                                                       pa.array([-1] + [0] * (b.num_rows - 1))))}),
    ("unknown_node", lambda m, b: {"node_id": "ghost", "arrow_ipc": _ipc(b.set_column(b.schema.get_field_index("node_id"),
                                                                                      b.schema.field("node_id"), pa.array(["ghost"] * b.num_rows)))}),
    ("unknown_product", lambda m, b: {"arrow_ipc": _ipc(b.set_column(b.schema.get_field_index("product_id"), b.schema.field("product_id"),
                                                                     pa.array(["ghost-product"] * b.num_rows)))}),
    ("price_version", lambda m, b: {"arrow_ipc": _ipc(b.set_column(b.schema.get_field_index("price_version"), b.schema.field("price_version"),
                                                                   pa.array([9] * b.num_rows)).set_column(b.schema.get_field_index("product_id"),
                                                                   b.schema.field("product_id"), pa.array([m.products[1]] * b.num_rows)))}),
    ("wrong_node", lambda m, b: {"node_id": m.nodes[5]}),
    # Changed after the node signed (the rest are signed as changed, as a faulty node would sign them):
    ("bad_signature", lambda m, b: {"after_signing": True, "signature": b""}),
    ("bad_signature", lambda m, b: {"after_signing": True, "record_count": 49}),
    ("bad_signature", lambda m, b: {"after_signing": True, "signature": m.keys[m.nodes[0]].sign(b"another message")}),
    ("bad_signature", lambda m, b: {"after_signing": True, "arrow_ipc": _ipc(b.slice(1))}),
    ("unknown_key", lambda m, b: {"sign_with": m.keys[m.nodes[1]]}),
    ("job_not_on_node", lambda m, b: {"arrow_ipc": _ipc(b.set_column(b.schema.get_field_index("job_id"), b.schema.field("job_id"),
                                                                     pa.array([job_ids_of(m.nodes[1])[0]] * b.num_rows)))}),
    ("job_not_on_node", lambda m, b: {"arrow_ipc": _ipc(b.set_column(b.schema.get_field_index("job_id"), b.schema.field("job_id"),
                                                                     pa.array(["never-submitted"] * b.num_rows)))}),
]  # fmt: skip


def _bad_entry(market: Market, node: str, batch_id: str, good: pa.RecordBatch, corrupt) -> dict:
    """A stream entry changed by `corrupt`: signed over the change, or (`after_signing`) changed once signed."""
    change = corrupt(market, good)
    key = change.pop("sign_with", market.keys[node])
    if change.pop("after_signing", False):
        return {**stream_fields(batch_id, node, _ipc(good), good.num_rows, 0, key), **change}
    return {**stream_fields(batch_id, change.get("node_id", node), change.get("arrow_ipc", _ipc(good)), good.num_rows, 0, key),
            **change}


def test_bad_batches_go_to_the_dead_letters_counted_and_never_post(client):
    market = seed_market(client)
    node = market.nodes[0]
    good = synthetic_usage(market, node, 50, seed=1)
    for n, (_, corrupt) in enumerate(DEAD):
        client.xadd(USAGE_STREAM, _bad_entry(market, node, f"bad-{n}", good, corrupt))
    client.xadd(USAGE_STREAM, stream_fields("good", node, _ipc(good), 50, 0, market.keys[node]))
    biller = Biller(client, BillerConfig(block_ms=0))
    _drain(biller)
    assert biller.outcomes == {"dead_letter": len(DEAD), "posted": 1}
    expected: dict[str, int] = {}
    for reason, _ in DEAD:
        expected[reason] = expected.get(reason, 0) + 1
    assert dead_letter_counts(client) == expected
    letters = client.xrange(DEAD_LETTER_STREAM)
    assert [f[b"reason"].decode() for _, f in letters] == [r for r, _ in DEAD]
    assert all(f[b"message"] for _, f in letters)
    assert LedgerStore(client).batch_order() == ["good"]
    assert client.xpending(USAGE_STREAM, "billers")["pending"] == 0
    _assert_ledger_equals_reference(client, {"good": good})


def test_billing_bench_reports_end_to_end_records_per_second_and_a_balanced_ledger():
    from shuniu.bench.billing import run_billing_bench

    r = run_billing_bench(6000, batch_records=2000, sample_records=500)
    assert r["batches"] == 3 and r["ledger_ok"] and r["charged_fen"] > 0
    assert r["end_to_end_records_per_s"] > 0 and r["reference_records_per_s"] > 0


# The fast path: writes overlapped with rating, remembered job placements, record counts read
# from the spool without decoding, archive frames written without copies.


def _spool_and_send(client, tmp_path, market: Market, node: str, batches: int, records: int) -> dict:
    spool, made = _spool(tmp_path, market, node, batches, records)
    assert signed_sender(market, spool, client).send_pending() == batches
    return made


class _Interrupted(Biller):
    """A biller during whose first rating another consumer posts an entry that moves the same volume counters."""

    def __init__(self, client, config, other: Biller, entry) -> None:
        super().__init__(client, config)
        self._other, self._entry = other, entry

    def _rate(self, *args):
        posting = super()._rate(*args)
        if self._entry is not None:
            entry, self._entry = self._entry, None
            assert self._other.handle(*entry) == "posted"
        return posting


def test_batches_rated_behind_a_refused_write_are_rated_again_and_posted_once(client, tmp_path, caplog):
    market = seed_market(client)
    made = _spool_and_send(client, tmp_path, market, market.nodes[0], batches=4, records=600)
    other = Biller(client, BillerConfig(consumer="other", block_ms=0))
    other.ensure_group()
    (_, [(entry_id, fields)]), = client.xreadgroup("billers", "other", {USAGE_STREAM: ">"}, count=1)
    biller = _Interrupted(client, BillerConfig(consumer="ours", count=8, block_ms=0), other, (entry_id.decode(), fields))
    with caplog.at_level(logging.INFO, logger="shuniu.biller"):
        _drain(biller)
    # The first write of the round found the counters moved by the other consumer; the ones rated on
    # its volumes found them stale in turn. Each was rated again and posted once.
    assert sum("stale_volume" in r.getMessage() for r in caplog.records) >= 2
    assert biller.outcomes == {"posted": 3} and other.outcomes == {"posted": 1}
    assert client.xpending(USAGE_STREAM, "billers")["pending"] == 0
    _assert_ledger_equals_reference(client, made)


@pytest.mark.parametrize("interrupted", [False, True], ids=["undisturbed", "counters-moved-meanwhile"])
def test_run_keeps_postings_in_flight_across_rounds_and_bills_like_one_batch_at_a_time(client, tmp_path, caplog, interrupted):
    # Rounds of one entry: each batch is rated while the previous rounds' postings may still be in flight,
    # from the counters they are about to write. Moved meanwhile by another consumer, they are found stale.
    market = seed_market(client)
    made = {}
    for node in market.nodes[:2]:
        made.update(_spool_and_send(client, tmp_path, market, node, batches=3, records=400))
    config = BillerConfig(consumer="ours", count=1, block_ms=50)
    other = Biller(client, BillerConfig(consumer="other", block_ms=0))
    other.ensure_group()
    if interrupted:
        (_, [(entry_id, fields)]), = client.xreadgroup("billers", "other", {USAGE_STREAM: ">"}, count=1)
        biller = _Interrupted(client, config, other, (entry_id.decode(), fields))
    else:
        biller = Biller(client, config, UsageArchive(tmp_path / "archive"))
    stop = threading.Event()
    runner = threading.Thread(target=biller.run, args=(stop,))
    with caplog.at_level(logging.INFO, logger="shuniu.biller"):
        runner.start()
        try:
            deadline = time.monotonic() + 60
            while client.llen("shuniu:ledger:order") < 6 and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            stop.set()
            runner.join(30)
    assert not runner.is_alive()
    assert biller.outcomes == {"posted": 5 if interrupted else 6}
    assert any("stale_volume" in r.getMessage() for r in caplog.records) == interrupted
    assert client.xpending(USAGE_STREAM, "billers")["pending"] == 0
    _assert_ledger_equals_reference(client, made)


def test_counters_a_biller_remembers_are_found_stale_after_another_biller_moved_them(client, tmp_path, caplog):
    # A biller rates from the volume counters it last posted, without reading them again; another consumer
    # posting the same buyers' usage in between makes them stale: the write is refused, read afresh, rated again.
    market = seed_market(client)
    node = market.nodes[0]
    made = _spool_and_send(client, tmp_path, market, node, batches=1, records=600)
    ours = Biller(client, BillerConfig(consumer="ours", block_ms=0))
    _drain(ours)
    other = Biller(client, BillerConfig(consumer="other", block_ms=0))
    spool, more = _spool(tmp_path, market, node, batches=2, records=600, seed=7)
    made.update(more)
    assert signed_sender(market, spool, client).send_pending() == 2
    other.ensure_group()
    (_, [(entry_id, fields)]), = client.xreadgroup("billers", "other", {USAGE_STREAM: ">"}, count=1)
    assert other.handle(entry_id.decode(), fields) == "posted"
    with caplog.at_level(logging.INFO, logger="shuniu.biller"):
        _drain(ours)
    assert any("stale_volume" in r.getMessage() for r in caplog.records)
    assert ours.outcomes == {"posted": 2} and other.outcomes == {"posted": 1}
    _assert_ledger_equals_reference(client, made)


@pytest.mark.parametrize("count", [1, 3, 8], ids=["one-per-round", "three-per-round", "all-in-one-round"])
def test_a_round_of_any_size_bills_like_one_batch_at_a_time(client, tmp_path, count):
    market = seed_market(client)
    made = {}
    for node in market.nodes[:2]:
        made.update(_spool_and_send(client, tmp_path, market, node, batches=3, records=400))
    biller = Biller(client, BillerConfig(count=count, block_ms=0), UsageArchive(tmp_path / "archive"))
    _drain(biller)
    assert biller.outcomes == {"posted": 6}
    assert sorted(fields[b"batch_id"].decode() for _, fields in biller.archive.entries()) == sorted(made)
    _assert_ledger_equals_reference(client, made)


def test_a_remembered_job_is_remembered_for_its_own_node_only(client, tmp_path):
    market = seed_market(client)
    node, elsewhere = market.nodes[0], market.nodes[1]
    _spool_and_send(client, tmp_path, market, node, batches=1, records=100)
    borrowed = synthetic_usage(market, node, 100, seed=9, prefix="borrowed-")
    jobs = pa.array([job_ids_of(elsewhere)[0]] * borrowed.num_rows, pa.string())
    borrowed = borrowed.set_column(borrowed.schema.get_field_index("job_id"), borrowed.schema.field("job_id"), jobs)
    data = batch_to_ipc(borrowed, "borrowed")
    biller = Biller(client, BillerConfig(block_ms=0))
    _drain(biller)  # the node's own jobs are now remembered
    other_node_batch = synthetic_usage(market, elsewhere, 100, seed=10, prefix="other-")
    client.xadd(USAGE_STREAM, stream_fields("other", elsewhere, batch_to_ipc(other_node_batch, "other"), 100, 0, market.keys[elsewhere]))
    _drain(biller)  # and the other node's, for that node
    client.xadd(USAGE_STREAM, stream_fields("borrowed", node, data, 100, 0, market.keys[node]))
    _drain(biller)
    assert biller.outcomes == {"posted": 2, "dead_letter": 1}
    assert dead_letter_counts(client) == {"job_not_on_node": 1}


def test_the_sender_reads_the_record_count_from_the_spool_file_and_counts_older_files_by_reading(client, tmp_path):
    market = seed_market(client)
    node = market.nodes[0]
    spool = UsageSpool(tmp_path / "spool", node)
    spool.append(synthetic_usage(market, node, 321, seed=1))
    (spooled,) = spool.pending()
    data = spooled.read()
    assert pa.ipc.open_stream(data).schema.metadata[RECORD_COUNT_METADATA] == b"321"
    assert spooled_record_count(data) == 321
    older = batch_to_ipc(synthetic_usage(market, node, 123, seed=2), "older")  # spooled before the count was kept
    assert spooled_record_count(older) == 123
    (tmp_path / "spool" / "00000000000000000-older.arrow").write_bytes(older)
    sender = signed_sender(market, spool, client)
    assert sender.send_pending() == 2 and sender.sent_records == 321 + 123
    assert sorted(int(f[b"record_count"]) for _, f in client.xrange(USAGE_STREAM)) == [123, 321]
    assert list(spool.pending()) == []


def test_two_senders_of_one_spool_send_each_batch_and_neither_fails_on_what_the_other_removed(client, tmp_path):
    # Runs finishing together on one node each send the node's spool: a batch listed by one can be sent
    # and removed by the other before the first reads it.
    market = seed_market(client)
    node = market.nodes[0]
    spool = UsageSpool(tmp_path / "spool", node)
    for i in range(3):
        spool.append(synthetic_usage(market, node, 10, seed=i))
    first, second = signed_sender(market, spool, client), signed_sender(market, spool, client)
    listed = list(spool.pending())
    assert second.send_pending() == 3
    spool.append(synthetic_usage(market, node, 10, seed=9))
    assert first._send_round([*listed, *spool.pending()]) == 1  # the three are gone: only the new one is sent
    assert client.xlen(USAGE_STREAM) == 4 and list(spool.pending()) == []
