"""Queue policy: fair share with decay, pass order, no head-of-line blocking, EASY backfill, runtime limits."""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shuniu.scheduler.jobs.queue_policy import (
    FairShare,
    JobQueue,
    QueuedJob,
    Resources,
    RunningJob,
    admits_backfill,
    compute_reservation,
    cpu_seconds,
    overdue,
    record_backfill,
    run_fen,
)

NODE = Resources(cpu_milli=8000, memory_mb=16_000, gpu=0)


def job(job_id: str, buyer: str = "b1", priority: int = 0, submitted_s: float = 0.0, cpu: int = 1000,
        runtime_s: int = 60, gang: int = 1, memory_mb: int = 0, gpu: int = 0) -> QueuedJob:
    return QueuedJob(job_id, buyer, priority, submitted_s, Resources(cpu, memory_mb, gpu), runtime_s, gang)


def run(job_id: str, node: str, cpu: int, started_s: float, runtime_s: int, memory_mb: int = 0) -> RunningJob:
    return RunningJob(job_id, (node,), Resources(cpu, memory_mb, 0), started_s, runtime_s)


def one_pass(queue: JobQueue, now_s: float, place: Callable[[QueuedJob], bool], **kw: int) -> list[tuple[str, bool]]:
    """Runs a pass, placing what `place` accepts; returns (job_id, placed) in the order handed out."""
    scan = queue.order(now_s, **kw)
    seen = []
    for candidate in scan:
        ok = place(candidate)
        (scan.placed if ok else scan.blocked)(candidate.job_id)
        seen.append((candidate.job_id, ok))
    return seen


# --- fair share ---------------------------------------------------------------------------------

@pytest.mark.parametrize("half_lives, fraction", [(0, 1.0), (1, 0.5), (2, 0.25), (0.5, 2**-0.5), (10, 2**-10)],
                         ids=["now", "one_half_life_halves", "two_quarter", "half_a_half_life", "ten"])
def test_decay_halves_usage_each_half_life(half_lives: float, fraction: float) -> None:
    fair = FairShare(half_life_s=600)
    fair.charge("b1", 1000.0, now_s=5_000)
    assert fair.usage("b1", 5_000 + half_lives * 600) == pytest.approx(1000.0 * fraction, rel=1e-12)


@pytest.mark.parametrize("weight, share", [(0, 120.0), (1, 120.0), (3, 40.0)], ids=["zero_means_one", "one", "three"])
def test_share_is_decayed_usage_over_weight(weight: int, share: float) -> None:
    fair = FairShare(half_life_s=60, weights={"b1": weight})
    fair.charge("b1", 240.0, now_s=0)
    assert fair.share("b1", 60) == pytest.approx(share)


def test_usage_survives_a_rescale_far_in_the_future() -> None:
    fair = FairShare(half_life_s=1)
    fair.charge("b1", 2.0**100, now_s=0)
    fair.charge("b2", 1.0, now_s=1_000)  # 1,000 half-lives on: rescales the scaled usages
    assert fair.usage("b1", 1_000) == pytest.approx(2.0**-900, rel=1e-9)
    assert fair.usage("b2", 1_001) == pytest.approx(0.5)


CHARGES = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(0, 1e6), st.integers(0, 100_000)),
                   max_size=20)


@settings(max_examples=200, deadline=None)
@given(charges=CHARGES, seed=st.integers(0, 2**32))
def test_charges_commute_and_snapshot_restores(charges: list[tuple[str, float, int]], seed: int) -> None:
    in_order, shuffled, restored = (FairShare(half_life_s=3_600) for _ in range(3))
    for buyer, amount, t in charges:
        in_order.charge(buyer, amount, t)
    for buyer, amount, t in random.Random(seed).sample(charges, len(charges)):
        shuffled.charge(buyer, amount, t)
    now_s = 200_000
    for buyer, usage in in_order.snapshot(now_s).items():
        restored.charge(buyer, usage, now_s)
    for buyer in "abc":
        expected = sum(a * 2 ** ((t - now_s) / 3_600) for b, a, t in charges if b == buyer)
        for fair in (in_order, shuffled, restored):
            assert fair.usage(buyer, now_s) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_waiting_buyers_rank_by_share_then_id() -> None:
    fair = FairShare(half_life_s=60, weights={"heavy": 4})
    for buyer in ("z-idle", "heavy", "light", "a-idle"):
        fair.set_waiting(buyer, True)
    fair.charge("heavy", 400, now_s=0)  # share 100
    fair.charge("light", 200, now_s=0)  # share 200
    assert fair.lowest_waiting(10) == ["a-idle", "z-idle", "heavy", "light"]
    fair.set_waiting("a-idle", False)
    assert fair.lowest_waiting(2) == ["z-idle", "heavy"]


