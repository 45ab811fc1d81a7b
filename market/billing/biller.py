"""The biller: a consumer group on the usage stream that rates, splits and posts each batch once.

For each entry: decode and validate, build the price book, rate and split, then post in
one Lua script that also acknowledges the entry (XACK after the ledger write, in the same
atomic step). The writes run on a posting thread, in order, while the next entry is rated; in
`run`, a reading thread reads (and archives) the next round meanwhile. A refused batch goes to
the dead-letter stream with its reason, counted, and acknowledged in one MULTI; it never posts
and never stops the biller. Entries left pending by a consumer that died are claimed
(XAUTOCLAIM) once idle past `claim_idle_ms`.
A redelivered or resent batch id finds its idempotency record and changes nothing. A record whose
record_id was billed before, in whatever batch, is left out and the rest of its batch billed: its keyed
hash is found in this biller's index of the ledger's record logs, which the posting script appends to in
the same atomic step, and only while they are as long as the index read them (record_index.py).
With a `UsageArchive`, each read is archived (fsynced) before it is handled, and the stream
is trimmed behind the oldest entry still needed (market/billing/archive.py).
What a round of batches needs from Redis before rating (their nodes and products, whether each
was posted, the closed periods, whether a buyer holds vouchers) is read in one round trip: each
read of the rating thread may wait behind a posting script's fsync, so their count, not their
size, costs. For the same reason a batch is rated from the volume counters this biller last
posted (read from Redis only the first time): the posting script writes a counter only if it
still holds the value the rating started from, so a counter another biller moved meanwhile is
found stale, read afresh, and the batch rated again.
"""

from __future__ import annotations

import gc
import logging
import os
import queue
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import pyarrow as pa
import redis

from shuniu.market.billing.archive import UsageArchive, trim_billed
from shuniu.market.billing.book import BillingPolicy, DeadLetter, PriceSource, node_key
from shuniu.market.billing.charge import charge_batch, prepare_usage
from shuniu.market.billing.provenance import PROVENANCE_REASONS, check_provenance
from shuniu.market.billing.record_ids import (
    RECORD_RETENTION_MS,
    RecordClaims,
    claim_records,
    expired_periods,
    forget_expired,
    record_key,
)
from shuniu.market.billing.record_index import RecordIndex
from shuniu.market.catalog import product_key
from shuniu.market.ledger import BatchPosting, LedgerStore, ledger_key
from shuniu.market.ledger.store import closed_periods_of
from shuniu.market.rating import RatingInputError
from shuniu.market.vouchers.store import HOLDERS_KEY, held_vouchers
from shuniu.monitoring import metrics
from shuniu.protos.usage_schema import (
    BILLER_GROUP,
    DEAD_LETTER_COUNTS,
    DEAD_LETTER_STREAM,
    USAGE_STREAM,
    UsageSchemaError,
    batch_from_ipc,
    dictionary_encoded,
    string_codes,
    validate_usage_batch,
)

__all__ = ["DEAD_LETTER_REASONS", "Biller", "BillerConfig", "dead_letter_counts"]

log = logging.getLogger("shuniu.biller")
DEAD_LETTER_REASONS = ("bad_schema", "negative_quantity", "unknown_node", "unknown_product", "price_version",
                       "wrong_node", "wrong_center", "unratable", *PROVENANCE_REASONS)
_MAX_POST_ATTEMPTS = 20  # a stale volume or voucher, or a period closed meanwhile: re-read and re-rate
_MAX_REMEMBERED_VOLUMES = 1_000_000  # volume counters kept by a biller; forgotten all at once past this


@dataclass(frozen=True)
class BillerConfig:
    group: str = BILLER_GROUP
    consumer: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    stream: str = USAGE_STREAM
    count: int = 8  # entries per read
    block_ms: int = 500
    claim_idle_ms: int = 30_000  # an entry pending this long belongs to a dead consumer
    policy: BillingPolicy = BillingPolicy()
    trim_every_s: float = 5.0  # with an archive: how often the billed entries are trimmed from the stream
    record_retention_ms: int = RECORD_RETENTION_MS  # record ids of a period are kept this long after it closed


def dead_letter_counts(client: redis.Redis) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in client.hgetall(DEAD_LETTER_COUNTS).items()}


