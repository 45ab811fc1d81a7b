"""Data domains interned once, and the index (domain, compute class) → node slots.

A data domain is the set of node ids allowed to hold a product's raw data (原始数据不出域 —
raw data never leaves its domain); a job reading several products runs in the
intersection of their domains, interned the same way. The index is the domain and
compute-class filters applied ahead of time, so a decision starts from a few hundred slots
instead of the whole fleet.

Incremental: when a node joins, leaves or re-registers, only the domains that name it are
rebuilt, each from its own member list (cost: the size of those domains). State, drain,
free capacity and load never touch the index; the health and capacity filters read them live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np

__all__ = ["MAX_DOMAINS", "DomainIndex"]

MAX_DOMAINS = 1_000_000
_CLASSES = 4  # index 0 (unspecified) stays empty; 1 general, 2 AI, 3 HPC
_EMPTY = np.zeros(0, dtype=np.int64)
_EMPTY.setflags(write=False)


class DomainIndex:
    """Interned domains and, per domain, its registered slots in all classes and per class (ascending)."""

    def __init__(self, slot_of: Mapping[str, int], compute_class: Callable[[], np.ndarray]) -> None:
        self._slot_of = slot_of  # the node table's node_id → slot, read at rebuild time
        self._compute_class = compute_class  # the node table's current class column
        self._ids: dict[frozenset[str], int] = {}
        self._members: list[frozenset[str]] = []
        self._by_node: dict[str, list[int]] = {}
        self._all: list[np.ndarray] = []
        self._by_class: list[tuple[np.ndarray, ...]] = []

    def __len__(self) -> int:
        return len(self._members)

    def intern(self, node_ids: Iterable[str]) -> int:
        """The id of the domain made of `node_ids`; the same set always gets the same id."""
        members = node_ids if isinstance(node_ids, frozenset) else frozenset(node_ids)
        found = self._ids.get(members)
        if found is not None:
            return found
        if len(self._members) >= MAX_DOMAINS:
            raise ValueError(f"more than {MAX_DOMAINS} distinct data domains; expected products to share domains")
        domain = len(self._members)
        self._ids[members] = domain
        self._members.append(members)
        for node_id in members:
            self._by_node.setdefault(node_id, []).append(domain)
        self._all.append(_EMPTY)
        self._by_class.append((_EMPTY,) * _CLASSES)
        self._rebuild(domain)
        return domain

    def members(self, domain: int) -> frozenset[str]:
        return self._members[domain]

    def domain_slots(self, domain: int) -> np.ndarray:
        """Registered slots of the domain, every class, ascending."""
        return self._all[domain]

    def slots(self, domain: int, compute_class: int) -> np.ndarray:
        """Registered slots of the domain with this compute class, ascending."""
        return self._by_class[domain][compute_class]

    def refresh(self, node_ids: Iterable[str]) -> int:
        """Rebuilds every domain that names one of `node_ids`; returns how many were rebuilt."""
        touched = {d for node_id in node_ids for d in self._by_node.get(node_id, ())}
        for domain in touched:
            self._rebuild(domain)
        return len(touched)

    def _rebuild(self, domain: int) -> None:
        slot_of = self._slot_of
        found = [slot_of[n] for n in self._members[domain] if n in slot_of]
        slots = np.array(sorted(found), dtype=np.int64)
        classes = self._compute_class()[slots]
        per_class = tuple(slots[classes == c] if c else _EMPTY for c in range(_CLASSES))
        for array in (slots, *per_class):
            array.setflags(write=False)
        self._all[domain] = slots
        self._by_class[domain] = per_class
