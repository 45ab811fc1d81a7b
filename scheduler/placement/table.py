"""The node table: numpy columns by fleet slot that placement reads, and the domain index.

Built from the control plane's `Fleet` and kept in step by `sync`:
- live columns (state, drain flag, free capacity, load, running jobs) and the numeric
  columns the fleet already holds (site, class, capacity) are copied whole, vectorised;
- columns that live only in the node record (price card, compute center, node id) are
  rebuilt for the slots whose record object changed, found by an identity scan over the
  fleet's record list (C speed; a registration always stores a new record object);
- the domain index rebuilds only the domains naming a node that joined, left or re-registered.

`reserve` subtracts a placement's resources from the free columns, so that a batch of
decisions sees its own earlier choices; the next `sync` replaces them by what heartbeats
report, so a caller that needs reservations to outlive a sync applies them again.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

from shuniu.protos.v1 import nodes_pb2
from shuniu.scheduler.control_plane.fleet import READY, Fleet
from shuniu.scheduler.placement.cost import MAX_PEAK_BP, MAX_PRICE_FEN
from shuniu.scheduler.placement.domains import DomainIndex

__all__ = ["NodeTable", "SyncReport", "build_node_table", "peak_multiplier_bp"]

_STATIC_INT64 = ("cpu_fen", "memory_fen", "gpu_fen", "peak_bp")


@dataclass(frozen=True)
class SyncReport:
    records_changed: int
    domains_rebuilt: int


def peak_multiplier_bp(card: nodes_pb2.PriceCard) -> int:
    """The highest time-of-use multiplier of a card; hours outside its bands are ×1 (10,000 bp)."""
    hours = [10_000] * 24
    for band in card.bands:
        for hour in range(max(0, band.start_hour), min(24, band.end_hour)):
            hours[hour] = band.multiplier_bp
    return max(hours)


def _price_in_range(card: nodes_pb2.PriceCard, peak_bp: int) -> bool:
    prices = (card.cpu_core_hour_fen, card.memory_gb_hour_fen, card.gpu_hour_fen)
    return all(0 <= p <= MAX_PRICE_FEN for p in prices) and 0 <= peak_bp <= MAX_PEAK_BP


class NodeTable:
    """Placement's view of the fleet: one row per fleet slot; rows with `used` False are empty."""

    def __init__(self, site_order: tuple[str, ...], size: int) -> None:
        self.site_order = site_order
        self.node_ids: list[str | None] = []
        self.slot_of: dict[str, int] = {}
        self.centers: list[str] = []
        self._center_ids: dict[str, int] = {}
        self._records: list[nodes_pb2.Node | None] = []
        self.size = 0
        self.n_used = 0
        self._allocate(size)
        self.domains = DomainIndex(self.slot_of, lambda: self.compute_class)

    def _allocate(self, size: int) -> None:
        def grown(name: str, dtype) -> np.ndarray:
            new = np.zeros(size, dtype=dtype)
            old = getattr(self, name, None)
            if old is not None:
                new[: len(old)] = old
            return new

        self.used = grown("used", bool)
        self.site = grown("site", np.int64)
        self.compute_class = grown("compute_class", np.int8)
        self.state = grown("state", np.int8)
        self.draining = grown("draining", bool)
        for name in ("capacity_cpu", "capacity_memory", "capacity_gpu", "free_cpu", "free_memory", "free_gpu",
                     "load_permille", "running", "center", *_STATIC_INT64):
            setattr(self, name, grown(name, np.int64))
        # False where a price card is beyond what node registration accepts (a fleet that skipped its
        # checks): such a node costs OUT_OF_RANGE_FEN and never fits a cap.
        self.price_ok = grown("price_ok", bool)
        self.placeable = grown("placeable", bool)  # READY, not draining, registered: what the health filter reads
        self.node_ids.extend([None] * (size - self.size))
        self.size = size

    def healthy(self) -> np.ndarray:
        """bool [slot]: READY, not draining, registered."""
        return self.used & (self.state == READY) & ~self.draining

    def sync(self, fleet: Fleet) -> SyncReport:
        """Brings every column up to the fleet; see the module docstring for what is incremental."""
        assert fleet.site_order == list(self.site_order), "the fleet's site order changed"
        if len(fleet.used) > self.size:
            self._allocate(len(fleet.used))
        records = fleet.records
        seen = self._records
        seen.extend([None] * (len(records) - len(seen)))
        changed = np.flatnonzero(np.fromiter(map(operator.is_not, records, seen), dtype=bool, count=len(records)))
        touched = self._refresh_records(changed.tolist(), records)
        n = len(fleet.used)
        self.used[:n] = fleet.used
        self.site[:n] = fleet.site
        self.compute_class[:n] = fleet.compute_class
        self.state[:n] = fleet.state
        self.draining[:n] = fleet.draining
        for k, (cap, free) in enumerate((("capacity_cpu", "free_cpu"), ("capacity_memory", "free_memory"),
                                         ("capacity_gpu", "free_gpu"))):
            getattr(self, cap)[:n] = fleet.capacity[:, k]
            getattr(self, free)[:n] = fleet.free[:, k]
        load = np.nan_to_num(fleet.load.astype(np.float64), nan=1.0, posinf=1.0, neginf=0.0)
        self.load_permille[:n] = np.clip(np.rint(load * 1000.0), 0, 1000)
        self.running[:n] = fleet.running
        self.n_used = len(self.slot_of)
        np.copyto(self.placeable, self.healthy())
        rebuilt = self.domains.refresh(touched)
        return SyncReport(records_changed=len(changed), domains_rebuilt=rebuilt)

    def _refresh_records(self, slots: list[int], records: list[nodes_pb2.Node | None]) -> set[str]:
        touched: set[str] = set()
        for slot in slots:  # leavers first: a node may come back in another slot in the same sync
            old = self._records[slot]
            if old is not None:
                touched.add(old.node_id)
                if self.slot_of.get(old.node_id) == slot:
                    del self.slot_of[old.node_id]
                self.node_ids[slot] = None
        for slot in slots:
            node = records[slot]
            self._records[slot] = node
            if node is None:
                continue
            touched.add(node.node_id)
            self.slot_of[node.node_id] = slot
            self.node_ids[slot] = node.node_id
            card = node.price_card
            peak = peak_multiplier_bp(card)
            self.cpu_fen[slot], self.memory_fen[slot], self.gpu_fen[slot] = (
                card.cpu_core_hour_fen, card.memory_gb_hour_fen, card.gpu_hour_fen)
            self.peak_bp[slot] = peak
            self.price_ok[slot] = _price_in_range(card, peak)
            if not self.price_ok[slot]:
                self.cpu_fen[slot] = self.memory_fen[slot] = self.gpu_fen[slot] = self.peak_bp[slot] = 0
            self.center[slot] = self._center_ids.setdefault(node.compute_center, len(self._center_ids))
            if self.center[slot] == len(self.centers):
                self.centers.append(node.compute_center)
        return touched

    def reserve(self, slots: np.ndarray, cpu_milli: int, memory_mb: int, gpu: int) -> None:
        """Takes a placement's resources off the free columns of `slots` and counts the job as running there."""
        self.free_cpu[slots] -= cpu_milli
        self.free_memory[slots] -= memory_mb
        self.free_gpu[slots] -= gpu
        self.running[slots] += 1


def build_node_table(fleet: Fleet) -> NodeTable:
    """A node table holding every node of the fleet."""
    table = NodeTable(tuple(fleet.site_order), len(fleet.used))
    table.sync(fleet)
    return table