class Biller:
    """One consumer of the group; `run` until stopped, or `step` for one round."""

    def __init__(self, client: redis.Redis, config: BillerConfig = BillerConfig(), archive: UsageArchive | None = None) -> None:
        self.client = client
        self.config = config
        self.archive = archive
        self._trimmed_at = 0.0
        self._forgotten_at = 0.0
        self._key: tuple[int, int] | None = None  # of the record-id hash, read from Redis once
        self._records = RecordIndex(client)  # the record ids billed (and in postings in flight), per period
        self.ledger = LedgerStore(client)
        self.prices = PriceSource(client, config.policy)
        self.outcomes: dict[str, int] = {}
        self._claim_from = "0-0"
        self._jobs_ran_here: set[tuple[str, str]] = set()  # (node, job) pairs found in job records
        self._volumes: dict[str, int] = {}  # volume field -> units as this biller last posted (or read) them
        # Postings submitted and not yet finished, in stream order, and the volume counters they will leave.
        # `run` lets them stay in flight across rounds (the next round is read and rated meanwhile);
        # `step` and `handle` finish them before returning.
        self._in_flight: list[tuple[_Ticket, Future]] = []
        self._carried: dict[str, int] = {}
        # Ledger writes (and archive fsyncs) wait on Redis's and the disk's fsync: this thread waits
        # for them while the next batch is decoded and rated.
        self._poster = ThreadPoolExecutor(1, thread_name_prefix="biller-post")

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.config.stream, self.config.group, id="0", mkstream=True)
        except redis.ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    def step(self, block_ms: int | None = None) -> int:
        """Claim idle entries of dead consumers, then read new ones; bill each; return how many were handled
        (all of them posted, acknowledged or dead-lettered by then)."""
        handled = 0
        try:
            for entries in self._read(self.config.block_ms if block_ms is None else block_ms):
                # Archived (fsynced) on the posting thread, ahead of every write that acknowledges one of them.
                archived = self._poster.submit(self.archive.append, entries) if self.archive is not None else None
                self._bill_round(entries, archived)
                handled += len(entries)
        finally:
            self._finish_in_flight()
        return handled

    def _read(self, block_ms: int) -> list[list[tuple[str, dict[bytes, bytes]]]]:
        """The entries of dead consumers idle past claim_idle_ms, then new ones (waiting up to block_ms)."""
        c = self.config
        next_from, claimed, _ = self.client.xautoclaim(c.stream, c.group, c.consumer, c.claim_idle_ms,
                                                       self._claim_from, count=c.count)
        self._claim_from = next_from.decode() if isinstance(next_from, bytes) else next_from
        rounds = [[(e.decode(), f) for e, f in claimed if f]]  # a deleted entry is claimed as None
        read = self.client.xreadgroup(c.group, c.consumer, {c.stream: ">"}, count=c.count, block=block_ms or None) or []
        rounds += [[(e.decode(), f) for e, f in entries] for _, entries in read]
        return [entries for entries in rounds if entries]

    def trim(self) -> int:
        """Drops archived, billed and chained entries from the stream; 0 without an archive."""
        if self.archive is None:
            return 0
        self._trimmed_at = time.monotonic()
        return trim_billed(self.client, self.config.stream, self.config.group)

    def forget_expired_records(self) -> int:
        """Drops the record logs of periods closed past the retention; return how many were dropped."""
        self._forgotten_at = time.monotonic()
        closed, now_ms = self.ledger.closed_periods(), int(time.time() * 1000)
        self._records.forget(expired_periods(closed, now_ms, self.config.record_retention_ms) & set(self._records.known_len))
        return forget_expired(self.client, closed, now_ms, self.config.record_retention_ms)

    def run(self, stop: threading.Event) -> None:
        """Bill until `stop` is set; a Redis outage is logged and retried (entries stay pending)."""
        self.ensure_group()
        # What is loaded by now (modules, Numba's dispatchers: ~140k objects) lives as long as the
        # process; frozen, it is no longer walked by every full collection (~10 % of billing's CPU).
        gc.freeze()
        # Pipelined: a reading thread reads (and archives) the next round while this one rates, and a
        # round's postings stay in flight on the posting thread while the next round is rated. Waiting
        # for the read of ~9 MB and for a round's last posting left the rating thread idle ~3 ms a batch.
        rounds: queue.Queue = queue.Queue(maxsize=1)
        done = threading.Event()  # set when this loop ends, by `stop` or by an error: the reader stops reading
        reader = threading.Thread(target=self._read_ahead, args=(stop, done, rounds), name="biller-read", daemon=True)
        reader.start()
        try:
            self._bill_rounds(stop, reader, rounds)
        finally:
            done.set()

    def _bill_rounds(self, stop: threading.Event, reader: threading.Thread, rounds: queue.Queue) -> None:
        """On the rating thread: bill the rounds the reader hands over until it has stopped and none is left."""
        while reader.is_alive() or not rounds.empty():
            try:
                entries = rounds.get(timeout=0.05 if self._in_flight else 0.5)
            except queue.Empty:
                entries = None
            if isinstance(entries, BaseException):
                raise entries  # the reading thread failed (the archive, say): nothing it read is acknowledged
            try:
                if entries is None:
                    self._finish_in_flight()  # nothing new: what is in flight is acknowledged once it lands
                else:
                    self._bill_round(entries)
                if time.monotonic() - self._trimmed_at >= self.config.trim_every_s:
                    self.trim()
                if time.monotonic() - self._forgotten_at >= self.config.trim_every_s:
                    self.forget_expired_records()
            except redis.ConnectionError as err:
                self._in_flight, self._carried = [], {}  # their entries stay pending: claimed again later
                self._records.forget()  # it holds their records: read the logs again
                log.warning("Redis unreachable, retrying: %s", err)
                stop.wait(0.5)
        self._finish_in_flight()

    def _read_ahead(self, stop: threading.Event, done: threading.Event, rounds: queue.Queue) -> None:
        """On the reading thread: read rounds and archive them, one round ahead of the rating thread, until
        `stop`; every round read is handed over (the rating thread bills it before it returns). Once the
        rating thread is `done` (it failed), nothing more is read: what was read stays pending."""
        try:
            while not stop.is_set() and not done.is_set():
                try:
                    read = self._read(self.config.block_ms)
                except redis.ConnectionError as err:
                    log.warning("Redis unreachable, retrying: %s", err)
                    stop.wait(0.5)
                    continue
                for entries in read:
                    if self.archive is not None:
                        self.archive.append(entries)  # on disk before any write that acknowledges one of them
                    _hand_over(rounds, entries, done)
        except BaseException as err:  # noqa: BLE001 - handed to the rating thread, which raises it
            _hand_over(rounds, err, done)

    def handle(self, entry_id: str, fields: dict[bytes, bytes]) -> str:
        """Bill one stream entry; return posted, duplicate or dead_letter."""
        self._bill_round([(entry_id, fields)])
        return self._finish_in_flight()[-1]

    def _bill_round(self, entries: list[tuple[str, dict[bytes, bytes]]], archived: Future | None = None) -> None:
        """Rate entries in order and hand each batch's ledger write to the posting thread, which writes while the
        next one is rated; the writes join those in flight (`_finish_in_flight` finishes them).

        A batch is rated with the volume counters the postings in flight are about to write; if one of those
        writes does not happen, the later write finds a stale counter and is rated again."""
        tickets = [_Ticket(entry_id, fields.get(b"batch_id", b"").decode(errors="replace"),
                           fields.get(b"node_id", b"").decode(errors="replace"), time.perf_counter())
                   for entry_id, fields in entries]
        batches = [_decoded(ticket, fields) for ticket, (_, fields) in zip(tickets, entries)]
        reads = _read_round(self.client, [(t.batch_id, b) for t, b in zip(tickets, batches) if not isinstance(b, DeadLetter)])
        for ticket, (_, fields), batch in zip(tickets, entries, batches):
            if any(t.draws_vouchers for t, _ in self._in_flight):
                self._finish_in_flight()  # a voucher's remaining amount is read from Redis: let the draw land first
            self._finish_landed(at_most_in_flight=2 * self.config.count)
            charged = self._charge(ticket, fields, batch, reads, self._carried)
            self._in_flight.append((ticket, self._poster.submit(self._write, archived, *charged)))

    def _finish_landed(self, at_most_in_flight: int) -> None:
        """Finish the postings at the head of those in flight that have landed, and wait for more while too many are in flight."""
        while self._in_flight and (self._in_flight[0][1].done() or len(self._in_flight) > at_most_in_flight):
            self._finish(*self._in_flight.pop(0))  # waits for it when more than at_most_in_flight are in flight
        if not self._in_flight:
            self._carried = {}

    def _finish_in_flight(self) -> list[str]:
        """Wait for every posting in flight and finish each in stream order; return their outcomes."""
        in_flight, self._in_flight = self._in_flight, []
        try:
            wait([future for _, future in in_flight])
            return [self._finish(ticket, future) for ticket, future in in_flight]
        finally:
            self._carried = {}  # what landed is in _volumes now (and what did not is read afresh)

    def _charge(self, ticket: _Ticket, fields: dict[bytes, bytes], batch, reads: _RoundReads, carried: dict[str, int]) -> tuple:
        """(what to write, its arguments): the posting, the acknowledgement of a duplicate, or a dead letter."""
        try:
            if isinstance(batch, DeadLetter):
                raise batch
            found = self._prepare(ticket, fields, batch, reads)
            if found is None:
                return ("duplicate", ticket)
            ticket.retry = found
            posting, claims, logs = self._claim_and_rate(ticket, *found, carried, reads)
        except DeadLetter as dead:
            return ("dead_letter", ticket, fields, dead)
        carried.update((f, after) for f, (_, after) in posting.volume.items())
        carried.update((f"records:{period}", before + len(hashes)) for period, before, hashes in logs)
        ticket.draws_vouchers = bool(posting.voucher_balances)
        return ("post", ticket, posting, claims, logs)

    def _prepare(self, ticket: _Ticket, fields: dict[bytes, bytes], batch, reads: _RoundReads):
        """(batch, price book) of a valid, signed, not yet posted batch; None for a posted one."""
        check_provenance(self.client, ticket.batch_id, ticket.node_id, fields, batch, self._jobs_ran_here,  # signed by the node,
                         node_record=reads.records.get(node_key(ticket.node_id)))  # its own jobs only
        if ticket.batch_id in reads.posted:
            return None
        return batch, self.prices.book_for(batch, reads.records)

    def _claim_and_rate(self, ticket: _Ticket, batch: pa.RecordBatch, book, carried: dict[str, int],
                        reads: _RoundReads | None = None) -> tuple[BatchPosting, RecordClaims, list[tuple[str, int, bytes]]]:
        """(posting, claims, record logs to append to) of the batch's records not billed before, rated as `_rate`
        rates. `reads` None: again after a refusal, with everything read afresh (the record logs' new tails too)."""
        if self._key is None:
            self._key = record_key(self.client)
        closed = self.ledger.closed_periods() if reads is None else reads.closed
        expired = expired_periods(closed, int(time.time() * 1000), self.config.record_retention_ms) if closed else set()
        if ticket.claims is None:
            ticket.claims = claim_records(batch, self._key, self._records, expired)
        else:
            self._records.forget(expired & set(ticket.claims.periods))
            tails = {p: self._records.read_tail(p) for p in ticket.claims.periods if p not in expired}
            ticket.claims = ticket.claims.again(tails, expired)
        claims = ticket.claims
        if not claims.kept:  # every record was billed before: the batch id is posted, with nothing to charge
            return BatchPosting(ticket.batch_id, (), 0, 0, node_id=ticket.node_id), claims, []
        kept = batch if claims.keep is None else batch.filter(pa.array(claims.keep))
        try:
            prepared = prepare_usage(ticket.batch_id, kept, book, validated=True)
        except RatingInputError as err:
            # The index holds the records of a batch that will not post: read the logs again, and expect them as
            # long as read then (not as the postings in flight will leave them: the index no longer holds those).
            self._records.forget()
            for name in [f for f in carried if f.startswith("records:")]:
                del carried[name]
            raise DeadLetter(_rating_reason(err.reason), str(err)) from None
        posting = self._rate(prepared, book, ticket.node_id, carried, reads)
        logs = [(period, carried.get(f"records:{period}", self._records.known_len[period]), hashes)
                for period, hashes in claims.logs()]
        return posting, claims, logs

    def _rate(self, prepared, book, node_id: str, carried: dict[str, int], reads: _RoundReads | None = None):
        """Rate with the counters last posted (and those still in flight); `reads` of this round, or None to read
        everything afresh, volume counters included."""
        before = self._volumes_before(prepared.volume_fields, carried, fresh=reads is None)
        now_ms = int(time.time() * 1000)  # vouchers are drawn if valid at billing time (market/vouchers/draw.py)
        holds = reads is None or not reads.voucher_holders.isdisjoint(prepared.buyer_names)
        vouchers = held_vouchers(self.client, prepared.buyer_names, now_ms) if holds else []
        closed = self.ledger.closed_periods() if reads is None else reads.closed
        return charge_batch(prepared, book, before, closed, node_id, vouchers, now_ms)

    def _volumes_before(self, fields: list[str], carried: dict[str, int], fresh: bool) -> list[int]:
        """Units each volume counter holds before a batch: in flight, else as last posted, else read from Redis."""
        if len(self._volumes) > _MAX_REMEMBERED_VOLUMES:
            self._volumes.clear()
        missing = [f for f in fields if f not in carried and (fresh or f not in self._volumes)]
        if missing:
            self._volumes.update(zip(missing, self.ledger.volumes(missing)))
        return [carried[f] if f in carried else self._volumes[f] for f in fields]

    def _write(self, archived: Future | None, action: str, ticket: _Ticket, *args):
        """On the posting thread: the write of one entry, once its read is on disk (it acknowledges the entry)."""
        if archived is not None:
            archived.result()  # raises if the archive failed: then nothing is acknowledged
        if action == "duplicate":
            self.client.xack(self.config.stream, self.config.group, ticket.entry_id)
            return "duplicate"
        if action == "dead_letter":
            self._dead_letter(ticket.entry_id, ticket.batch_id, ticket.node_id, *args)
            return "dead_letter"
        return self._post(ticket, *args)

    def _post(self, ticket: _Ticket, posting: BatchPosting, claims: RecordClaims, logs: list[tuple[str, int, bytes]]):
        with metrics.LEDGER_POST.time():
            result = self.ledger.post(posting, stream=self.config.stream, group=self.config.group, entry_id=ticket.entry_id,
                                      record_logs=logs, retention_ms=self.config.record_retention_ms,
                                      refused=claims.summary())
        return result, posting, claims, logs

    def _finish(self, ticket: _Ticket, future: Future) -> str:
        outcome = future.result()
        if not isinstance(outcome, str):
            result, posting, claims, logs = outcome
            if result.status not in ("posted", "duplicate"):
                log.info("batch %s: %s (%s); rating again", ticket.batch_id, result.status, result.detail)
                result, posting, claims, logs = self._post_until_done(ticket)
            if result.status == "posted":
                for period, before, hashes in logs:
                    self._records.landed(period, before, len(hashes))
                self._volumes.update((f, after) for f, (_, after) in posting.volume.items())
                _count_revenue(posting)
                for reason, count in claims.refused.items():
                    metrics.USAGE_RECORDS_REFUSED.labels(reason).inc(count)
            outcome = result.status
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        metrics.USAGE_BATCHES.labels(outcome).inc()
        metrics.BILLING_BATCH.observe(time.perf_counter() - ticket.started)
        return outcome

    def _post_until_done(self, ticket: _Ticket):
        """Claim the records not billed before (reading what other billers appended), rate against the counters in
        Redis and post, until the write is not refused as stale (or too late: those records are left out)."""
        for _ in range(_MAX_POST_ATTEMPTS):
            time.sleep(0.01)
            outcome = self._post(ticket, *self._claim_and_rate(ticket, *ticket.retry, {}))
            result = outcome[0]
            if result.status in ("posted", "duplicate"):
                return outcome
            log.info("batch %s: %s (%s); rating again", ticket.batch_id, result.status, result.detail)
        raise RuntimeError(f"batch {ticket.batch_id}: could not post after {_MAX_POST_ATTEMPTS} attempts")

    def _dead_letter(self, entry_id: str, batch_id: str, node_id: str, fields: dict[bytes, bytes], dead: DeadLetter) -> None:
        log.warning("batch %s from node %s to the dead letters: %s", batch_id, node_id, dead)
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(DEAD_LETTER_STREAM, {"batch_id": batch_id, "node_id": node_id, "entry_id": entry_id,
                                       "reason": dead.reason, "message": dead.message[:2000],
                                       "arrow_ipc": fields.get(b"arrow_ipc", b"")})
        pipe.hincrby(DEAD_LETTER_COUNTS, dead.reason, 1)
        pipe.xack(self.config.stream, self.config.group, entry_id)
        pipe.execute()
        metrics.USAGE_DEAD_LETTERS.labels(dead.reason).inc()


