"""Serving /metrics on loopback, and the aggregate of processes that write multiprocess files.

Choice for processes that fork or are spawned by others (sandbox runners in Ray workers):
prometheus_client's multiprocess mode. Their environment carries PROMETHEUS_MULTIPROC_DIR
(set before Ray starts, inherited by every worker); each worker writes its values to
mmap files there, and one exporter (`serve_multiprocess`) sums them on each scrape. The
control plane and the biller are single processes and serve their own registry.
"""

from __future__ import annotations

import os
import pathlib
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def serve_metrics(registry: CollectorRegistry, port: int, addr: str = "127.0.0.1") -> tuple[WSGIServer, int]:
    """Serves `registry` at http://addr:port/metrics in a daemon thread; returns the server and its port."""
    if not addr.startswith("127.") and addr != "localhost":
        raise ValueError(f"metrics address {addr!r} is not loopback; expected 127.0.0.1")
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    return server, server.server_port


def multiprocess_dir(path: str | os.PathLike) -> pathlib.Path:
    """An empty directory for multiprocess files: stale files of dead processes would be summed in."""
    root = pathlib.Path(path)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob("*.db"):
        stale.unlink()
    return root


def serve_multiprocess(path: str | os.PathLike, port: int, addr: str = "127.0.0.1") -> tuple[WSGIServer, int]:
    """Serves the sum over every process that wrote multiprocess files under `path`."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))
    return serve_metrics(registry, port, addr)
