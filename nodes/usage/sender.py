"""Sends spooled usage batches to the Redis usage stream, one stream entry per batch.

A spooled file is deleted only after Redis answered its XADD with an entry id. A crash
between the XADD and the delete sends the batch again after a restart; the second entry
carries the same batch id, and the ledger posts a batch id once, so nothing is billed twice.
Each entry carries the node's Ed25519 signature over batch id, node id, record count and the
SHA-256 of the Arrow IPC (security.signing); the biller refuses a batch without a valid one.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

from shuniu.nodes.usage.spool import SpooledBatch, UsageSpool, spooled_record_count
from shuniu.protos.usage_schema import USAGE_STREAM
from shuniu.security.signing import SigningKey, sign_usage_batch

__all__ = ["USAGE_STREAM", "UsageSender", "stream_fields"]

MAX_BATCHES_PER_ROUND = 16  # XADDs pipelined in one round trip
log = logging.getLogger("shuniu.usage.sender")


def stream_fields(batch_id: str, node_id: str, arrow_ipc: bytes, record_count: int, created_unix_ms: int,
                  key: SigningKey | None = None) -> dict[str, object]:
    """The fields of one usage stream entry (UsageBatch's), signed by `key` when given."""
    fields: dict[str, object] = {"batch_id": batch_id, "node_id": node_id, "arrow_ipc": arrow_ipc,
                                 "record_count": record_count, "created_unix_ms": created_unix_ms}
    if key is not None:
        fields["signature"] = sign_usage_batch(key, batch_id, node_id, record_count, arrow_ipc)
        fields["signing_key_id"] = key.key_id
    return fields


class UsageSender:
    """Drains a UsageSpool into the usage stream, each batch signed with the node's `key`."""

    def __init__(self, spool: UsageSpool, client: redis.Redis, stream: str = USAGE_STREAM, *,
                 key: SigningKey | None = None) -> None:
        self.spool = spool
        self.client = client
        self.stream = stream
        self.key = key
        self.sent_batches = 0
        self.sent_records = 0

    def send_pending(self, max_batches: int | None = None) -> int:
        """Send what the spool holds, oldest first; return the number of batches acknowledged."""
        sent = 0
        pending = list(self.spool.pending())
        if max_batches is not None:
            pending = pending[:max_batches]
        for start in range(0, len(pending), MAX_BATCHES_PER_ROUND):
            sent += self._send_round(pending[start:start + MAX_BATCHES_PER_ROUND])
        return sent

    def _send_round(self, batches: list[SpooledBatch]) -> int:
        pipe = self.client.pipeline(transaction=False)
        counts, found = [], []
        for batch in batches:
            try:
                data = batch.read()
            except FileNotFoundError:
                # Another sender of this spool (a run finishing beside this one on the node) sent and
                # removed it since it was listed: acknowledged already, nothing left to send.
                continue
            count = spooled_record_count(data)
            counts.append(count)
            found.append(batch)
            pipe.xadd(self.stream, stream_fields(batch.batch_id, self.spool.node_id, data, count, int(time.time() * 1000),
                                                 self.key))
        entry_ids = pipe.execute() if found else []
        for batch, entry_id, count in zip(found, entry_ids, counts):
            assert entry_id, f"XADD of batch {batch.batch_id} returned {entry_id!r}"
            self.spool.remove(batch)
            self.sent_batches += 1
            self.sent_records += count
        return len(found)

    def run(self, stop: threading.Event, interval_s: float = 0.5) -> None:
        """Send until `stop` is set; Redis being away is logged and retried, the spool keeps the batches."""
        while not stop.is_set():
            try:
                if self.send_pending():
                    continue
            except redis.RedisError as err:
                log.warning("usage stream unreachable, batches stay spooled: %s", err)
            stop.wait(interval_s)
