"""A simulated fleet: many node agents in one process, spread over the province's sites.

Used by the local stack and the heartbeat benchmark. Each agent holds its own heartbeat
stream; agents share a few channels so that the fleet needs a handful of connections.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
import dataclasses
import os
from dataclasses import dataclass


from shuniu.nodes import topology
from shuniu.nodes.agent import AgentStopped, NodeAgent, NodeSpec
from shuniu.nodes.probes import SimulatedLoad, SimulatedRttProbe
from shuniu.nodes.product_verifier import ProductVerifier
from shuniu.protos.v1 import common_pb2
from shuniu.security import signing
from shuniu.security.tls import ClientTls, aio_channel

CLASS_BY_NAME = {"general": common_pb2.COMPUTE_CLASS_GENERAL, "ai": common_pb2.COMPUTE_CLASS_AI,
                 "hpc": common_pb2.COMPUTE_CLASS_HPC}

# Typical node shapes and list prices (fen per unit-hour) of each class.
_SHAPES = {
    common_pb2.COMPUTE_CLASS_GENERAL: (common_pb2.Capacity(cpu_milli=32_000, memory_mb=128 * 1024),
                                       common_pb2.PriceCard(cpu_core_hour_fen=12, memory_gb_hour_fen=2)),
    common_pb2.COMPUTE_CLASS_AI: (common_pb2.Capacity(cpu_milli=64_000, memory_mb=512 * 1024, gpu=8),
                                  common_pb2.PriceCard(cpu_core_hour_fen=12, memory_gb_hour_fen=2, gpu_hour_fen=1800)),
    common_pb2.COMPUTE_CLASS_HPC: (common_pb2.Capacity(cpu_milli=128_000, memory_mb=256 * 1024),
                                   common_pb2.PriceCard(cpu_core_hour_fen=15, memory_gb_hour_fen=2)),
}
_AGENTS_PER_CHANNEL = 500


def parse_mix(text: str) -> dict[int, int]:
    """"general=70,ai=20,hpc=10" → weights by compute class."""
    weights: dict[int, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if name.strip() not in CLASS_BY_NAME:
            raise ValueError(f"class {name.strip()!r} unknown in mix; expected general, ai or hpc")
        try:
            weight = int(value)
        except ValueError:
            raise ValueError(f"weight of {name.strip()} is {value!r}; expected a whole number ≥ 0") from None
        if weight < 0:
            raise ValueError(f"weight of {name.strip()} is {weight}; expected ≥ 0")
        weights[CLASS_BY_NAME[name.strip()]] = weight
    if not weights or sum(weights.values()) == 0:
        raise ValueError(f"mix {text!r} has no positive weight; expected e.g. general=70,ai=20,hpc=10")
    return weights


def site_weights() -> dict[str, float]:
    """Zhengzhou and Luoyang host most compute; every other site some."""
    weights = {}
    for site in topology.site_ids():
        region = topology.get_site(site).region
        weights[site] = {"zhengzhou": 20.0, "luoyang": 10.0}.get(site, 50.0 / 16 if region == "henan" else 20.0 / 8)
    return weights


@dataclass(frozen=True)
class FleetPlan:
    count: int
    mix: Mapping[int, int]
    seed: int = 7
    prefix: str = "sim"

    def specs(self) -> list[NodeSpec]:
        rng = random.Random(self.seed)
        sites = list(site_weights().items())
        classes = list(self.mix.items())
        specs = []
        for i in range(self.count):
            site = rng.choices([s for s, _ in sites], [w for _, w in sites])[0]
            cls = rng.choices([c for c, _ in classes], [w for _, w in classes])[0]
            capacity, price = _SHAPES[cls]
            specs.append(NodeSpec(
                node_id=f"{self.prefix}-{site}-{i:05d}", site=site, compute_class=cls, capacity=capacity,
                price_card=price, labels={"simulated": "true"}, compute_center=f"{site}-dc",
            ))
        return specs


async def run_fleet(address: str, plan: FleetPlan, stop: asyncio.Event, interval_s: float | None = None,
                    rtt_every_s: float = 60.0, verify_products_every_s: float | None = 5.0,
                    tls: ClientTls | None = None, usage_key_dir: str | os.PathLike | None = None) -> list[NodeAgent]:
    """Runs every agent of the plan until `stop` is set; staggers starts over one interval.

    One product verifier speaks for the whole fleet (one catalog poll, not one per agent): it
    verifies registered products whose files a simulated node holds on this machine. Under mTLS
    (`tls`) the fleet presents one certificate binding every node id it hosts (e.g. `sim-*`).
    """
    specs = plan.specs()
    if usage_key_dir is not None:  # each node registers the key its job runs sign usage with
        specs = [dataclasses.replace(s, usage_public_key=signing.load_or_create(
            signing.node_key_path(usage_key_dir, s.node_id)).public_raw) for s in specs]
    channels = [aio_channel(address, tls) for _ in range(max(1, -(-len(specs) // _AGENTS_PER_CHANNEL)))]
    agents = []
    for i, spec in enumerate(specs):
        rng = random.Random(plan.seed * 1_000_003 + i)
        agents.append(NodeAgent(spec, channels[i // _AGENTS_PER_CHANNEL], load=SimulatedLoad(rng),
                                probe=SimulatedRttProbe(spec.site, rng), rtt_every_s=rtt_every_s,
                                interval_s=interval_s, rng=rng))
    stagger_s = (interval_s or 5.0) / max(1, len(agents))

    async def _one(i: int, agent: NodeAgent) -> None:
        await asyncio.sleep(i * stagger_s)
        try:
            await agent.run(stop)
        except AgentStopped as err:
            agent.stats.stopped_for = str(err)

    verifier = (asyncio.create_task(ProductVerifier([s.node_id for s in specs], channels[0],
                                                    interval_s=verify_products_every_s).run(stop))
                if verify_products_every_s else None)
    try:
        await asyncio.gather(*(_one(i, a) for i, a in enumerate(agents)))
    finally:
        if verifier is not None:
            verifier.cancel()
            await asyncio.gather(verifier, return_exceptions=True)
        for channel in channels:
            await channel.close()
    return agents
