"""The biller: a consumer group on the usage stream that rates, splits and posts each batch once.

For each entry: decode and validate, build the price book, rate and split, then post in
one Lua script that also acknowledges the entry (XACK after the ledger write, in the same
atomic step). A refused batch goes to the dead-letter stream with its reason, counted, and
acknowledged in one MULTI; it never posts and never stops the biller. Entries left pending
by a consumer that died are claimed (XAUTOCLAIM) once idle past `claim_idle_ms`.
A redelivered or resent batch id finds its idempotency record and changes nothing.
With a `UsageArchive`, each read is archived (fsynced) before it is handled, and the stream
is trimmed behind the oldest entry still needed (market/billing/archive.py).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field

import redis

from shuniu.market.billing.archive import UsageArchive, trim_billed
from shuniu.market.billing.book import BillingPolicy, DeadLetter, PriceSource
from shuniu.market.billing.charge import charge_batch, prepare_usage
from shuniu.market.billing.provenance import PROVENANCE_REASONS, check_provenance
from shuniu.market.ledger import LedgerStore, ledger_key
from shuniu.market.rating import RatingInputError
from shuniu.market.vouchers.store import held_vouchers
from shuniu.monitoring import metrics
from shuniu.protos.usage_schema import (
    DEAD_LETTER_COUNTS,
    DEAD_LETTER_STREAM,
    USAGE_STREAM,
    UsageSchemaError,
    batch_from_ipc,
    validate_usage_batch,
)

__all__ = ["DEAD_LETTER_REASONS", "Biller", "BillerConfig", "dead_letter_counts"]

log = logging.getLogger("shuniu.biller")
DEAD_LETTER_REASONS = ("bad_schema", "negative_quantity", "unknown_node", "unknown_product", "price_version",
                       "wrong_node", "wrong_center", "unratable", *PROVENANCE_REASONS)
_MAX_POST_ATTEMPTS = 20  # a stale volume or voucher, or a period closed meanwhile: re-read and re-rate


@dataclass(frozen=True)
class BillerConfig:
    group: str = "billers"
    consumer: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    stream: str = USAGE_STREAM
    count: int = 8  # entries per read
    block_ms: int = 500
    claim_idle_ms: int = 30_000  # an entry pending this long belongs to a dead consumer
    policy: BillingPolicy = BillingPolicy()
    trim_every_s: float = 5.0  # with an archive: how often the billed entries are trimmed from the stream


def dead_letter_counts(client: redis.Redis) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in client.hgetall(DEAD_LETTER_COUNTS).items()}


class Biller:
    """One consumer of the group; `run` until stopped, or `step` for one round."""

    def __init__(self, client: redis.Redis, config: BillerConfig = BillerConfig(), archive: UsageArchive | None = None) -> None:
        self.client = client
        self.config = config
        self.archive = archive
        self._trimmed_at = 0.0
        self.ledger = LedgerStore(client)
        self.prices = PriceSource(client, config.policy)
        self.outcomes: dict[str, int] = {}
        self._claim_from = "0-0"

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.config.stream, self.config.group, id="0", mkstream=True)
        except redis.ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    def step(self, block_ms: int | None = None) -> int:
        """Claim idle entries of dead consumers, then read new ones; bill each; return how many were handled."""
        c = self.config
        handled = 0
        next_from, claimed, _ = self.client.xautoclaim(c.stream, c.group, c.consumer, c.claim_idle_ms,
                                                       self._claim_from, count=c.count)
        self._claim_from = next_from.decode() if isinstance(next_from, bytes) else next_from
        handled += self._handle_all([(e.decode(), f) for e, f in claimed if f])  # a deleted entry is claimed as None
        block = c.block_ms if block_ms is None else block_ms
        for _, entries in self.client.xreadgroup(c.group, c.consumer, {c.stream: ">"}, count=c.count,
                                                 block=block or None) or []:
            handled += self._handle_all([(e.decode(), f) for e, f in entries])
        return handled

    def _handle_all(self, entries: list[tuple[str, dict[bytes, bytes]]]) -> int:
        if self.archive is not None:
            self.archive.append(entries)  # on disk before any of them is acknowledged
        for entry_id, fields in entries:
            self.handle(entry_id, fields)
        return len(entries)

    def trim(self) -> int:
        """Drops archived, billed and chained entries from the stream; 0 without an archive."""
        if self.archive is None:
            return 0
        self._trimmed_at = time.monotonic()
        return trim_billed(self.client, self.config.stream, self.config.group)

    def run(self, stop: threading.Event) -> None:
        """Bill until `stop` is set; a Redis outage is logged and retried (entries stay pending)."""
        self.ensure_group()
        while not stop.is_set():
            try:
                self.step()
                if time.monotonic() - self._trimmed_at >= self.config.trim_every_s:
                    self.trim()
            except redis.ConnectionError as err:
                log.warning("Redis unreachable, retrying: %s", err)
                stop.wait(0.5)

    def handle(self, entry_id: str, fields: dict[bytes, bytes]) -> str:
        """Bill one stream entry; return posted, duplicate or dead_letter."""
        batch_id = fields.get(b"batch_id", b"").decode(errors="replace")
        node_id = fields.get(b"node_id", b"").decode(errors="replace")
        started = time.perf_counter()
        try:
            outcome = self._bill(entry_id, batch_id, node_id, fields)
        except DeadLetter as dead:
            self._dead_letter(entry_id, batch_id, node_id, fields, dead)
            outcome = "dead_letter"
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        metrics.USAGE_BATCHES.labels(outcome).inc()
        metrics.BILLING_BATCH.observe(time.perf_counter() - started)
        return outcome

    def _bill(self, entry_id: str, batch_id: str, node_id: str, fields: dict[bytes, bytes]) -> str:
        batch = _decode(batch_id, node_id, fields)
        check_provenance(self.client, batch_id, node_id, fields, batch)  # signed by the node, its own jobs only
        if self.client.hexists(ledger_key("batches"), batch_id):
            self.client.xack(self.config.stream, self.config.group, entry_id)
            return "duplicate"
        book = self.prices.book_for(batch)
        try:
            prepared = prepare_usage(batch_id, batch, book, validated=True)
        except RatingInputError as err:
            raise DeadLetter(_rating_reason(err.reason), str(err)) from None
        for _ in range(_MAX_POST_ATTEMPTS):
            before = self.ledger.volumes(prepared.volume_fields)
            now_ms = int(time.time() * 1000)  # vouchers are drawn if valid at billing time (market/vouchers/draw.py)
            vouchers = held_vouchers(self.client, prepared.buyer_names, now_ms)
            posting = charge_batch(prepared, book, before, self.ledger.closed_periods(), node_id, vouchers, now_ms)
            with metrics.LEDGER_POST.time():
                result = self.ledger.post(posting, stream=self.config.stream, group=self.config.group, entry_id=entry_id)
            if result.status == "posted":
                metrics.USAGE_RECORDS_BILLED.inc(posting.record_count)
                metrics.BILLED_FEN.inc(posting.charged_fen)
                for account, amount_fen in posting.account_totals()[1].items():
                    kind = account.split(":", 1)[0]
                    if kind != "buyer":  # a voucher paying a buyer's charge is a subsidy, not revenue
                        metrics.REVENUE_FEN.labels(metrics.party_kind(kind)).inc(amount_fen)
            if result.status in ("posted", "duplicate"):
                return result.status
            log.info("batch %s: %s (%s); rating again", batch_id, result.status, result.detail)
            time.sleep(0.01)
        raise RuntimeError(f"batch {batch_id}: could not post after {_MAX_POST_ATTEMPTS} attempts")

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


def _decode(batch_id: str, node_id: str, fields: dict[bytes, bytes]):
    if not batch_id or not node_id or b"arrow_ipc" not in fields:
        raise DeadLetter("bad_schema", "entry lacks batch_id, node_id or arrow_ipc; expected the fields of a UsageBatch")
    try:
        batch, _ = batch_from_ipc(fields[b"arrow_ipc"])
        validate_usage_batch(batch)
    except UsageSchemaError as err:
        negative = any("is negative" in p for p in err.problems)
        raise DeadLetter("negative_quantity" if negative else "bad_schema", str(err)) from None
    if batch.num_rows and not all(n == node_id for n in batch.column("node_id").unique().to_pylist()):
        raise DeadLetter("wrong_node", f"batch from node {node_id!r} holds records of other nodes; a node reports only its own use")
    return batch


def _rating_reason(reason: str) -> str:
    for needle, code in (("unknown node", "unknown_node"), ("unknown product", "unknown_product"),
                         ("priced under version", "price_version")):
        if needle in reason:
            return code
    return "unratable"
