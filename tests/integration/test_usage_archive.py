"""The usage archive: billed entries go to disk first, then leave the stream; nothing billed is lost."""

from __future__ import annotations

import threading

import pytest
import redis

from shuniu.bench.billing import seed_market, signed_sender, synthetic_usage
from shuniu.bench.soak_audit import stream_batches
from shuniu.market.billing import Biller, BillerConfig, PriceSource, reference_balances
from shuniu.market.billing.archive import UsageArchive, trim_floor
from shuniu.market.ledger import LedgerStore
from shuniu.nodes.usage import UsageSpool
from shuniu.protos.usage_schema import USAGE_STREAM
from shuniu.security.audit_chain import AUDIT_CURSORS_KEY


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def _send(client, tmp_path, batches: int) -> dict:
    market = seed_market(client)
    node = market.nodes[0]
    spool = UsageSpool(tmp_path / "spool", node)
    made = {spool.append(synthetic_usage(market, node, 50, seed=i, prefix=f"{node}-")): None for i in range(batches)}
    signed_sender(market, spool, client).send_pending()
    return made


def _stream_ids(client) -> list[str]:
    return [entry_id.decode() for entry_id, _ in client.xrange(USAGE_STREAM)]


def _chained_up_to(client, entry_id: str) -> None:
    """What the audit chainer records once it has read the stream up to `entry_id`."""
    client.hset(AUDIT_CURSORS_KEY, "usage", entry_id)


def _bill_all(biller: Biller) -> None:
    biller.ensure_group()
    while biller.step(block_ms=0):
        pass


def test_billed_and_chained_entries_leave_the_stream_and_stay_in_the_archive(client, tmp_path):
    made = _send(client, tmp_path, batches=6)
    archive = UsageArchive(tmp_path / "archive")
    biller = Biller(client, BillerConfig(block_ms=0, count=4), archive)
    _bill_all(biller)
    ids = _stream_ids(client)
    assert biller.trim() == 0, "nothing is trimmed before the audit chainer has read it"
    _chained_up_to(client, ids[3])
    assert biller.trim() == 4
    assert _stream_ids(client) == ids[4:]
    _chained_up_to(client, ids[-1])
    assert biller.trim() == 2 and client.xlen(USAGE_STREAM) == 0
    # Every batch sent is still readable, and re-rating them gives the ledger's balances.
    batches = stream_batches(client, archive)
    assert set(batches) == set(made)
    ledger = LedgerStore(client)
    expected = reference_balances([(b, batches[b]) for b in ledger.batch_order()], PriceSource(client))
    assert {a.account_id: a.balance_fen for a in ledger.accounts() if a.balance_fen} == expected


def test_a_pending_entry_and_everything_after_it_stay_on_the_stream(client, tmp_path):
    _send(client, tmp_path, batches=5)
    archive = UsageArchive(tmp_path / "archive")
    biller = Biller(client, BillerConfig(consumer="live", block_ms=0), archive)
    biller.ensure_group()
    ids = _stream_ids(client)
    client.xreadgroup("billers", "live", {USAGE_STREAM: ">"}, count=2)  # delivered, not yet billed
    _chained_up_to(client, ids[-1])
    assert trim_floor(client, USAGE_STREAM, "billers") == ids[0]
    assert biller.trim() == 0
    _bill_all(biller)  # the three never delivered
    assert biller.trim() == 0, "the two delivered first are still pending"
    for entry_id, fields in client.xrange(USAGE_STREAM, ids[0], ids[1]):
        archive.append([(entry_id.decode(), fields)])
        biller.handle(entry_id.decode(), fields)
    assert biller.trim() == 5


def test_without_an_archive_the_biller_never_trims(client, tmp_path):
    _send(client, tmp_path, batches=3)
    biller = Biller(client, BillerConfig(block_ms=0))
    _bill_all(biller)
    _chained_up_to(client, _stream_ids(client)[-1])
    assert biller.trim() == 0 and client.xlen(USAGE_STREAM) == 3


def test_a_torn_last_frame_is_skipped_and_the_frames_before_it_read(tmp_path):
    archive = UsageArchive(tmp_path)
    entries = [(f"1-{i}", {b"batch_id": f"b{i}".encode(), b"arrow_ipc": bytes(range(i * 7 % 256)) * 3}) for i in range(4)]
    archive.append(entries[:3])
    archive.append(entries[3:])
    (segment,) = tmp_path.glob("usage-*.seg")
    assert list(archive.entries()) == entries
    segment.write_bytes(segment.read_bytes()[:-5])  # a crash in the middle of the last write
    assert list(archive.entries()) == entries[:3]


def test_a_corrupted_frame_stops_the_read_there(tmp_path):
    archive = UsageArchive(tmp_path)
    entries = [(f"1-{i}", {b"batch_id": f"b{i}".encode()}) for i in range(3)]
    archive.append(entries)
    (segment,) = tmp_path.glob("usage-*.seg")
    data = bytearray(segment.read_bytes())
    data[-2] ^= 0xFF
    segment.write_bytes(bytes(data))
    assert list(archive.entries()) == entries[:2]


class _FullDisk(UsageArchive):
    def append(self, entries) -> None:
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("mode", ["step", "run"])
def test_an_archive_that_cannot_write_stops_the_biller_and_nothing_is_acknowledged(client, tmp_path, mode):
    # `run` archives on its reading thread, `step` on the posting thread: either way the failure reaches the
    # caller, and no entry read is posted or acknowledged (each stays pending, to be billed once the disk is back).
    _send(client, tmp_path, batches=3)
    biller = Biller(client, BillerConfig(block_ms=50), _FullDisk(tmp_path / "archive"))
    biller.ensure_group()
    with pytest.raises(OSError, match="No space left"):
        biller.step() if mode == "step" else biller.run(threading.Event())
    assert LedgerStore(client).batch_order() == []
    assert client.xpending(USAGE_STREAM, "billers")["pending"] == 3


class _FailingRater(Biller):
    def _bill_round(self, entries, archived=None) -> None:
        raise RuntimeError("rating failed")


def test_when_run_fails_its_reading_thread_stops_and_what_it_read_stays_pending(client, tmp_path):
    _send(client, tmp_path, batches=3)
    biller = _FailingRater(client, BillerConfig(count=1, block_ms=50), UsageArchive(tmp_path / "archive"))
    biller.ensure_group()
    with pytest.raises(RuntimeError, match="rating failed"):
        biller.run(threading.Event())
    reader = next((t for t in threading.enumerate() if t.name == "biller-read"), None)
    if reader is not None:
        reader.join(2)
        assert not reader.is_alive()
    assert LedgerStore(client).batch_order() == []
    # The round that failed and at most the one read ahead were delivered; nothing was acknowledged.
    assert 1 <= client.xpending(USAGE_STREAM, "billers")["pending"] <= 2
