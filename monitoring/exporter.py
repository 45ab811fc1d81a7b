"""Serving /metrics on loopback, and a node's /metrics summed over the processes that work for it.

The control plane and the biller are single processes and serve their own registry.

A node's work runs in Ray worker processes that the raylet starts and stops (sandbox runs),
beside the agent. They use prometheus_client's multiprocess mode: their environment carries
PROMETHEUS_MULTIPROC_DIR (the raylet's, inherited by every worker, or a runtime_env), so each
writes its values to mmap files there, and the node's exporter (`serve_node_metrics`) sums
every process's files on each scrape. Gauges written there declare a live mode ("livesum"):
the files of a dead worker are dropped (`mark_process_dead`) before each scrape, while its
counters and histograms stay in the sum, so that totals never go backwards.
"""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Iterable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server, values
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from shuniu.monitoring import metrics

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db$")
_SUMMABLE_GAUGE_MODES = frozenset({"livesum", "sum"})


def serve_metrics(registry: CollectorRegistry, port: int, addr: str = "127.0.0.1") -> tuple[WSGIServer, int]:
    """Serves `registry` at http://addr:port/metrics in a daemon thread; returns the server and its port."""
    if not addr.startswith("127.") and addr != "localhost":
        raise ValueError(f"metrics address {addr!r} is not loopback; expected 127.0.0.1")
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    return server, server.server_port


def multiprocess_dir(path: str | os.PathLike) -> pathlib.Path:
    """An empty directory for multiprocess files: stale files of an earlier run would be summed in."""
    root = pathlib.Path(path)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob("*.db"):
        stale.unlink()
    return root


def writes_multiprocess_files() -> bool:
    """Whether this process's own metric values live in multiprocess files (the variable was set at import)."""
    return values.ValueClass is not values.MutexValue


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def reap_dead_processes(path: str | os.PathLike) -> list[int]:
    """Drops the live-gauge files of processes that exited; returns their pids."""
    pids = {int(m.group(1)) for f in os.listdir(path) if (m := _LIVE_GAUGE_FILE.match(f))}
    dead = sorted(pid for pid in pids if not _alive(pid))
    for pid in dead:
        mark_process_dead(pid, str(path))
    return dead


def _summed(families: Iterable[Metric]) -> Iterator[Metric]:
    """One family per name, samples with the same name and labels added up (`_created` dropped: not summable)."""
    merged: dict[str, tuple[Metric, dict[tuple, float]]] = {}
    for family in families:
        _, sums = merged.setdefault(family.name, (Metric(family.name, family.documentation, family.type), {}))
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            key = (sample.name, tuple(sorted(sample.labels.items())))
            sums[key] = sums.get(key, 0.0) + sample.value
    for family, sums in merged.values():
        for (name, labels), value in sums.items():
            family.add_sample(name, dict(labels), value)
        yield family


class NodeCollector:
    """A node's series: the NODE registry's metrics summed over every process writing under `path`.

    Only the node's metric names pass: a worker imports every metric definition, and Ray's own
    processes may write there too. This process's values are added from memory unless they
    already are in files of its own.
    """

    def __init__(self, path: str | os.PathLike, registry: CollectorRegistry = metrics.NODE) -> None:
        self.path = pathlib.Path(path)
        self.registry = registry
        self.names = {family.name for family in registry.collect()}
        for collector in set(registry._collector_to_names):  # a misdefined gauge would be summed wrongly
            mode = getattr(collector, "_multiprocess_mode", "livesum")
            if getattr(collector, "_type", "") == "gauge" and mode not in _SUMMABLE_GAUGE_MODES:
                raise ValueError(f"gauge {collector._name} has multiprocess_mode {mode!r}; expected livesum or sum")

    def collect(self) -> Iterator[Metric]:
        reap_dead_processes(self.path)
        files = MultiProcessCollector(None, str(self.path)).collect()
        node = (family for family in files if family.name in self.names)
        local = () if writes_multiprocess_files() else self.registry.collect()
        yield from _summed([*node, *local])


def serve_node_metrics(path: str | os.PathLike, port: int, addr: str = "127.0.0.1") -> tuple[WSGIServer, int]:
    """Serves a node's /metrics: its processes' multiprocess files under `path`, summed, plus this process."""
    registry = CollectorRegistry()
    registry.register(NodeCollector(path))
    return serve_metrics(registry, port, addr)
