"""Round-trip-time probes and load sources of a node agent.

A real agent measures TCP connect time to peer agents; a simulated one (the local stack,
where every agent shares one machine) draws from the geographic model with jitter.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Mapping
from typing import Protocol

from shuniu.nodes import topology


class RttProbe(Protocol):
    async def measure(self) -> dict[str, float]:
        """Round-trip times in ms from this node's site to other sites."""
        ...


class SimulatedRttProbe:
    """Model RTT × (1 ± jitter): stands in for measurement when all agents share one host."""

    def __init__(self, site: str, rng: random.Random, jitter: float = 0.05, matrix: topology.RttMatrix | None = None):
        self.site = site
        self.rng = rng
        self.jitter = jitter
        self.matrix = matrix or topology.RttMatrix()

    async def measure(self) -> dict[str, float]:
        out = {}
        for other in topology.site_ids():
            if other != self.site:
                base = self.matrix.model_rtt_ms(self.site, other)
                out[other] = max(0.01, base * (1.0 + self.rng.uniform(-self.jitter, self.jitter)))
        return out


class TcpRttProbe:
    """Times a TCP connect (SYN → SYN-ACK, one round trip) to a peer agent at each site."""

    def __init__(self, targets: Mapping[str, tuple[str, int]], timeout_s: float = 1.0, attempts: int = 3) -> None:
        for site in targets:
            topology.get_site(site)
        self.targets = dict(targets)
        self.timeout_s = timeout_s
        self.attempts = attempts

    async def _connect_ms(self, host: str, port: int) -> float | None:
        start = time.perf_counter()
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), self.timeout_s)
        except (OSError, asyncio.TimeoutError):
            return None
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        writer.close()
        return elapsed_ms

    async def measure(self) -> dict[str, float]:
        out = {}
        for site, (host, port) in self.targets.items():
            samples = [s for s in [await self._connect_ms(host, port) for _ in range(self.attempts)] if s is not None]
            if samples:
                out[site] = min(samples)  # the least-delayed attempt is the closest to the path's RTT
        return out


async def serve_probe_endpoint(host: str, port: int) -> asyncio.AbstractServer:
    """A listener that accepts and closes connections, so peers can time a round trip to us."""

    async def _close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    return await asyncio.start_server(_close, host, port)


class HostLoad:
    """Load of the real host: 1-minute load average per core."""

    def __call__(self) -> float:
        return os.getloadavg()[0] / (os.cpu_count() or 1)


class SimulatedLoad:
    """A bounded random walk, so that a simulated fleet shows varied load."""

    def __init__(self, rng: random.Random, start: float | None = None) -> None:
        self.rng = rng
        self.value = rng.uniform(0.05, 0.6) if start is None else start

    def __call__(self) -> float:
        self.value = min(0.98, max(0.0, self.value + self.rng.uniform(-0.05, 0.05)))
        return self.value
