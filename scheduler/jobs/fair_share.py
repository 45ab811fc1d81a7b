"""Weighted fair share between buyers (公平份额): decayed usage over weight, lowest share goes first.

Usage decays exponentially with a half-life. Decay multiplies every buyer's usage by the same
factor, so time alone never changes the order of buyers by share; only a charge or a new
weight does. Usage is therefore kept scaled to a reference time `_epoch_s` (a charge of
`amount` at `t` adds `amount * 2**((t - epoch) / half_life)`), and the buyers with queued jobs
sit in a sorted index that a queue pass reads from the front without touching the others.

The unit of usage is the caller's: CPU-seconds until billing lands, billed fen after. Charges
commute: a charge is decayed from the time it names, whatever order charges arrive in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import islice

from sortedcontainers import SortedList

__all__ = ["MAX_WEIGHT", "FairShare"]

MAX_WEIGHT = 2**31 - 1  # Quota.fair_share_weight is an int32
# Rescale when a charge would be scaled by more than 2**64: far from float overflow (2**1024),
# and rare (every 64 half-lives), so the O(buyers) rescale costs nothing on average.
_REBASE_EXPONENT = 64.0


def _finite(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} {value!r} invalid; expected a finite number")
    return float(value)


class FairShare:
    """Per-buyer decayed usage and weights; `share` = decayed usage / weight."""

    def __init__(self, half_life_s: float, weights: Mapping[str, int] | None = None, unit: str = "cpu_s") -> None:
        if _finite(half_life_s, "half_life_s") <= 0:
            raise ValueError(f"half_life_s {half_life_s!r} invalid; expected a positive number of seconds")
        self.half_life_s = float(half_life_s)
        self.unit = unit
        self._weights: dict[str, int] = {}
        self._scaled: dict[str, float] = {}  # usage at the scale of _epoch_s
        self._epoch_s: float | None = None
        self._waiting: SortedList = SortedList()  # (scaled / weight, buyer) of buyers with queued jobs
        self._rank_key: dict[str, float] = {}  # the key each waiting buyer has in _waiting
        for buyer, weight in (weights or {}).items():
            self.set_weight(buyer, weight)

    def weight(self, buyer: str) -> int:
        return self._weights.get(buyer, 1)

    def set_weight(self, buyer: str, weight: int) -> None:
        """Sets a buyer's weight; 0 means 1, as in Quota.fair_share_weight."""
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= MAX_WEIGHT:
            raise ValueError(f"fair_share_weight {weight!r} invalid; expected an integer in [0, {MAX_WEIGHT}] "
                             "(0 means 1)")
        self._weights[buyer] = weight or 1
        self._rerank(buyer)

    def charge(self, buyer: str, amount: float, now_s: float) -> None:
        """Adds `amount` (in `unit`) of usage that accrued at `now_s`."""
        if _finite(amount, "amount") < 0:
            raise ValueError(f"amount {amount!r} invalid; expected usage >= 0")
        now_s = _finite(now_s, "now_s")
        if self._epoch_s is None:
            self._epoch_s = now_s
        exponent = (now_s - self._epoch_s) / self.half_life_s
        if exponent > _REBASE_EXPONENT:
            self._rebase(now_s)
            exponent = 0.0
        self._scaled[buyer] = self._scaled.get(buyer, 0.0) + amount * 2.0**exponent
        self._rerank(buyer)

    def usage(self, buyer: str, now_s: float) -> float:
        """The buyer's usage decayed to `now_s`."""
        scaled = self._scaled.get(buyer, 0.0)
        if scaled == 0.0:
            return 0.0
        exponent = (self._epoch_s - _finite(now_s, "now_s")) / self.half_life_s
        # Asking about a time far before the latest rescale is a caller's clock bug, not input.
        assert exponent <= _REBASE_EXPONENT, f"now_s {now_s} is more than 64 half-lives before {self._epoch_s}"
        return scaled * 2.0**exponent

    def share(self, buyer: str, now_s: float) -> float:
        """Decayed usage over weight: the lower, the sooner the buyer's jobs run."""
        return self.usage(buyer, now_s) / self.weight(buyer)

    def snapshot(self, now_s: float) -> dict[str, float]:
        """Every buyer's usage decayed to `now_s`; charging each at `now_s` into a new FairShare restores it."""
        return {buyer: self.usage(buyer, now_s) for buyer in sorted(self._scaled)}

    def set_waiting(self, buyer: str, waiting: bool) -> None:
        """Adds or removes a buyer from the ranking of buyers with queued jobs (the queue calls this)."""
        if waiting and buyer not in self._rank_key:
            key = self._scaled.get(buyer, 0.0) / self.weight(buyer)
            self._rank_key[buyer] = key
            self._waiting.add((key, buyer))
        elif not waiting and buyer in self._rank_key:
            self._waiting.remove((self._rank_key.pop(buyer), buyer))

    def lowest_waiting(self, limit: int) -> list[str]:
        """Up to `limit` buyers with queued jobs, lowest share first, ties by buyer id; O(log n + limit)."""
        return [buyer for _, buyer in islice(self._waiting, max(0, limit))]

    def _rerank(self, buyer: str) -> None:
        if buyer in self._rank_key:
            self.set_waiting(buyer, False)
            self.set_waiting(buyer, True)

    def _rebase(self, now_s: float) -> None:
        factor = 2.0 ** ((self._epoch_s - now_s) / self.half_life_s)
        self._scaled = {buyer: scaled * factor for buyer, scaled in self._scaled.items()}
        self._epoch_s = now_s
        waiting = list(self._rank_key)
        self._rank_key.clear()
        self._waiting.clear()
        for buyer in waiting:
            self.set_waiting(buyer, True)
