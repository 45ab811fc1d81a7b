"""Every Prometheus metric of Shuniu, one registry per component.

Names start with `shuniu_` and end in their unit (`_seconds`, `_bytes`, `_fen`, `_cores`,
`_total` for counters). Labels take values from small fixed sets (site, tier, class, state,
kind, reason, outcome): never a job, node, batch or record id, so that series stay bounded
however many jobs run. Values that come from outside a fixed set pass through a
`LabelGuard`, which folds everything past its first `max_values` into "other".

Each component serves its own registry (see exporter.py), so the biller does not export the
control plane's series at zero and the other way round. What the control plane knows as a
table (the fleet) is computed at scrape time by collectors (collectors.py), not here.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import re
import sys
import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.metrics import MetricWrapperBase

CONTROL_PLANE = CollectorRegistry(auto_describe=True)
BILLER = CollectorRegistry(auto_describe=True)
NODE = CollectorRegistry(auto_describe=True)  # node-side work: sandboxes in Ray workers, agents

# Latency buckets, s: heartbeat handling is tens of µs, placement ms, sandbox start ms to s.
_FAST_S = (25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 50e-3)
_MS_S = (1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0, 2.5)
_WAIT_S = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)


class RecentValues:
    """The last `max_values` observations, for quantiles of recent behaviour (a histogram's are since start)."""

    def __init__(self, max_values: int) -> None:
        self._values: collections.deque[float] = collections.deque(maxlen=max_values)

    def add(self, value: float) -> None:
        self._values.append(value)  # deque.append is atomic: no lock for the scrape thread

    def values(self) -> list[float]:
        return list(self._values)


# A vocabulary word: letters and _ - : . (e.g. "grant_expired", "quota:max_pending_jobs",
# "chengdu-chongqing"). Ids and free text carry digits or spaces, and never pass.
_WORD = re.compile(r"[A-Za-z][A-Za-z_:.\-]{0,63}\Z")


class LabelGuard:
    """Bounds one label: the first `max_values` distinct words pass; later ones, and non-words, become "other"."""

    def __init__(self, max_values: int) -> None:
        self.max_values = max_values
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if not _WORD.match(value):
            return "other"
        with self._lock:
            if len(self._seen) < self.max_values:
                self._seen.add(value)
                return value
        return "other"


class _OneWriterCounter(Counter):
    """A Counter whose children add without the lock: for a loop that alone updates it, from one thread.

    With one writer the lock guards nothing (the scrape thread only reads a float), and on the
    placement loop it was most of the update's cost (`shuniu bench metrics`). Anything else (a
    multiprocess value, an exemplar, a bad amount) takes prometheus_client's own path.
    """

    def inc(self, amount: float = 1, exemplar: dict[str, str] | None = None) -> None:
        value = getattr(self, "_value", None)
        if type(value) is not values.MutexValue or not amount >= 0 or exemplar:
            return super().inc(amount, exemplar)
        value._value += amount


class _OneWriterHistogram(Histogram):
    """A Histogram whose children observe without locks, finding the bucket by bisection: one writing thread only."""

    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        total = getattr(self, "_sum", None)
        if type(total) is not values.MutexValue or amount != amount or exemplar:  # amount != amount: NaN
            return super().observe(amount, exemplar)
        total._value += amount
        self._buckets[bisect.bisect_left(self._upper_bounds, amount)]._value += 1  # the first bound >= amount


# -- control plane: fleet and heartbeats ------------------------------------------------------
# Nodes by state/site/class, capacity per site and per pool, heartbeat silence and the
# heartbeat counter are collected from the Fleet at scrape time (collectors.FleetCollector).
HEARTBEAT_HANDLING = Histogram(
    "shuniu_heartbeat_handling_seconds", "Time to apply one heartbeat in the control plane (one in every "
    "HEARTBEAT_SAMPLE_EVERY is timed).", buckets=_FAST_S, registry=CONTROL_PLANE)
HEARTBEAT_SAMPLE_EVERY = 64  # timing every heartbeat would cost more than the heartbeat's own bookkeeping
HEARTBEAT_TRANSIT = Histogram(
    "shuniu_heartbeat_transit_seconds", "From the agent's send time to the control plane's receipt (sampled; "
    "includes clock skew between machines).", buckets=_MS_S, registry=CONTROL_PLANE)
NODE_TRANSITIONS = Counter(
    "shuniu_node_transitions_total", "Node state changes found by the liveness sweep or a returning heartbeat, "
    "by new state.", ["state"], registry=CONTROL_PLANE)
FLEET_FLUSH = Histogram(
    "shuniu_fleet_flush_seconds", "One liveness sweep and write of changed records and live data to Redis.",
    buckets=_MS_S, registry=CONTROL_PLANE)

# -- control plane: jobs, queue, placement, admission (called from scheduler/jobs/) -------------
# Jobs by state and queue depth per tier are collected from the scheduler at scrape time
# (collectors.JobsCollector, registered by the overview service).
JOB_TRANSITIONS = Counter("shuniu_job_transitions_total", "Job state changes, by new state.", ["state"],
                          registry=CONTROL_PLANE)
# Queue wait and decisions are updated per job on the placement loop, only ever from the control
# plane's event loop: one writer, so their children take no lock.
QUEUE_WAIT = _OneWriterHistogram("shuniu_queue_wait_seconds", "From admission to placement, by the tier placed in.",
                                 ["tier"], buckets=_WAIT_S, registry=CONTROL_PLANE)
PLACEMENT = Histogram("shuniu_placement_seconds", "One placement pass over the queue.", buckets=_MS_S,
                      registry=CONTROL_PLANE)
PLACEMENT_DECISIONS = _OneWriterCounter("shuniu_placement_decisions_total", "Placement decisions, placed or blocked.",
                                        ["outcome"], registry=CONTROL_PLANE)
ADMITTED = Counter("shuniu_jobs_admitted_total", "Jobs admitted, by kind.", ["kind"], registry=CONTROL_PLANE)
ADMISSION_REFUSALS = Counter("shuniu_admission_refusals_total", "Submissions refused at admission, by reason.",
                             ["reason"], registry=CONTROL_PLANE)
SETTLEMENT_RUNS = Counter("shuniu_settlement_runs_total", "Settlement runs, by outcome.", ["outcome"],
                          registry=CONTROL_PLANE)
admission_reason = LabelGuard(64)  # reasons are a fixed vocabulary; the guard holds it to that
# Per grant, the count is on the grant's record (GrantUsage.claims_refused); here only the rule.
VERIFY_CLAIMS_REFUSED = Counter("shuniu_verify_claims_refused_total",
                                "Verification claims refused by their product's verification policy, by the rule that refused them.",
                                ["reason"], registry=CONTROL_PLANE)
# Children bound once: on the placement loop, labels() costs more than the update itself
# (about 1 µs of a 50 µs decision; `shuniu bench metrics`).
PLACEMENT_OUTCOMES = {True: PLACEMENT_DECISIONS.labels("placed"), False: PLACEMENT_DECISIONS.labels("blocked")}
QUEUE_WAIT_BY_TIER = {tier: QUEUE_WAIT.labels(f"T{tier}") for tier in (1, 2, 3, 4)}
RUN_STARTUP = Histogram("shuniu_run_startup_seconds", "Sandbox start-up as the runs' results report it to the "
                        "control plane.", buckets=_MS_S, registry=CONTROL_PLANE)

# -- node side: sandboxes (the runner runs in Ray workers: multiprocess mode) -----------------
SANDBOX_STARTUP = Histogram("shuniu_sandbox_startup_seconds", "From asking for a sandbox to the child ready, by job kind.",
                            ["kind"], buckets=_MS_S, registry=NODE)
SANDBOX_RUNS = Counter("shuniu_sandbox_runs_total", "Sandboxed runs finished, by job kind and outcome state.",
                       ["kind", "state"], registry=NODE)
SANDBOX_KILLS = Counter("shuniu_sandbox_kills_total", "Sandboxed children stopped by a limit, by reason.", ["reason"],
                        registry=NODE)
EGRESS_DENIALS = Counter("shuniu_egress_denials_total", "Outputs withheld by the egress policy, by rule.", ["reason"],
                         registry=NODE)
SANDBOX_BYTES_IN = Counter("shuniu_sandbox_input_bytes_total", "Arrow IPC bytes streamed into sandboxes.",
                           registry=NODE)
SANDBOX_ACTIVE = Gauge("shuniu_sandbox_runs_active", "Sandboxed runs in progress, summed over the node's live "
                       "worker processes.", multiprocess_mode="livesum", registry=NODE)
SANDBOX_IDLE = Gauge("shuniu_sandbox_pool_idle_children", "Pre-started sandboxes waiting for a job, summed over the "
                     "node's live worker processes; at most the pool size each, whatever the jobs' limits.",
                     multiprocess_mode="livesum", registry=NODE)
# reason: not_ready (died or late before hand-off), closed (the pool was closed).
SANDBOX_EVICTIONS = Counter("shuniu_sandbox_pool_evictions_total", "Pre-started sandboxes discarded unused, by reason.",
                            ["reason"], registry=NODE)
egress_reason = LabelGuard(16)

# -- node side: the agents of this machine (one, or a simulated fleet in one process) ---------
AGENT_NODES = Gauge("shuniu_agent_nodes", "Nodes whose agents run here, by site and the state the control plane "
                    "last gave them.", ["site", "state"], multiprocess_mode="livesum", registry=NODE)
AGENT_HEARTBEATS = Counter("shuniu_agent_heartbeats_sent", "Heartbeats the agents sent, by site.", ["site"],
                           registry=NODE)
AGENT_RECONNECTS = Counter("shuniu_agent_reconnects", "Times an agent lost the control plane and tried again, by "
                           "site.", ["site"], registry=NODE)
agent_site = LabelGuard(64)  # the 26 sites of the topology; the guard holds anything else to "other"

# -- biller and ledger ------------------------------------------------------------------------
USAGE_BATCHES = Counter("shuniu_usage_batches_total", "Usage batches the biller finished, by outcome.",
                        ["outcome"], registry=BILLER)  # posted, duplicate, dead_letter
USAGE_RECORDS_BILLED = Counter("shuniu_usage_records_billed_total", "Usage records rated and posted to the ledger.",
                               registry=BILLER)
USAGE_DEAD_LETTERS = Counter("shuniu_usage_dead_letters_total", "Usage batches sent to the dead-letter stream, by reason.",
                             ["reason"], registry=BILLER)  # a bounded set: market/billing/biller.py DEAD_LETTER_REASONS
USAGE_RECORDS_REFUSED = Counter("shuniu_usage_records_refused_total", "Usage records left out of a posted batch and not "
                                "charged, by reason: repeat (its record_id was billed before, or earlier in its batch) or "
                                "too_late (its period's record ids were forgotten).", ["reason"],
                                registry=BILLER)  # market/billing/record_ids.py REFUSAL_REASONS
BILLED_FEN = Counter("shuniu_billing_charged_fen_total", "Fen charged to buyers by posted usage batches.",
                     registry=BILLER)
REVENUE_FEN = Counter("shuniu_revenue_fen_total", "Fen credited by posted batches, by party type (holder, "
                      "compute_center, exchange, feedback_fund, …).", ["kind"], registry=BILLER)
LEDGER_POST = Histogram("shuniu_ledger_post_seconds", "One batch's atomic ledger write (Lua script).",
                        buckets=_MS_S, registry=BILLER)
BILLING_BATCH = Histogram("shuniu_billing_batch_seconds", "One usage batch: decode, rate, split and post.",
                          buckets=_MS_S, registry=BILLER)
party_kind = LabelGuard(16)
# Billing lag (oldest unbilled record) and ledger balance are read from Redis at scrape time
# (collectors.BillingCollector).

recent_run_startups_s = RecentValues(1000)


def observe_run_startup(seconds: float) -> None:
    """One run's sandbox start-up, reported to the control plane in its result."""
    RUN_STARTUP.observe(seconds)
    recent_run_startups_s.add(seconds)


REGISTRIES = {"control-plane": CONTROL_PLANE, "biller": BILLER, "node": NODE}


class _Off:
    """Stands in for a metric while updates are switched off: every update is a no-op."""

    def labels(self, *_args, **_kwargs) -> "_Off":
        return self

    def inc(self, *_args, **_kwargs) -> None:
        pass

    dec = set = observe = inc

    def time(self) -> contextlib.nullcontext:
        return contextlib.nullcontext()

    track_inprogress = time


@contextlib.contextmanager
def updates_off():
    """Swaps every metric of this module for a no-op while the block runs (`shuniu bench metrics` compares).

    Call sites read `metrics.NAME` when they run, so they see the swap; not thread-safe, for benchmarks only.
    """
    module = sys.modules[__name__]
    saved = {name: value for name, value in vars(module).items() if isinstance(value, MetricWrapperBase)
             or (isinstance(value, dict) and value and all(isinstance(v, MetricWrapperBase) for v in value.values()))}
    off = _Off()
    for name, value in saved.items():
        setattr(module, name, dict.fromkeys(value, off) if isinstance(value, dict) else off)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)

