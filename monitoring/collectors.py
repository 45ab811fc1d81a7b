"""Metrics computed at scrape time from state that already exists: the fleet, the usage stream, the ledger,
the exchange's event streams and the audit log.

Collecting on scrape costs nothing on the hot paths (a heartbeat updates numpy columns and
nothing else) and is always as fresh as the state it reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

Resources = tuple[float, float, float]  # cpu cores, memory bytes, gpus


@dataclass(frozen=True)
class FleetSnapshot:
    """What the fleet collector exports, as plain data (built by the control plane from its Fleet)."""

    nodes: dict[tuple[str, str, str], int]  # (site, class, state) -> nodes
    capacity: dict[tuple[str, str], tuple[Resources, Resources]]  # (site, class) -> (capacity, free) of placeable nodes
    pools: dict[tuple[str, str], tuple[int, Resources, Resources]]  # (anchor site, tier) -> (ready nodes, capacity, free)
    silence_max_s: dict[str, float]  # site -> longest silence of its live (not DOWN) nodes
    heartbeats: int  # heartbeats applied since the process started


_RESOURCE_NAMES = (("cpu_cores", "CPU cores"), ("memory_bytes", "memory"), ("gpus", "GPUs"))
FLEET_METRIC_NAMES = ("shuniu_nodes", "shuniu_heartbeats_total", "shuniu_heartbeat_silence_max_seconds",
                      "shuniu_pool_nodes", *(f"shuniu_{scope}_{unit}" for scope in ("capacity", "pool")
                                             for unit, _ in _RESOURCE_NAMES))
JOBS_METRIC_NAMES = ("shuniu_jobs", "shuniu_queue_jobs")
BILLING_METRIC_NAMES = ("shuniu_billing_lag_seconds", "shuniu_ledger_debits_fen", "shuniu_ledger_credits_fen",
                        "shuniu_ledger_imbalance_fen")
AUDIT_METRIC_NAMES = ("shuniu_events_total", "shuniu_audit_lag_seconds", "shuniu_audit_entries_total",
                      "shuniu_audit_checkpoint_age_seconds")


class FleetCollector:
    """Nodes by state/site/class, capacity per site and pool, heartbeat silence: one snapshot per scrape."""

    def __init__(self, snapshot: Callable[[], FleetSnapshot]) -> None:
        self._snapshot = snapshot

    def describe(self) -> list[Metric]:
        return []  # unchecked: the names are fixed above and the values only exist at scrape time

    def collect(self) -> Iterator[Metric]:
        s = self._snapshot()
        nodes = GaugeMetricFamily("shuniu_nodes", "Registered nodes by site, compute class and state.",
                                  labels=["site", "class", "state"])
        for labels, count in sorted(s.nodes.items()):
            nodes.add_metric(list(labels), count)
        yield nodes
        yield from _resources("capacity", "of placeable (ready, undrained) nodes per site and class",
                              ["site", "class"], s.capacity.items())
        pool_nodes = GaugeMetricFamily("shuniu_pool_nodes", "Ready nodes in the pool of an anchor site and tier.",
                                       labels=["site", "tier"])
        for labels, (ready, _, _) in sorted(s.pools.items()):
            pool_nodes.add_metric(list(labels), ready)
        yield pool_nodes
        yield from _resources("pool", "in the pool of an anchor site (label site) and tier", ["site", "tier"],
                              ((k, (cap, free)) for k, (_, cap, free) in s.pools.items()))
        silence = GaugeMetricFamily("shuniu_heartbeat_silence_max_seconds",
                                    "Longest time since the last heartbeat among a site's live nodes.", labels=["site"])
        for site, seconds in sorted(s.silence_max_s.items()):
            silence.add_metric([site], seconds)
        yield silence
        yield CounterMetricFamily("shuniu_heartbeats", "Heartbeats applied by this control plane.", value=s.heartbeats)


@dataclass(frozen=True)
class JobsSnapshot:
    """The scheduler's open jobs as the jobs collector exports them (built in scheduler/control_plane/overview.py)."""

    by_state: dict[str, int]  # state name (lower case) -> open jobs; every open state, zero included
    queued_by_tier: dict[str, int]  # "T1".."T4" -> admitted jobs waiting whose latest accepted tier it is


