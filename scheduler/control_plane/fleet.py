"""The live fleet in memory: node records plus numpy columns for liveness and capacity.

Pure state: time comes in as an argument, Redis stays in NodeStore. Columns are indexed
by slot so that liveness sweeps and pool sums run vectorised over the whole fleet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shuniu.nodes import topology
from shuniu.protos.v1 import nodes_pb2
from shuniu.scheduler.control_plane.config import LivenessConfig

READY = nodes_pb2.NODE_STATE_READY
SUSPECT = nodes_pb2.NODE_STATE_SUSPECT
DOWN = nodes_pb2.NODE_STATE_DOWN


@dataclass(frozen=True)
class Transition:
    node_id: str
    old_state: int
    new_state: int


# Layout of one node's live status as stored in Redis: packed in bulk, without a Python loop.
LIVE_DTYPE = np.dtype([
    ("last_heartbeat_unix_ms", "<i8"), ("free_cpu_milli", "<i8"), ("free_memory_mb", "<i8"), ("free_gpu", "<i8"),
    ("load", "<f8"), ("running_jobs", "<i8"),
])


@dataclass(frozen=True)
class LiveStatus:
    """What the latest heartbeat said; written to Redis in batches."""

    last_heartbeat_unix_ms: int
    free_cpu_milli: int
    free_memory_mb: int
    free_gpu: int
    load: float
    running_jobs: int


class Fleet:
    """Every registered node: its record (as stored) and its live columns."""

    def __init__(self, liveness: LivenessConfig, capacity: int = 1024) -> None:
        self.liveness = liveness
        self._site_index = {s: i for i, s in enumerate(sorted(topology.site_ids()))}
        self.site_order = sorted(topology.site_ids())
        self.slots: dict[str, int] = {}
        self.records: list[nodes_pb2.Node | None] = []
        self._free_slots: list[int] = []
        n = capacity
        self.used = np.zeros(n, dtype=bool)
        self.last_seen_s = np.zeros(n, dtype=np.float64)  # monotonic clock
        self.state = np.zeros(n, dtype=np.int8)
        self.draining = np.zeros(n, dtype=bool)
        self.epoch = np.zeros(n, dtype=np.int64)
        self.site = np.zeros(n, dtype=np.int16)
        self.compute_class = np.zeros(n, dtype=np.int8)
        self.capacity = np.zeros((n, 3), dtype=np.int64)
        self.free = np.zeros((n, 3), dtype=np.int64)
        self.load = np.zeros(n, dtype=np.float32)
        self.running = np.zeros(n, dtype=np.int32)
        self.last_heartbeat_ms = np.zeros(n, dtype=np.int64)
        self.dirty: set[int] = set()
        # Counts changes of shape (nodes added, replaced, removed, changing state); heartbeats, which
        # only move free capacity and load, leave it alone. Readers resync what depends on shape only.
        self.generation = 0

    def __len__(self) -> int:
        return len(self.slots)

    def _grow(self) -> None:
        n = len(self.used) * 2
        for name in ("used", "last_seen_s", "state", "draining", "epoch", "site", "compute_class",
                     "load", "running", "last_heartbeat_ms"):
            old = getattr(self, name)
            new = np.zeros(n, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)
        for name in ("capacity", "free"):
            old = getattr(self, name)
            new = np.zeros((n, 3), dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def upsert(self, node: nodes_pb2.Node, now_s: float) -> int:
        """Adds or replaces a node record; its live columns start from the record."""
        slot = self.slots.get(node.node_id)
        if slot is None:
            if self._free_slots:
                slot = self._free_slots.pop()
            else:
                slot = len(self.records)
                if slot >= len(self.used):
                    self._grow()
                self.records.append(None)
            self.slots[node.node_id] = slot
        self.records[slot] = node
        self.generation += 1
        self.used[slot] = True
        self.last_seen_s[slot] = now_s
        self.state[slot] = node.state
        self.draining[slot] = node.draining
        self.epoch[slot] = node.epoch
        self.site[slot] = self._site_index[node.site]
        self.compute_class[slot] = node.compute_class
        self.capacity[slot] = (node.capacity.cpu_milli, node.capacity.memory_mb, node.capacity.gpu)
        self.free[slot] = (node.free.cpu_milli, node.free.memory_mb, node.free.gpu)
        self.load[slot] = node.load
        self.running[slot] = node.running_jobs
        self.last_heartbeat_ms[slot] = node.last_heartbeat_unix_ms
        return slot

    def remove(self, node_id: str) -> None:
        slot = self.slots.pop(node_id)
        self.generation += 1
        self.records[slot] = None
        self.used[slot] = False
        self.state[slot] = 0
        self.dirty.discard(slot)
        self._free_slots.append(slot)

    def record(self, node_id: str) -> nodes_pb2.Node | None:
        slot = self.slots.get(node_id)
        return None if slot is None else self.records[slot]

    def apply_heartbeat(self, slot: int, hb: nodes_pb2.HeartbeatRequest, now_s: float, now_ms: int) -> Transition | None:
        """Records a heartbeat; a SUSPECT node that speaks again is READY."""
        self.last_seen_s[slot] = now_s
        self.last_heartbeat_ms[slot] = now_ms
        free = hb.free
        self.free[slot] = (free.cpu_milli, free.memory_mb, free.gpu)
        self.load[slot] = hb.load
        self.running[slot] = hb.running_jobs
        self.dirty.add(slot)
        if self.state[slot] == SUSPECT:
            return self.set_state(slot, READY)
        return None

    def set_state(self, slot: int, new_state: int) -> Transition:
        record = self.records[slot]
        assert record is not None, "state change on an empty slot"
        old = int(self.state[slot])
        self.generation += 1
        self.state[slot] = new_state
        record.state = new_state
        return Transition(record.node_id, old, new_state)

    def sweep(self, now_s: float) -> list[Transition]:
        """Marks silent nodes SUSPECT, then DOWN; returns the transitions to persist."""
        silent_s = now_s - self.last_seen_s
        live = self.used & (self.state != DOWN)
        to_down = np.flatnonzero(live & (silent_s > self.liveness.down_after_s))
        to_suspect = np.flatnonzero(live & (self.state == READY) & (silent_s > self.liveness.suspect_after_s)
                                    & (silent_s <= self.liveness.down_after_s))
        transitions = [self.set_state(int(s), DOWN) for s in to_down]
        transitions += [self.set_state(int(s), SUSPECT) for s in to_suspect]
        return transitions

    def take_dirty_live(self) -> tuple[list[str], np.ndarray]:
        """Node ids and packed live statuses (LIVE_DTYPE rows) of nodes that heartbeated since the last call."""
        slots = np.fromiter(self.dirty, dtype=np.int64, count=len(self.dirty))
        self.dirty = set()
        slots = slots[self.used[slots]]
        rows = np.empty(len(slots), dtype=LIVE_DTYPE)
        rows["last_heartbeat_unix_ms"] = self.last_heartbeat_ms[slots]
        rows["free_cpu_milli"] = self.free[slots, 0]
        rows["free_memory_mb"] = self.free[slots, 1]
        rows["free_gpu"] = self.free[slots, 2]
        rows["load"] = self.load[slots]
        rows["running_jobs"] = self.running[slots]
        return [self.records[s].node_id for s in slots.tolist()], rows  # type: ignore[union-attr]

    def snapshot(self, slot: int) -> nodes_pb2.Node:
        """The stored record merged with the live columns, as clients see it."""
        record = self.records[slot]
        assert record is not None
        node = nodes_pb2.Node()
        node.CopyFrom(record)
        cpu, mem, gpu = (int(v) for v in self.free[slot])
        node.free.cpu_milli, node.free.memory_mb, node.free.gpu = cpu, mem, gpu
        node.load = float(self.load[slot])
        node.running_jobs = int(self.running[slot])
        node.last_heartbeat_unix_ms = int(self.last_heartbeat_ms[slot])
        node.state = int(self.state[slot])
        return node

    def placeable(self) -> np.ndarray:
        """Slots that may take new work: READY and not draining."""
        return self.used & (self.state == READY) & ~self.draining

    def site_sums(self) -> dict[str, np.ndarray]:
        """Per site (in `site_order`): ready and total node counts, capacity and free of placeable nodes."""
        n_sites = len(self.site_order)
        ok = self.placeable()
        used = self.used
        sums = {
            "nodes_ready": np.bincount(self.site[ok], minlength=n_sites),
            "nodes_total": np.bincount(self.site[used], minlength=n_sites),
        }
        for name, column in (("capacity", self.capacity), ("free", self.free)):
            sums[name] = np.stack(
                [np.bincount(self.site[ok], weights=column[ok, k], minlength=n_sites) for k in range(3)], axis=1
            ).astype(np.int64)
        return sums