@pytest.mark.parametrize("make, field", [
    (lambda: FairShare(half_life_s=0), "half_life_s"),
    (lambda: FairShare(half_life_s=60, weights={"b": -1}), "fair_share_weight"),
    (lambda: FairShare(half_life_s=60).charge("b", -5, 0), "amount"),
    (lambda: FairShare(half_life_s=60).charge("b", 5, math.nan), "now_s"),
    (lambda: job("j", priority=1001), "priority"),
    (lambda: job("j", runtime_s=0), "max_runtime_s"),
    (lambda: job("j", cpu=-1), "resources.cpu_milli"),
    (lambda: job("j", gang=-1), "gang_size"),
    (lambda: job("", buyer="b"), "job_id"),
], ids=["half_life_zero", "negative_weight", "negative_charge", "nan_time", "priority_over_1000",
        "runtime_zero", "negative_cpu", "negative_gang", "empty_job_id"])
def test_bad_values_are_refused_naming_the_field(make: Callable[[], object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make()


# --- queue order ----------------------------------------------------------------------------------

@pytest.mark.parametrize("jobs, expected", [
    ([job("j1", priority=1), job("j2", priority=900), job("j3", priority=500)], ["j2", "j3", "j1"]),
    ([job("late", submitted_s=20), job("early", submitted_s=10)], ["early", "late"]),
    ([job("j9", submitted_s=5), job("j10", submitted_s=5)], ["j10", "j9"]),
    ([job("old-low", priority=0, submitted_s=0), job("new-high", priority=1000, submitted_s=99)],
     ["new-high", "old-low"]),
], ids=["priority_desc", "then_submit_time", "then_job_id", "priority_beats_age"])
def test_priority_order_within_a_buyer(jobs: list[QueuedJob], expected: list[str]) -> None:
    queue = JobQueue(FairShare(half_life_s=600))
    for queued in jobs:
        queue.add(queued)
    assert [job_id for job_id, _ in one_pass(queue, 0, lambda _: True)] == expected
    assert len(queue) == 0


@pytest.mark.parametrize("weights, expected", [
    ({}, "abababab"),
    ({"b": 3}, "abbbabbb"),
    ({"a": 2}, "abaabaab"),
], ids=["equal_weights_alternate", "weight_3_takes_three_turns", "weight_2_takes_two"])
def test_one_pass_interleaves_buyers_by_weight(weights: dict[str, int], expected: str) -> None:
    queue = JobQueue(FairShare(half_life_s=600, weights=weights))
    for i in range(8):
        queue.add(job(f"a{i}", buyer="a", submitted_s=i))
        queue.add(job(f"b{i}", buyer="b", submitted_s=i))
    order = one_pass(queue, 0, lambda _: True, max_scan=8)
    assert "".join(job_id[0] for job_id, _ in order) == expected


@pytest.mark.parametrize("b_usage, first", [(200, "a1"), (100, "b1")], ids=["old_usage_decayed_below", "still_above"])
def test_pass_starts_with_the_buyer_of_lowest_decayed_share(b_usage: float, first: str) -> None:
    fair = FairShare(half_life_s=100)
    fair.charge("a", 1000, now_s=0)  # decays to 125 by t=300
    fair.charge("b", b_usage, now_s=300)
    queue = JobQueue(fair)
    queue.add(job("a1", buyer="a"))
    queue.add(job("b1", buyer="b"))
    assert one_pass(queue, 300, lambda _: False)[0][0] == first


def test_blocked_big_job_does_not_stall_small_ones() -> None:
    queue = JobQueue(FairShare(half_life_s=600))
    queue.add(job("big", buyer="a", priority=1000, cpu=64_000))
    for i in range(3):
        queue.add(job(f"a-small{i}", buyer="a", cpu=1000, submitted_s=i))
        queue.add(job(f"b-small{i}", buyer="b", cpu=1000, submitted_s=i))
    free = [8000]
    order = one_pass(queue, 0, lambda j: j.resources.cpu_milli <= free[0])
    assert order[0] == ("big", False)
    assert sorted(job_id for job_id, placed in order if placed) == sorted(
        [f"a-small{i}" for i in range(3)] + [f"b-small{i}" for i in range(3)])
    assert list(queue._jobs) == ["big"]


def test_a_buyer_of_unplaceable_jobs_gives_up_its_turn() -> None:
    queue = JobQueue(FairShare(half_life_s=600))
    for i in range(50):
        queue.add(job(f"a{i:02}", buyer="a", gpu=8))
    queue.add(job("b0", buyer="b"))
    order = one_pass(queue, 0, lambda j: j.resources.gpu == 0, max_scan=10, max_blocked_per_buyer=4)
    assert order == [("a00", False), ("a01", False), ("a02", False), ("a03", False), ("b0", True)]


def test_pass_hands_out_at_most_max_scan_and_keeps_blocked_jobs() -> None:
    queue = JobQueue(FairShare(half_life_s=600))
    for i in range(30):
        queue.add(job(f"j{i:02}", buyer=f"b{i % 3}"))
    assert len(one_pass(queue, 0, lambda _: False, max_scan=7)) == 7
    assert len(queue) == 30


def test_candidates_must_be_reported_in_turn() -> None:
    queue = JobQueue(FairShare(half_life_s=600))
    queue.add(job("j1"))
    queue.add(job("j2", submitted_s=1))
    scan = queue.order(0)
    assert next(scan).job_id == "j1"
    with pytest.raises(RuntimeError, match="report job j1"):
        next(scan)
    with pytest.raises(RuntimeError, match="j2 is not the pending candidate"):
        scan.blocked("j2")
    with pytest.raises(ValueError, match="already queued"):
        queue.add(job("j1"))


QUEUES = st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 1000), st.integers(0, 50)), max_size=60)