class JobsCollector:
    """Jobs by state and queue depth per tier, read from the scheduler on each scrape."""

    def __init__(self, snapshot: Callable[[], JobsSnapshot | None]) -> None:
        self.snapshot = snapshot

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot()
        if s is None:
            return
        jobs = GaugeMetricFamily("shuniu_jobs", "Jobs the scheduler holds, by state (ended jobs leave the gauge).",
                                 labels=["state"])
        for state, count in sorted(s.by_state.items()):
            jobs.add_metric([state], count)
        yield jobs
        queue = GaugeMetricFamily("shuniu_queue_jobs", "Admitted jobs waiting for placement, by the latest tier "
                                  "they accept.", labels=["tier"])
        for tier, count in sorted(s.queued_by_tier.items()):
            queue.add_metric([tier], count)
        yield queue


def _resources(scope: str, what: str, labels: list[str], rows) -> Iterator[Metric]:
    rows = sorted(rows)
    for k, (unit, title) in enumerate(_RESOURCE_NAMES):
        family = GaugeMetricFamily(f"shuniu_{scope}_{unit}", f"{title} {what}; kind capacity or free.",
                                   labels=[*labels, "kind"])
        for key, (capacity, free) in rows:
            family.add_metric([*key, "capacity"], capacity[k])
            family.add_metric([*key, "free"], free[k])
        yield family


