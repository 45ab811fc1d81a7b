"""Capacity that placed jobs hold on their nodes, applied to the node table after every sync.

Heartbeats report what agents see; a job placed since counts against its nodes until it ends.
The holds are kept two ways: by node id (the truth, which survives a node changing slot) and
as per-slot columns that a sync subtracts in one vectorised step. Placing or ending a job
updates both in O(nodes of the job), so a sync costs O(fleet) numpy work whatever the number
of jobs open; the columns are rebuilt from the node-id map only when registrations changed.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from shuniu.scheduler.placement.table import NodeTable, SyncReport

__all__ = ["HeldCapacity"]

_CPU, _MEMORY, _GPU, _JOBS = range(4)


class HeldCapacity:
    """Per-node sums of (cpu_milli, memory_mb, gpu, jobs) held by SCHEDULED and RUNNING jobs."""

    def __init__(self) -> None:
        self._by_node: dict[str, np.ndarray] = {}
        self._columns = np.zeros((0, 4), dtype=np.int64)  # by table slot, valid for the table's slot_of

    def __len__(self) -> int:
        return len(self._by_node)

    def hold(self, table: NodeTable, node_ids: Iterable[str], demand: tuple[int, int, int]) -> None:
        self._change(table, node_ids, np.array([*demand, 1], dtype=np.int64))

    def release(self, table: NodeTable, node_ids: Iterable[str], demand: tuple[int, int, int]) -> None:
        self._change(table, node_ids, -np.array([*demand, 1], dtype=np.int64))

    def _change(self, table: NodeTable, node_ids: Iterable[str], delta: np.ndarray) -> None:
        for node_id in node_ids:
            row = self._by_node.get(node_id)
            row = self._by_node[node_id] = delta.copy() if row is None else row + delta
            if row[_JOBS] == 0:
                del self._by_node[node_id]
            slot = table.slot_of.get(node_id)
            if slot is not None and slot < len(self._columns):
                self._columns[slot] += delta

    def apply(self, table: NodeTable, report: SyncReport) -> None:
        """Subtracts the holds from the free columns a sync just copied from the fleet."""
        if report.records_changed or len(self._columns) != table.size:
            self._rebuild(table)
        if not self._by_node:
            return
        held = self._columns
        table.free_cpu -= held[:, _CPU]
        table.free_memory -= held[:, _MEMORY]
        table.free_gpu -= held[:, _GPU]
        table.running += held[:, _JOBS]

    def _rebuild(self, table: NodeTable) -> None:
        """Columns for the table's current slots (a node that left holds nothing placeable)."""
        self._columns = np.zeros((table.size, 4), dtype=np.int64)
        for node_id, row in self._by_node.items():
            slot = table.slot_of.get(node_id)
            if slot is not None:
                self._columns[slot] += row