@settings(max_examples=200, deadline=None)
@given(entries=QUEUES, seed=st.integers(0, 2**32))
def test_pass_hands_out_every_job_once_in_rank_order_per_buyer(entries: list[tuple[str, int, int]], seed: int) -> None:
    queue = JobQueue(FairShare(half_life_s=600, weights={"b": 2, "c": 5}))
    jobs = [job(f"j{i}", buyer=b, priority=p, submitted_s=t) for i, (b, p, t) in enumerate(entries)]
    for queued in jobs:
        queue.add(queued)
    rng = random.Random(seed)
    order = one_pass(queue, 0, lambda _: rng.random() < 0.5, max_scan=len(jobs) + 1, max_blocked_per_buyer=10**6)
    assert sorted(job_id for job_id, _ in order) == sorted(j.job_id for j in jobs)
    by_id = {j.job_id: j for j in jobs}
    for buyer in "abcd":
        keys = [by_id[job_id].rank_key for job_id, _ in order if by_id[job_id].buyer_id == buyer]
        assert keys == sorted(keys)
    assert sorted(queue._jobs) == sorted(job_id for job_id, placed in order if not placed)


def _calls_in_one_pass(queue: JobQueue, max_scan: int) -> int:
    """Python and C function calls made by one pass that blocks every candidate."""
    calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        calls += event in ("call", "c_call")

    sys.setprofile(count)
    try:
        handed_out = len(one_pass(queue, 0, lambda _: False, max_scan=max_scan))
    finally:
        sys.setprofile(None)
    assert handed_out == max_scan
    return calls


@pytest.mark.parametrize("buyers", [100, None], ids=["100_buyers", "a_buyer_per_job"])
def test_one_pass_over_100k_jobs_does_bounded_work(buyers: int | None) -> None:
    calls = {}
    for size in (2_000, 100_000):
        queue = JobQueue(FairShare(half_life_s=600))
        for i in range(size):
            queue.add(job(f"j{i}", buyer=f"b{i % buyers if buyers else i}", priority=i % 7, submitted_s=i))
        calls[size] = _calls_in_one_pass(queue, max_scan=1000)
    # Sorted-list lookups grow with log(n); the work per candidate does not grow with the queue.
    assert calls[100_000] <= 1.5 * calls[2_000]
    assert calls[100_000] <= 100 * 1000


