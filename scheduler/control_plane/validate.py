"""Checks of NodeService requests at the edge: pure functions that raise RequestError."""

from __future__ import annotations

import math
import re

from shuniu.market.rating.tables import MAX_BAND_MULTIPLIER_BP, MAX_COMPUTE_PRICE_FEN
from shuniu.nodes import topology
from shuniu.protos.v1 import common_pb2, nodes_pb2
from shuniu.scheduler.control_plane.errors import invalid

_NODE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_LABEL_KEY = re.compile(r"^[a-z0-9][a-z0-9._/-]{0,62}$")
_MAX_LABELS = 32
_MAX_LABEL_VALUE = 256
_MAX_REQUEST_ID = 128
_MAX_RTT_SAMPLES = 64
# Largest single node we accept: keeps sums over a 200k-node fleet far from int64 overflow.
_MAX_CPU_MILLI = 100_000_000
_MAX_MEMORY_MB = 1 << 32
_MAX_GPU = 4096

CLASS_NAMES = {
    common_pb2.COMPUTE_CLASS_GENERAL: "general",
    common_pb2.COMPUTE_CLASS_AI: "ai",
    common_pb2.COMPUTE_CLASS_HPC: "hpc",
}


def request_id(value: str) -> None:
    if not value:
        raise invalid("request_id is empty; expected a unique id per logical request (e.g. a UUID), reused on retry")
    if len(value) > _MAX_REQUEST_ID:
        raise invalid(f"request_id has {len(value)} characters; expected at most {_MAX_REQUEST_ID}")


def node_id(value: str) -> None:
    if not value:
        raise invalid("node_id is empty; expected 1-63 characters of a-z, 0-9, '.', '_' or '-'")
    if not _NODE_ID.match(value):
        raise invalid(
            f"node_id {value!r} is malformed; expected 1-63 characters of a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit"
        )


def site(value: str, field: str = "site") -> None:
    if value not in topology.site_ids():
        known = ", ".join(sorted(topology.site_ids()))
        shown = repr(value) if value else "empty"
        raise invalid(f"{field} {shown} unknown; expected one of {known}")


def compute_class(value: int) -> None:
    if value not in CLASS_NAMES:
        raise invalid(f"compute_class {value} unknown; expected one of general (1), ai (2), hpc (3)")


def capacity(cap: common_pb2.Capacity, field: str, require_positive: bool) -> None:
    for name, value, bound in (
        ("cpu_milli", cap.cpu_milli, _MAX_CPU_MILLI),
        ("memory_mb", cap.memory_mb, _MAX_MEMORY_MB),
        ("gpu", cap.gpu, _MAX_GPU),
    ):
        if value < 0:
            raise invalid(f"{field}.{name} is {value}; expected ≥ 0")
        if value > bound:
            raise invalid(f"{field}.{name} is {value}; expected at most {bound}")
    if require_positive and (cap.cpu_milli == 0 or cap.memory_mb == 0):
        raise invalid(f"{field} must have cpu_milli > 0 and memory_mb > 0; got {cap.cpu_milli} and {cap.memory_mb}")


def price_card(card: common_pb2.PriceCard) -> None:
    for name in ("cpu_core_hour_fen", "memory_gb_hour_fen", "gpu_hour_fen"):
        value = getattr(card, name)
        if not 0 <= value <= MAX_COMPUTE_PRICE_FEN:  # what the biller rates: a card above it could not be billed
            raise invalid(f"price_card.{name} is {value:,}; expected 0..{MAX_COMPUTE_PRICE_FEN:,} fen "
                          f"({MAX_COMPUTE_PRICE_FEN // 100:,} yuan) per unit-hour")
    covered = [False] * 24
    for i, band in enumerate(card.bands):
        if not (0 <= band.start_hour < band.end_hour <= 24):
            raise invalid(
                f"price_card.bands[{i}] hours {band.start_hour}-{band.end_hour} invalid; "
                "expected 0 ≤ start_hour < end_hour ≤ 24"
            )
        if not 0 < band.multiplier_bp <= MAX_BAND_MULTIPLIER_BP:
            raise invalid(f"price_card.bands[{i}].multiplier_bp is {band.multiplier_bp}; expected 1..{MAX_BAND_MULTIPLIER_BP}")
        for hour in range(band.start_hour, band.end_hour):
            if covered[hour]:
                raise invalid(f"price_card.bands[{i}] overlaps another band at hour {hour}; bands must not overlap")
            covered[hour] = True


def labels(values: dict[str, str]) -> None:
    if len(values) > _MAX_LABELS:
        raise invalid(f"{len(values)} labels; expected at most {_MAX_LABELS}")
    for key, value in values.items():
        if not _LABEL_KEY.match(key):
            raise invalid(f"label key {key!r} is malformed; expected 1-63 characters of a-z, 0-9, '.', '_', '/' or '-'")
        if len(value) > _MAX_LABEL_VALUE:
            raise invalid(f"label {key!r} value has {len(value)} characters; expected at most {_MAX_LABEL_VALUE}")


def register(req: nodes_pb2.RegisterRequest) -> None:
    request_id(req.request_id)
    node_id(req.node_id)
    site(req.site)
    compute_class(req.compute_class)
    capacity(req.capacity, "capacity", require_positive=True)
    if req.compute_class == common_pb2.COMPUTE_CLASS_AI and req.capacity.gpu < 1:
        raise invalid("compute_class ai needs capacity.gpu ≥ 1; register a CPU-only node as general or hpc")
    price_card(req.price_card)
    labels(dict(req.labels))
    if len(req.probe_address) > 255 or len(req.compute_center) > 128:
        raise invalid("probe_address or compute_center too long; expected at most 255 and 128 characters")


def heartbeat(req: nodes_pb2.HeartbeatRequest, known_site_ids: frozenset[str]) -> None:
    """Checks the parts of a heartbeat that do not need the fleet's state."""
    capacity(req.free, "free", require_positive=False)
    if not (math.isfinite(req.load) and 0.0 <= req.load <= 1000.0):
        raise invalid(f"load is {req.load}; expected a finite number in [0, 1000]")
    if req.running_jobs < 0:
        raise invalid(f"running_jobs is {req.running_jobs}; expected ≥ 0")
    if len(req.rtts) > _MAX_RTT_SAMPLES:
        raise invalid(f"{len(req.rtts)} rtt samples; expected at most {_MAX_RTT_SAMPLES} per heartbeat")
    for sample in req.rtts:
        if sample.site not in known_site_ids:
            raise invalid(f"rtts site {sample.site!r} unknown; expected one of {', '.join(sorted(known_site_ids))}")
        if not (math.isfinite(sample.rtt_ms) and 0.0 <= sample.rtt_ms <= 10_000.0):
            raise invalid(f"rtt_ms to {sample.site} is {sample.rtt_ms}; expected a finite number in [0, 10000]")


def page_size(value: int, default: int = 100, maximum: int = 1000) -> int:
    if value < 0:
        raise invalid(f"page_size is {value}; expected 0 (default {default}) to {maximum}")
    return min(value or default, maximum)