@dataclass(frozen=True)
class _RoundReads:
    """What billing a round of batches reads from Redis, in one round trip; the posting script re-checks what can change."""

    records: dict[str, bytes]  # node and product records by key (absent: not in Redis)
    posted: set[str]  # batch ids of the round already posted
    closed: dict[str, int]  # closed period -> unix ms it was closed
    voucher_holders: set[str]  # buyers of the round who hold compute vouchers


def _read_round(client: redis.Redis, batches: list[tuple[str, object]]) -> _RoundReads:
    """The reads of a round's decoded (batch id, batch) pairs: four commands in one pipeline, whatever the round's size."""
    keys: dict[str, None] = {}
    buyers: dict[str, None] = {}
    for _, batch in batches:
        keys.update((node_key(n), None) for n in string_codes(batch.column("node_id"))[0])
        keys.update((product_key(p), None) for p in string_codes(batch.column("product_id"))[0] if p)
        buyers.update((b, None) for b in string_codes(batch.column("buyer_id"))[0])
    batch_ids = [batch_id for batch_id, _ in batches]
    pipe = client.pipeline(transaction=False)
    pipe.mget(list(keys)) if keys else pipe.echo("")
    pipe.hmget(ledger_key("batches"), batch_ids) if batch_ids else pipe.echo("")
    pipe.hgetall(ledger_key("periods"))
    pipe.smismember(HOLDERS_KEY, list(buyers)) if buyers else pipe.echo("")
    raw, summaries, periods, holders = pipe.execute()
    return _RoundReads(records={k: r for k, r in zip(keys, raw or ()) if r is not None},
                       posted={b for b, summary in zip(batch_ids, summaries or ()) if summary is not None},
                       closed=closed_periods_of(periods), voucher_holders={b for b, held in zip(buyers, holders or ()) if held})