# --- backfill -------------------------------------------------------------------------------------

RUNNING = [run("r1", "n1", 6000, started_s=0, runtime_s=100), run("r2", "n1", 2000, started_s=0, runtime_s=50),
           run("r3", "n2", 8000, started_s=0, runtime_s=300)]


@pytest.mark.parametrize("big, free, running, start_s, nodes, spare_cpu", [
    (job("big", cpu=4000), {"n1": Resources(4000)}, [], 10, ("n1",), 0),
    (job("big", cpu=6000), {"n1": Resources(0), "n2": Resources(0)}, RUNNING, 100, ("n1",), 2000),
    (job("big", cpu=2000), {"n1": Resources(0), "n2": Resources(0)}, RUNNING, 50, ("n1",), 0),
    (job("big", cpu=7000, gang=2), {"n1": Resources(0), "n2": Resources(0)}, RUNNING, 300, ("n1", "n2"), 1000),
    (job("big", cpu=9000), {"n1": Resources(0), "n2": Resources(0)}, RUNNING, None, (), 0),
    (job("big", cpu=8000, gang=3), {"n1": Resources(0), "n2": Resources(0)}, RUNNING, None, (), 0),
    (job("big", cpu=8000), {"n2": Resources(0)}, [run("late", "n2", 8000, started_s=-500, runtime_s=100)],
     10, ("n2",), 0),
], ids=["fits_now", "after_the_first_job_on_n1_ends", "after_the_shorter_job", "gang_waits_for_both",
        "never_fits", "gang_larger_than_nodes", "overdue_job_frees_now"])
def test_reservation_starts_when_the_big_job_first_fits(big: QueuedJob, free: dict[str, Resources],
                                                        running: list[RunningJob], start_s: float | None,
                                                        nodes: tuple[str, ...], spare_cpu: int) -> None:
    reservation = compute_reservation(big, free, running, now_s=10)
    if start_s is None:
        assert reservation is None
        return
    assert (reservation.start_s, reservation.node_ids) == (max(start_s, 10), nodes)
    assert all(spare.cpu_milli == spare_cpu for spare in reservation.spare.values())


@pytest.mark.parametrize("node, candidate, admitted", [
    ("n1", job("short", cpu=2000, runtime_s=100), True),
    ("n1", job("long-fits-spare", cpu=2000, runtime_s=500), True),
    ("n1", job("long-too-big", cpu=3000, runtime_s=500), False),
    ("n2", job("other-node", cpu=8000, runtime_s=500), True),
], ids=["ends_by_shadow_time", "outlives_but_fits_spare", "outlives_and_takes_reserved", "unreserved_node"])
def test_admits_backfill(node: str, candidate: QueuedJob, admitted: bool) -> None:
    reservation = compute_reservation(job("big", cpu=6000), {"n1": Resources(1000)},
                                      [run("r1", "n1", 7000, started_s=0, runtime_s=100)], now_s=0)
    assert (reservation.start_s, reservation.spare["n1"].cpu_milli) == (100, 2000)
    assert admits_backfill(reservation, node, candidate, now_s=0) is admitted
    assert admits_backfill(None, node, candidate, now_s=0)


def test_spare_is_used_up_by_backfills_that_outlive_the_shadow_time() -> None:
    reservation = compute_reservation(job("big", cpu=6000), {"n1": Resources(1000)},
                                      [run("r1", "n1", 7000, started_s=0, runtime_s=100)], now_s=0)
    first, second = job("long1", cpu=1000, runtime_s=500), job("long2", cpu=1500, runtime_s=500)
    record_backfill(reservation, "n1", first, now_s=0)
    assert not admits_backfill(reservation, "n1", second, now_s=0)
    record_backfill(reservation, "n1", job("short", cpu=8000, runtime_s=50), now_s=0)
    assert reservation.spare["n1"] == Resources(1000, 0, 0)


