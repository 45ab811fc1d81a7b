"""Label cardinality stays bounded: 10,000 synthetic jobs with random ids add only series of the label domains.

Each job goes through the metric updates of the job layer (admission, placement, transitions,
run start-up), the sandbox runner (`_counted`: outcome, kill reason, egress rule), the agent
(site) and the biller (revenue by party), with labels computed as those paths compute them.
"""

from __future__ import annotations

import random
import uuid

import pytest

from shuniu.monitoring import metrics
from shuniu.nodes import topology
from shuniu.nodes.sandbox import egress
from shuniu.nodes.sandbox.runner import _counted
from shuniu.nodes.sandbox.types import SandboxMetrics, SandboxOutcome, SandboxStatus
from shuniu.scheduler.jobs import lifecycle, spec_rules

JOBS = 10_000
_RULES = [v for k, v in vars(egress).items() if k.startswith("DENY_")]
_KILLS = ["wall_timeout", "cpu_limit", "memory_limit", "oversize"]
_REFUSALS = ["grant_expired", "grant_revoked", "budget_exhausted", "quota_exceeded", "negative_list", "price_cap",
             "no_node_in_domain", "tier_unreachable", "limit_max_rows", "limit_max_calls"]
_PARTIES = ["buyer", "holder", "compute_center", "exchange", "feedback_fund", "subsidy"]
_PATHS = ([lifecycle.ADMITTED, lifecycle.SCHEDULED, lifecycle.RUNNING, lifecycle.SUCCEEDED],
          [lifecycle.ADMITTED, lifecycle.SCHEDULED, lifecycle.ADMITTED, lifecycle.CANCELLED],
          [lifecycle.ADMITTED, lifecycle.SCHEDULED, lifecycle.RUNNING, lifecycle.EGRESS_DENIED],
          [lifecycle.ADMITTED, lifecycle.FAILED])


def series(registry) -> dict[str, set[tuple]]:
    """Label sets per metric family (buckets and _sum/_count of one histogram series count once)."""
    found: dict[str, set[tuple]] = {}
    for family in registry.collect():
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k not in ("le", "quantile")))
            found.setdefault(family.name, set()).add(labels)
    return found


def _count(registry) -> int:
    return sum(len(s) for s in series(registry).values())


def _one_job(rng: random.Random, ids: list[str]) -> None:
    job_id, record_id = f"job-{uuid.uuid4().hex}", f"rec-{uuid.uuid4().hex}"
    ids += [job_id, record_id]
    kind = rng.choice(list(spec_rules.KIND_ARGS))
    # Sites come from the topology, now and then a typo or an id where a site belongs.
    site = rng.choice([*topology.site_ids(), f"site-{job_id}"]) if rng.random() < 0.05 else rng.choice(topology.site_ids())
    metrics.AGENT_HEARTBEATS.labels(metrics.agent_site(site)).inc()
    if rng.random() < 0.1:  # refused at admission; now and then a reason that names the job
        reason = rng.choice([*_REFUSALS, f"grant_missing:{job_id}"])
        metrics.ADMISSION_REFUSALS.labels(metrics.admission_reason(reason)).inc()
        return
    metrics.ADMITTED.labels(spec_rules.KIND_ARGS[kind]).inc()
    for state in rng.choice(_PATHS):
        metrics.JOB_TRANSITIONS.labels(lifecycle.name(state).lower()).inc()
        if state == lifecycle.SCHEDULED:
            tier = rng.randint(1, 4)
            metrics.PLACEMENT_OUTCOMES[rng.random() < 0.9].inc()
            metrics.QUEUE_WAIT_BY_TIER[tier].observe(rng.random() * 100)
    metrics.observe_run_startup(rng.random() / 10)
    _sandbox_run(rng, spec_rules.KIND_ARGS[kind], job_id)
    for party in rng.sample(_PARTIES, 3):  # the biller labels revenue by the account's kind, never its owner
        account = f"{party}:{record_id}"
        metrics.REVENUE_FEN.labels(metrics.party_kind(account.split(":", 1)[0])).inc(rng.randint(1, 10_000))
    metrics.USAGE_BATCHES.labels(rng.choice(["posted", "duplicate", "dead_letter"])).inc()


def _sandbox_run(rng: random.Random, kind: str, job_id: str) -> None:
    status = rng.choice(list(SandboxStatus))
    reason, verdict = f"ran job {job_id}", None
    if status in (SandboxStatus.TIMEOUT, SandboxStatus.KILLED, SandboxStatus.OVERSIZE):
        reason = f"{rng.choice(_KILLS)}: job {job_id} stopped after {rng.random():.3f} s"
    elif status is SandboxStatus.EGRESS_DENIED:
        verdict = egress.EgressVerdict(False, rng.choice(_RULES), f"job {job_id}: withheld")
    metrics.SANDBOX_STARTUP.labels(kind).observe(rng.random() / 10)
    _counted(kind, SandboxOutcome(status, reason, SandboxMetrics(), verdict=verdict))


def _bound(family: str) -> int:
    """Most label sets a family may have: the product of its labels' domains."""
    domains = {"state": 8, "kind": max(len(spec_rules.KIND_ARGS), 16 + 1), "tier": 4, "outcome": 3,
               "site": 64 + 1, "reason": 64 + 1}
    metric = next(m for r in metrics.REGISTRIES.values() for m in r._collector_to_names if getattr(m, "_name", "") == family)
    size = 1
    for label in metric._labelnames:
        size *= domains[label]
    return size


@pytest.mark.parametrize("registry_name", sorted(metrics.REGISTRIES))
def test_ten_thousand_jobs_with_random_ids_add_only_bounded_series(registry_name):
    registry = metrics.REGISTRIES[registry_name]
    rng, ids = random.Random(7), []
    before = _count(registry)
    for _ in range(JOBS):
        _one_job(rng, ids)
    after = series(registry)
    for family, label_sets in after.items():
        assert len(label_sets) <= _bound(family), f"{family}: {len(label_sets)} series"
    values = {v for label_sets in after.values() for labels in label_sets for _, v in labels}
    assert not values & set(ids), "a job or record id became a label value"
    assert not any("job-" in v or "rec-" in v for v in values)
    grown = sum(len(s) for s in after.values()) - before
    assert grown < 600, f"{registry_name}: {grown} new series for {JOBS} jobs"
    for _ in range(JOBS):  # the domains are used up: another 10,000 jobs add nothing
        _one_job(rng, ids)
    assert _count(registry) == sum(len(s) for s in after.values())