@dataclass
class _Ticket:
    """One stream entry on its way through a round."""

    entry_id: str
    batch_id: str
    node_id: str
    started: float
    draws_vouchers: bool = False
    retry: tuple = ()  # (batch, price book) to claim and rate it again with (reading Redis afresh)
    claims: RecordClaims | None = None  # which of its records are billed, once claimed


def _hand_over(rounds: queue.Queue, item, done: threading.Event) -> None:
    """Queue `item` for the rating thread, unless it is done (then nobody would take it)."""
    while not done.is_set():
        try:
            rounds.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _count_revenue(posting) -> None:
    metrics.USAGE_RECORDS_BILLED.inc(posting.record_count)
    metrics.BILLED_FEN.inc(posting.charged_fen)
    for account, amount_fen in posting.account_totals()[1].items():
        kind = account.split(":", 1)[0]
        if kind != "buyer":  # a voucher paying a buyer's charge is a subsidy, not revenue
            metrics.REVENUE_FEN.labels(metrics.party_kind(kind)).inc(amount_fen)


def _decoded(ticket: _Ticket, fields: dict[bytes, bytes]) -> pa.RecordBatch | DeadLetter:
    try:
        return _decode(ticket.batch_id, ticket.node_id, fields)
    except DeadLetter as dead:
        return dead