NODE_IDS = ["n0", "n1", "n2", "n3"]
RES = st.builds(Resources, st.sampled_from([0, 1000, 2000, 4000, 8000]), st.sampled_from([0, 4000, 16_000]),
                st.integers(0, 2))


def _fleet_and_running(draw: st.DrawFn) -> tuple[dict[str, Resources], list[RunningJob]]:
    free = {node: NODE + Resources(0, 0, 2) for node in NODE_IDS[: draw(st.integers(1, 4))]}
    running = []
    for i in range(draw(st.integers(0, 10))):
        node, held = draw(st.sampled_from(sorted(free))), draw(RES)
        if held.fits_in(free[node]):
            free[node] -= held
            running.append(RunningJob(f"r{i}", (node,), held, draw(st.integers(-200, 0)), draw(st.integers(1, 400))))
    return free, running


@st.composite
def backfill_scenarios(draw: st.DrawFn) -> tuple:
    free, running = _fleet_and_running(draw)
    big = QueuedJob("big", "a", 1000, 0, draw(RES), 600, draw(st.integers(1, len(free))))
    candidates = [(draw(st.sampled_from(sorted(free))), QueuedJob(f"c{i}", "b", 0, 0, draw(RES), draw(st.integers(1, 600))))
                  for i in range(draw(st.integers(0, 12)))]
    return free, running, big, candidates


def _backfill(free: dict[str, Resources], running: list[RunningJob], big: QueuedJob, candidates: list,
              check: bool) -> tuple[float, float | None]:
    """Reserved start before and after placing every candidate that fits now (and, if `check`, is admitted)."""
    before = compute_reservation(big, free, running, now_s=0)
    free, running = dict(free), list(running)
    for node, candidate in candidates:
        if candidate.resources.fits_in(free[node]) and (not check or admits_backfill(before, node, candidate, 0)):
            if check:
                record_backfill(before, node, candidate, now_s=0)
            free[node] -= candidate.resources
            running.append(RunningJob(candidate.job_id, (node,), candidate.resources, 0, candidate.max_runtime_s))
    after = compute_reservation(big, free, running, now_s=0)
    return before.start_s, after.start_s if after else None


@settings(max_examples=400, deadline=None)
@given(scenario=backfill_scenarios())
def test_backfill_never_delays_the_reserved_start(scenario: tuple) -> None:
    free, running, big, candidates = scenario
    if compute_reservation(big, free, running, now_s=0) is None:
        return
    before_s, after_s = _backfill(free, running, big, candidates, check=True)
    assert after_s is not None and after_s <= before_s


def test_unchecked_backfill_would_delay_the_reserved_start() -> None:
    free = {"n1": Resources(2000, 16_000, 0)}
    running = [run("r1", "n1", 6000, started_s=0, runtime_s=100)]
    candidates = [("n1", job("long", cpu=2000, runtime_s=500))]
    assert _backfill(free, running, job("big", cpu=8000), candidates, check=False) == (100, 500)
    assert _backfill(free, running, job("big", cpu=8000), candidates, check=True) == (100, 100)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_reservation_is_the_earliest_time_enough_nodes_fit(data: st.DataObject) -> None:
    free, running = _fleet_and_running(data.draw)
    big = QueuedJob("big", "a", 1000, 0, data.draw(RES), 600, data.draw(st.integers(1, len(free))))
    reservation = compute_reservation(big, free, running, now_s=0)

    def nodes_fitting_at(t: float) -> set[str]:
        return {node for node, now_free in free.items()
                if big.resources.fits_in(sum((r.resources for r in running if node in r.node_ids and max(r.end_s, 0) <= t),
                                             now_free))}

    events = sorted({0.0} | {max(r.end_s, 0.0) for r in running})
    enough = [t for t in events if len(nodes_fitting_at(t)) >= big.nodes]
    if reservation is None:
        assert not enough
        return
    assert reservation.start_s == enough[0]
    assert set(reservation.node_ids) <= nodes_fitting_at(reservation.start_s)
    assert len(reservation.node_ids) == big.nodes


# --- runtime limit ----------------------------------------------------------------------------------

