"""`shuniu bench scheduler`: placement decisions/s, vectorised vs the pure-Python reference, in one run.

Sections append figures to one Report: `placement_section` (here) measures the placer on a
synthetic fleet; `lifecycle.lifecycle_section` runs jobs end to end (submit → RUNNING
through gRPC, Redis, Ray and the sandbox) on a stack of its own.

The fleet is realistic in shape: the 18 Henan sites and 8 national hubs, compute centers
of 20–200 nodes at one site each, three compute classes, price cards cheaper at the hubs,
a few percent of nodes SUSPECT, DOWN or draining, and a few hundred data domains of one to
three centers near a home site. Both paths plan the same sample of jobs and must agree
(checked on every run) before their rates are compared.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from shuniu.bench.report import Report
from shuniu.nodes import sites as site_catalog
from shuniu.nodes.topology import RttMatrix
from shuniu.protos.v1 import common_pb2, nodes_pb2
from shuniu.scheduler.control_plane.config import LivenessConfig
from shuniu.scheduler.control_plane.fleet import DOWN, READY, SUSPECT, Fleet
from shuniu.scheduler.placement import Placer, PlacementConfig, PlacementRequest, build_node_table, site_tiers
from shuniu.scheduler.placement.reference import reference_nodes, reference_plan

__all__ = ["SyntheticFleet", "placement_section", "run_scheduler_bench", "synthetic_fleet", "synthetic_jobs"]

REFERENCE_SAMPLE_JOBS = 100
DOMAINS = 300
_NOW_S = 1_000.0
_GENERAL, _AI, _HPC = common_pb2.COMPUTE_CLASS_GENERAL, common_pb2.COMPUTE_CLASS_AI, common_pb2.COMPUTE_CLASS_HPC


@dataclass
class SyntheticFleet:
    fleet: Fleet
    domains: list[frozenset[str]]  # node ids of each data domain
    home_sites: list[str]  # each domain's home site (the default anchor)


def _center_nodes(rng: np.random.Generator, center: str, site: str, hub: bool, count: int) -> list[nodes_pb2.Node]:
    discount = 0.6 if hub else 1.0  # 东数西算: western hubs sell compute cheaper
    bands = [common_pb2.TimeOfUseBand(start_hour=8, end_hour=22, multiplier_bp=12_000)] if rng.random() < 0.5 else []
    card = common_pb2.PriceCard(cpu_core_hour_fen=max(1, int(rng.integers(8, 21) * discount)),
                                memory_gb_hour_fen=int(rng.integers(1, 4)),
                                gpu_hour_fen=max(1, int(rng.integers(500, 1501) * discount)), bands=bands)
    nodes = []
    for i, cls in enumerate(rng.choice([_GENERAL, _AI, _HPC], size=count, p=[0.7, 0.2, 0.1]).tolist()):
        cores = int(rng.choice([32, 64, 128])) if cls != _HPC else int(rng.choice([64, 128]))
        cap = common_pb2.Capacity(cpu_milli=cores * 1000, memory_mb=cores * 4096, gpu=8 if cls == _AI else 0)
        busy = rng.random()
        free = common_pb2.Capacity(cpu_milli=int(cap.cpu_milli * (1 - busy)), memory_mb=int(cap.memory_mb * (1 - busy)),
                                   gpu=int(cap.gpu * (1 - busy)))
        roll = rng.random()
        state = DOWN if roll < 0.01 else SUSPECT if roll < 0.025 else READY
        nodes.append(nodes_pb2.Node(
            node_id=f"{center}-{i:04d}", site=site, compute_class=cls, capacity=cap, free=free, price_card=card,
            state=state, draining=bool(rng.random() < 0.005), epoch=1, load=float(busy),
            running_jobs=int(rng.integers(0, 6)), compute_center=center))
    return nodes


def synthetic_fleet(n_nodes: int, seed: int = 5) -> SyntheticFleet:
    """About `n_nodes` nodes in centers of 20–200 across all sites, and DOMAINS data domains."""
    rng = np.random.default_rng(seed)
    sites = site_catalog.SITES
    weight = np.array([4.0 if s.site == "zhengzhou" else 3.0 if s.region == site_catalog.REGION_HUB else 1.0
                       for s in sites])
    fleet = Fleet(LivenessConfig(), capacity=max(1024, n_nodes))
    centers: list[tuple[str, list[str]]] = []
    made = 0
    while made < n_nodes:
        site = sites[int(rng.choice(len(sites), p=weight / weight.sum()))]
        count = min(n_nodes - made, int(rng.integers(20, 201)))
        center = f"{site.site}-c{len(centers):04d}"
        nodes = _center_nodes(rng, center, site.site, site.region == site_catalog.REGION_HUB, count)
        for node in nodes:
            fleet.upsert(node, _NOW_S)
        centers.append((site.site, [n.node_id for n in nodes]))
        made += count
    by_site: dict[str, list[int]] = {}
    for i, (site, _) in enumerate(centers):
        by_site.setdefault(site, []).append(i)
    # Data lives in Henan; a small fleet may have drawn only hubs, whose sites then hold it.
    henan = [s.site for s in sites if s.region == site_catalog.REGION_HENAN and s.site in by_site] or sorted(by_site)
    domains, homes = [], []
    for _ in range(DOMAINS):
        home = henan[int(rng.integers(len(henan)))]
        chosen = {by_site[home][int(rng.integers(len(by_site[home])))]}
        for _ in range(int(rng.integers(0, 3))):  # a backup center anywhere, often a hub
            chosen.add(int(rng.integers(len(centers))))
        domains.append(frozenset(n for c in sorted(chosen) for n in centers[c][1]))
        homes.append(home)
    return SyntheticFleet(fleet, domains, homes)


def synthetic_jobs(synthetic: SyntheticFleet, domain_ids: list[int], n_jobs: int, seed: int = 7) -> list[PlacementRequest]:
    """Jobs over random domains: mostly general, some AI and HPC, a few gangs, most with a price cap."""
    rng = np.random.default_rng(seed)
    jobs = []
    for _ in range(n_jobs):
        d = int(rng.integers(len(domain_ids)))
        cls = int(rng.choice([_GENERAL, _AI, _HPC], p=[0.7, 0.2, 0.1]))
        max_tier = int(rng.choice([2, 3, 4], p=[0.3, 0.4, 0.3]))
        preferred = int(rng.integers(1, max_tier + 1)) if rng.random() < 0.5 else 0
        cores = int(rng.integers(1, 9)) if cls != _HPC else int(rng.integers(8, 33))
        gang = int(rng.integers(2, 9)) if rng.random() < 0.02 else 1
        runtime_s = int(rng.integers(60, 7201))
        cap = int(rng.integers(20, 20_000)) * gang if rng.random() < 0.7 else None
        jobs.append(PlacementRequest(
            domain=domain_ids[d], compute_class=cls, anchor_site=synthetic.home_sites[d], max_tier=max_tier,
            cpu_milli=cores * 1000, memory_mb=cores * 2048, gpu=int(rng.integers(1, 3)) if cls == _AI else 0,
            max_runtime_s=runtime_s, preferred_tier=preferred, relax_after_s=60.0,
            submitted_s=_NOW_S - float(rng.integers(0, 120)), price_cap_fen=cap, gang_size=gang,
            group_slots=tuple(int(s) for s in rng.integers(0, len(synthetic.fleet), 3)) if rng.random() < 0.3 else (),
        ))
    return jobs


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _cpu_timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall and CPU seconds: on a shared machine the CPU time says what the code costs."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def placement_section(report: Report, n_nodes: int, n_jobs: int, step: Callable[[str], None]) -> None:
    """Adds the placement figures: decisions/s both ways on the same fleet, and the table's upkeep."""
    step(f"building a fleet of {n_nodes:,} nodes")
    synthetic = synthetic_fleet(n_nodes)
    matrix, config = RttMatrix(), PlacementConfig()
    build_s, table = _timed(lambda: build_node_table(synthetic.fleet))
    domain_ids = [table.domains.intern(d) for d in synthetic.domains]
    placer = Placer(table, site_tiers(matrix, config.bounds, table.site_order), config)
    jobs = synthetic_jobs(synthetic, domain_ids, n_jobs)

    step(f"pure-Python reference on {min(n_jobs, REFERENCE_SAMPLE_JOBS)} jobs")
    sample = jobs[:REFERENCE_SAMPLE_JOBS]
    nodes = reference_nodes(synthetic.fleet)
    ref_s, ref_cpu_s, ref = _cpu_timed(lambda: [reference_plan(nodes, synthetic.domains[domain_ids.index(j.domain)], j, _NOW_S,
                                                matrix, config) for j in sample])
    plans = [placer.plan(j, _NOW_S) for j in sample]
    disagree = sum(not (p.slots == r.slots and tuple(p.explanation.removed().items()) == r.rejections)
                   for p, r in zip(plans, ref))
    if disagree:
        raise AssertionError(f"vectorised and reference placements differ on {disagree} of {len(sample)} jobs")

    step(f"vectorised plans of {n_jobs:,} jobs")
    plan_s, plan_cpu_s, _ = _cpu_timed(lambda: [placer.plan(j, _NOW_S) for j in jobs])
    step(f"vectorised place_many of {n_jobs:,} jobs")
    many_s, decisions = _timed(lambda: placer.place_many(jobs, _NOW_S))
    sync_s, _ = _timed(lambda: table.sync(synthetic.fleet))

    ref_rate, plan_rate = len(sample) / ref_s, n_jobs / plan_s
    report.params.update(nodes=len(synthetic.fleet), jobs=n_jobs, domains=len(synthetic.domains),
                         reference_sample_jobs=len(sample), placed=sum(d.placed for d in decisions))
    report.add("placement decisions per second (vectorised)", plan_rate, "dec/s", ref_rate,
               "≥ 10,000 and ≥ 100× reference", plan_rate >= 10_000 and plan_rate >= 100 * ref_rate)
    report.add("the same per CPU-second (this process)", n_jobs / plan_cpu_s, "dec/s", len(sample) / ref_cpu_s,
               "≥ 10,000 and ≥ 100× reference",
               n_jobs / plan_cpu_s >= 10_000 and n_jobs / plan_cpu_s >= 100 * len(sample) / ref_cpu_s)
    report.add("place_many, reserving each placement", n_jobs / many_s, "dec/s", ref_rate)
    report.add("pure-Python reference (the spec), sample", ref_rate, "dec/s")
    report.add("node table build from the fleet", build_s * 1000, "ms")
    report.add("node table sync, no registration changed", sync_s * 1000, "ms")


def run_scheduler_bench(n_nodes: int, n_jobs: int, step: Callable[[str], None] = lambda _: None,
                        lifecycle_jobs: int = 0, lifecycle_nodes: int = 20, lifecycle_clients: int = 64) -> Report:
    """Every section of the scheduler benchmark in one report; the lifecycle one when `lifecycle_jobs` > 0."""
    report = Report("scheduler", "the pure-Python reference placement", {})
    placement_section(report, n_nodes, n_jobs, step)
    if lifecycle_jobs:
        from shuniu.bench.lifecycle import lifecycle_section  # noqa: PLC0415  (starts a stack of its own)

        lifecycle_section(report, lifecycle_jobs, lifecycle_nodes, step, clients=lifecycle_clients)
    return report