def _decode(batch_id: str, node_id: str, fields: dict[bytes, bytes]) -> pa.RecordBatch:
    if not batch_id or not node_id or b"arrow_ipc" not in fields:
        raise DeadLetter("bad_schema", "entry lacks batch_id, node_id or arrow_ipc; expected the fields of a UsageBatch")
    try:
        batch, _ = batch_from_ipc(fields[b"arrow_ipc"], widen=False)  # rated as it came: see rating_form
        validate_usage_batch(batch, unique_record_ids=False)  # a repeated record is left out, not the batch
    except UsageSchemaError as err:
        negative = any("is negative" in p for p in err.problems)
        raise DeadLetter("negative_quantity" if negative else "bad_schema", str(err)) from None
    # An older agent's plain strings are encoded once here: every later step resolves them by dictionary.
    batch = dictionary_encoded(batch)
    if batch.num_rows and string_codes(batch.column("node_id"))[0] != [node_id]:
        raise DeadLetter("wrong_node", f"batch from node {node_id!r} holds records of other nodes; a node reports only its own use")
    return batch


def _rating_reason(reason: str) -> str:
    for needle, code in (("unknown node", "unknown_node"), ("unknown product", "unknown_product"),
                         ("priced under version", "price_version")):
        if needle in reason:
            return code
    return "unratable"