@pytest.mark.parametrize("now_s, grace_s, expected", [
    (99, 0, []),
    (100, 0, ["a"]),
    (250, 0, ["a", "gang", "b"]),
    (250, 60, ["a", "gang"]),
], ids=["within_limit", "at_limit", "longest_overdue_first_gang_once", "grace"])
def test_overdue(now_s: float, grace_s: float, expected: list[str]) -> None:
    running = [run("b", "n1", 1000, started_s=50, runtime_s=200), run("a", "n1", 1000, started_s=0, runtime_s=100),
               RunningJob("gang", ("n2", "n3"), Resources(1000), started_s=60, max_runtime_s=120)]
    assert overdue(running, now_s, grace_s) == expected


# --- simulated cluster ------------------------------------------------------------------------------

class Cluster:
    """Nodes with free capacity and running jobs, advanced one tick at a time."""

    def __init__(self, nodes: int) -> None:
        self.free = {f"n{i}": NODE for i in range(nodes)}
        self.running: dict[str, tuple[RunningJob, str, float]] = {}  # job -> (record, buyer, actual end)

    def first_fit(self, candidate: QueuedJob, now_s: float, allowed: Callable[[str], bool] = lambda _: True) -> str | None:
        for node, free in self.free.items():
            if candidate.resources.fits_in(free) and allowed(node):
                return node
        return None

    def start(self, candidate: QueuedJob, node: str, now_s: float, actual_s: float) -> None:
        self.free[node] -= candidate.resources
        record = RunningJob(candidate.job_id, (node,), candidate.resources, now_s, candidate.max_runtime_s)
        self.running[candidate.job_id] = (record, candidate.buyer_id, now_s + actual_s)

    def finish(self, now_s: float) -> None:
        for job_id, (record, _, end_s) in list(self.running.items()):
            if end_s <= now_s or job_id in overdue([record], now_s):
                self.free[record.node_ids[0]] += record.resources
                del self.running[job_id]


def _simulate_fair_share(weights: dict[str, int], seed: int, duration_s: int = 6_000,
                         warmup_s: int = 2_000) -> dict[str, float]:
    """CPU-seconds each buyer used after `warmup_s` on a 4-node cluster where both always have work waiting."""
    rng = random.Random(seed)
    fair = FairShare(half_life_s=300, weights=weights)
    queue, cluster = JobQueue(fair), Cluster(nodes=4)
    used = dict.fromkeys(weights, 0.0)
    serial = 0
    for now_s in range(duration_s):
        cluster.finish(now_s)
        for record, buyer, _ in cluster.running.values():
            fair.charge(buyer, cpu_seconds(record.resources, 1), now_s)
            if now_s >= warmup_s:
                used[buyer] += cpu_seconds(record.resources, 1)
        for buyer in weights:
            while sum(j.buyer_id == buyer for j in queue._jobs.values()) < 20:
                serial += 1
                queue.add(job(f"{buyer}{serial}", buyer=buyer, submitted_s=now_s, cpu=rng.choice([1000, 2000, 4000]),
                              runtime_s=rng.randint(10, 60), priority=rng.randint(0, 3)))
        scan = queue.order(now_s, max_scan=40)
        for candidate in scan:
            node = cluster.first_fit(candidate, now_s)
            if node is None:
                scan.blocked(candidate.job_id)
                continue
            cluster.start(candidate, node, now_s, actual_s=rng.uniform(0.5, 1.0) * candidate.max_runtime_s)
            scan.placed(candidate.job_id)
    return used


@pytest.mark.parametrize("weights, ratio", [({"a": 1, "b": 1}, 1.0), ({"a": 1, "b": 3}, 3.0)],
                         ids=["equal_weights", "weights_1_to_3"])
def test_fair_share_between_two_buyers_converges_to_their_weights(weights: dict[str, int], ratio: float) -> None:
    used = _simulate_fair_share(weights, seed=7)
    assert used["b"] / used["a"] == pytest.approx(ratio, rel=0.05)
    assert sum(used.values()) >= 0.8 * 4 * 8 * 4_000  # the cluster stayed busy: 4 nodes × 8 cores × 4,000 s