def _stream_id_ms(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-")[0])


def unbilled(client, stream: str, group: str) -> tuple[int | None, int]:
    """(Unix ms of the oldest usage entry not yet billed or None, entries not yet billed) of a consumer group.

    Not yet billed: pending in the group (delivered, not acknowledged) or not yet delivered;
    before any biller made the group, everything on the stream.
    """
    oldest, waiting = [], 0
    try:
        pending = client.xpending(stream, group)
    except Exception as err:  # noqa: BLE001  (redis-py's ResponseError; this module imports no client)
        if not absent_stream(err):
            raise
        first = client.xrange(stream, count=1)
        return (_stream_id_ms(first[0][0]) if first else None), int(client.xlen(stream))
    if pending and pending.get("pending"):
        oldest.append(_stream_id_ms(pending["min"]))
        waiting += int(pending["pending"])
    groups = {g["name"].decode() if isinstance(g["name"], bytes) else g["name"]: g for g in client.xinfo_groups(stream)}
    last = groups[group]["last-delivered-id"]
    last = last.decode() if isinstance(last, bytes) else last
    after = client.xrange(stream, min=f"({last}", count=1)
    if after:
        oldest.append(_stream_id_ms(after[0][0]))
        waiting += int(groups[group].get("lag") or 0)
    return (min(oldest) if oldest else None), waiting


def absent_stream(err: Exception) -> bool:
    """Whether a Redis error says the usage stream or its group does not exist yet (nothing to bill)."""
    text = str(err).lower()
    return "no such key" in text or "nogroup" in text


class BillingCollector:
    """Billing lag and ledger balance, read from Redis on each scrape (a few small commands)."""

    def __init__(self, client, stream: str, group: str, debits_key: str, credits_key: str) -> None:
        self.client, self.stream, self.group = client, stream, group
        self.debits_key, self.credits_key = debits_key, credits_key

    def describe(self) -> list[Metric]:
        return []

    def oldest_unbilled_ms(self) -> int | None:
        """Unix ms of the oldest usage entry not yet billed: pending in the group, or not yet delivered."""
        return unbilled(self.client, self.stream, self.group)[0]

    def collect(self) -> Iterator[Metric]:
        try:
            oldest_ms = self.oldest_unbilled_ms()
        except Exception as err:  # noqa: BLE001  (no group yet: nothing waits)
            if not absent_stream(err):
                raise
            oldest_ms = None
        lag_s = 0.0 if oldest_ms is None else max(0.0, time.time() - oldest_ms / 1000)
        yield GaugeMetricFamily("shuniu_billing_lag_seconds", "Age of the oldest usage record not yet billed "
                                "(0 when none waits).", value=lag_s)
        debits = sum(int(v) for v in self.client.hvals(self.debits_key))
        credits = sum(int(v) for v in self.client.hvals(self.credits_key))
        yield GaugeMetricFamily("shuniu_ledger_debits_fen", "Sum of all debits in the ledger.", value=debits)
        yield GaugeMetricFamily("shuniu_ledger_credits_fen", "Sum of all credits in the ledger.", value=credits)
        yield GaugeMetricFamily("shuniu_ledger_imbalance_fen", "Debits minus credits over the whole ledger; "
                                "anything but 0 is a bug.", value=debits - credits)


# KEYS: the audit chainer's cursors (hash source -> last stream id chained), the audit log's head,
# then one stream per source; ARGV: the sources' names. Returns the head's seq and checkpoint_ms,
# then per source {entries ever added, id of the oldest entry past its cursor or ""}: one round
# trip, and no entry's fields (a usage batch is megabytes) cross the network on a scrape.
_EVENTS_LUA = """
local head = redis.call('HMGET', KEYS[2], 'seq', 'checkpoint_ms')
local out = {tonumber(head[1] or '0'), tonumber(head[2] or '0')}
for i, name in ipairs(ARGV) do
  local key, added, oldest = KEYS[i + 2], 0, ''
  if redis.call('TYPE', key).ok == 'stream' then
    local info = redis.call('XINFO', 'STREAM', key)
    for j = 1, #info, 2 do
      if info[j] == 'entries-added' then added = info[j + 1] end
    end
    local cursor = redis.call('HGET', KEYS[1], name)
    local first = redis.call('XRANGE', key, cursor and '(' .. cursor or '-', '+', 'COUNT', 1)
    if first[1] then oldest = first[1][1] end
  end
  out[i + 2] = {added, oldest}
end
return out
"""


class AuditCollector:
    """The exchange's event streams and how far the audit log has chained them, read from Redis on each scrape.

    `streams` maps each source's name (a bounded word: grants, certificates, vouchers, credit,
    fees, settlement, …) to its stream; every state change of the exchange rules is an entry on one.
    """

    def __init__(self, client, streams: dict[str, str], cursors_key: str, head_key: str) -> None:
        self.streams = dict(sorted(streams.items()))
        self.keys = [cursors_key, head_key, *self.streams.values()]
        self._script = client.register_script(_EVENTS_LUA)

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        seq, checkpoint_ms, *found = self._script(keys=self.keys, args=list(self.streams))
        now_ms = time.time() * 1000
        events = CounterMetricFamily("shuniu_events", "State changes the exchange wrote to its event streams, by "
                                     "source (grants, certificates, vouchers, credit, fees, settlement, …).",
                                     labels=["kind"])
        lag = GaugeMetricFamily("shuniu_audit_lag_seconds", "Age of a source's oldest event not yet chained into the "
                                "audit log (0 when none waits).", labels=["kind"])
        for name, (added, oldest) in zip(self.streams, found):
            events.add_metric([name], int(added))
            lag.add_metric([name], max(0.0, (now_ms - _stream_id_ms(oldest)) / 1000) if oldest else 0.0)
        yield events
        yield lag
        yield CounterMetricFamily("shuniu_audit_entries", "Entries chained into the audit log.", value=seq)
        if checkpoint_ms:
            yield GaugeMetricFamily("shuniu_audit_checkpoint_age_seconds", "Time since the last signed checkpoint of "
                                    "the audit log.", value=max(0.0, (now_ms - checkpoint_ms) / 1000))