@pytest.mark.parametrize("estimated_fen, seconds, max_runtime_s, fen", [
    (600, 30.0, 60, 300.0), (600, 60.0, 60, 600.0), (600, 90.0, 60, 600.0), (600, -1.0, 60, 0.0), (0, 30.0, 60, 0.0),
], ids=["half_the_runtime_half_the_estimate", "whole_runtime", "overrun_counts_no_more_than_the_estimate",
        "clock_step_back_counts_nothing", "free_node_costs_nothing"])
def test_a_run_is_charged_its_estimate_in_fen_pro_rata(estimated_fen: int, seconds: float, max_runtime_s: int,
                                                        fen: float) -> None:
    assert run_fen(estimated_fen, seconds, max_runtime_s) == pytest.approx(fen)


def test_fair_share_in_fen_puts_the_buyer_of_dear_nodes_behind() -> None:
    """Equal CPU-seconds, unequal bills: billed units, not CPU-seconds, decide who goes next."""
    fair = FairShare(half_life_s=600, unit="fen")
    queue = JobQueue(fair)
    queue.add(job("a1", buyer="a"))
    queue.add(job("b1", buyer="b"))
    fair.charge("a", run_fen(4_000, 60.0, 60), 0.0)  # an hour-rate AI card for a minute
    fair.charge("b", run_fen(100, 60.0, 60), 0.0)  # a cheap CPU card for the same minute
    assert [candidate for candidate, _ in one_pass(queue, 0.0, lambda _: False)] == ["b1", "a1"]


@pytest.mark.parametrize("args, field", [((-1, 1.0, 60), "estimated_fen"), ((1, 1.0, 0), "max_runtime_s"),
                                         ((1, math.nan, 60), "seconds")], ids=["negative_fen", "zero_runtime", "nan"])
def test_run_fen_refuses_bad_values_naming_the_field(args: tuple, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        run_fen(*args)


def _big_job_scenario(check: bool) -> tuple[float, float, int]:
    """A big job behind small ones: (its first reserved start, when it started, small jobs started before it)."""
    rng = random.Random(3)
    queue, cluster = JobQueue(FairShare(half_life_s=600)), Cluster(nodes=2)
    for i, (node, cpu, runtime_s) in enumerate([("n0", 4000, 120), ("n0", 2000, 300), ("n1", 6000, 200)]):
        cluster.start(job(f"old{i}", buyer="c", cpu=cpu, runtime_s=runtime_s), node, 0, runtime_s)
    queue.add(job("big", buyer="a", priority=1000, cpu=8000, runtime_s=600))
    for i in range(60):
        queue.add(job(f"small{i:02}", buyer="b", cpu=rng.choice([1000, 2000]), runtime_s=rng.choice([30, 90, 400]),
                      submitted_s=i))
    first_reserved_s, backfilled = None, 0
    for now_s in range(2_000):
        cluster.finish(now_s)
        reservation = None
        scan = queue.order(now_s)
        for candidate in scan:
            def allowed(node: str) -> bool:
                return not check or admits_backfill(reservation, node, candidate, now_s)

            node = cluster.first_fit(candidate, now_s, allowed)
            if node is None:
                scan.blocked(candidate.job_id)
                if reservation is None:
                    running = [record for record, _, _ in cluster.running.values()]
                    reservation = compute_reservation(candidate, cluster.free, running, now_s)
                    first_reserved_s = first_reserved_s if first_reserved_s is not None else reservation.start_s
                continue
            if candidate.job_id == "big":
                return first_reserved_s if first_reserved_s is not None else now_s, now_s, backfilled
            if check:
                record_backfill(reservation, node, candidate, now_s)
            cluster.start(candidate, node, now_s, candidate.max_runtime_s)
            backfilled += 1
            scan.placed(candidate.job_id)
    raise AssertionError("the big job never started")


def test_big_job_starts_by_its_reserved_time_while_small_jobs_backfill() -> None:
    reserved_s, started_s, backfilled = _big_job_scenario(check=True)
    assert reserved_s == 200  # n1 frees first
    assert started_s <= reserved_s
    assert backfilled >= 5


def test_without_the_reservation_small_jobs_starve_the_big_job() -> None:
    reserved_s, started_s, _ = _big_job_scenario(check=False)
    assert started_s > reserved_s
