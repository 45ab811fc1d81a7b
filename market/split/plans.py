"""Split plans: who gets which share of a line's revenue (谁投入、谁贡献、谁受益).

A data product's revenue goes to the exchange (its fee), to the source department for
public data (反哺, feedback share) and, for the rest, to the rights holders by their
basis-point shares. A compute center's revenue goes to the exchange (its fee) and the
rest to the center. Each plan is a list of slots (party, weight); a plan's weights are
parts of 10^8 = 10,000 bp × 10,000 bp and sum to exactly 10^8, so the holders' shares of
the remainder after fee and feedback stay exact integers.

Slots are stored in tie-break order (party id, then party type): the largest-remainder
rounding gives a contested fen to the earliest slot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shuniu.market._specs import frozen, only_keys
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["PARTY_TYPES", "WEIGHT_TOTAL", "SplitPlans", "build_split_plans"]

PARTY_TYPES = ("holder", "feedback_fund", "exchange", "compute_center", "buyer")
BP_TOTAL = 10_000
WEIGHT_TOTAL = BP_TOTAL * BP_TOTAL
MAX_HOLDERS = 32


@dataclass(frozen=True, eq=False)
class SplitPlans:
    """Plans in CSR layout: plan p's slots are [plan_offsets[p], plan_offsets[p+1])."""

    plan_keys: tuple[tuple[str, str], ...]  # ("data", product_id) or ("compute", compute_center)
    plan_offsets: np.ndarray  # int64 [plan + 1]
    slot_party: np.ndarray  # int32 [slot] -> index into parties
    slot_weight: np.ndarray  # int64 [slot], parts of WEIGHT_TOTAL
    parties: tuple[tuple[str, str], ...]  # (party_type, party_id), sorted

    def data_plan_index(self, product_ids: pa.Array | list[str]) -> np.ndarray:
        """Plan index (int32) per product id; raise ValueError naming an unknown product."""
        return self._resolve("data", product_ids)

    def compute_plan_index(self, compute_centers: pa.Array | list[str]) -> np.ndarray:
        """Plan index (int32) per compute center; raise ValueError naming an unknown center."""
        return self._resolve("compute", compute_centers)

    def _resolve(self, kind: str, ids: pa.Array | list[str]) -> np.ndarray:
        ids = pa.array(ids, pa.string()) if not isinstance(ids, (pa.Array, pa.ChunkedArray)) else ids
        keys = [key for k, key in self.plan_keys if k == kind]
        first = next((i for i, (k, _) in enumerate(self.plan_keys) if k == kind), 0)
        index = pc.index_in(ids, value_set=pa.array(keys, pa.string()))
        if index.null_count:
            bad = ids[pc.index(pc.is_null(index), True).as_py()].as_py()
            raise ValueError(f"no {kind} split plan for {bad!r}; known: {keys[:10]}")
        # plan_keys are sorted by (kind, id), so one kind's plans are contiguous.
        return index.to_numpy(zero_copy_only=False).astype(np.int32) + np.int32(first)


def build_split_plans(
    data_products: Mapping[str, Mapping[str, Any]],
    compute_centers: Mapping[str, Mapping[str, Any]],
    exchange_id: str = "exchange",
) -> SplitPlans:
    """Build plans from {product_id: {"holders": {holder_id: bp}, "exchange_fee_bp": 300,
    "feedback": {"department": "dept-id", "share_bp": 500} | None, "public": bool}} and
    {compute_center: {"exchange_fee_bp": 200}}; raise ValueError saying what is wrong."""
    plans: dict[tuple[str, str], list[tuple[tuple[str, str], int]]] = {}
    for product_id, spec in _items(data_products, "data_products"):
        plans[("data", product_id)] = _data_plan(product_id, spec, exchange_id)
    for center, spec in _items(compute_centers, "compute_centers"):
        where = f"compute center {center!r}"
        only_keys(spec, {"exchange_fee_bp"}, where)
        fee = _bp(spec.get("exchange_fee_bp"), f"{where}: exchange_fee_bp")
        plans[("compute", center)] = [
            (("exchange", exchange_id), fee * BP_TOTAL),
            (("compute_center", center), (BP_TOTAL - fee) * BP_TOTAL),
        ]

    plan_keys = tuple(sorted(plans))
    parties = tuple(sorted({party for slots in plans.values() for party, _ in slots}))
    party_row = {party: i for i, party in enumerate(parties)}
    offsets, slot_party, slot_weight = [0], [], []
    for key in plan_keys:
        # Tie-break order: party id, then party type. Zero weights never get a fen; drop them.
        slots = sorted(((p, w) for p, w in plans[key] if w > 0), key=lambda s: (s[0][1], s[0][0]))
        assert sum(w for _, w in slots) == WEIGHT_TOTAL, (key, slots)
        slot_party += [party_row[p] for p, _ in slots]
        slot_weight += [w for _, w in slots]
        offsets.append(len(slot_party))
    return SplitPlans(
        plan_keys=plan_keys,
        plan_offsets=frozen(np.array(offsets, dtype=np.int64)),
        slot_party=frozen(np.array(slot_party, dtype=np.int32)),
        slot_weight=frozen(np.array(slot_weight, dtype=np.int64)),
        parties=parties,
    )


def _data_plan(product_id: str, spec: Mapping[str, Any], exchange_id: str) -> list[tuple[tuple[str, str], int]]:
    where = f"product {product_id!r}"
    only_keys(spec, {"holders", "exchange_fee_bp", "feedback", "public"}, where)
    fee = _bp(spec.get("exchange_fee_bp"), f"{where}: exchange_fee_bp")
    public = spec.get("public", False)
    if not isinstance(public, bool):
        raise ValueError(f"{where}: public must be true or false, got {public!r}")
    slots = [(("exchange", exchange_id), fee * BP_TOTAL)]
    feedback_bp = 0
    feedback = spec.get("feedback")
    if feedback is not None:
        if not public:
            raise ValueError(f"{where}: a feedback share (反哺) is paid only for public data; set public=True or drop feedback")
        only_keys(feedback, {"department", "share_bp"}, f"{where}: feedback")
        department = _id(feedback.get("department"), f"{where}: feedback department")
        feedback_bp = _bp(feedback.get("share_bp"), f"{where}: feedback share_bp")
        slots.append((("feedback_fund", department), feedback_bp * BP_TOTAL))
    if fee + feedback_bp > BP_TOTAL:
        raise ValueError(f"{where}: exchange fee {fee} bp plus feedback {feedback_bp} bp exceed {BP_TOTAL} bp")
    holders = spec.get("holders")
    if not isinstance(holders, Mapping) or not 1 <= len(holders) <= MAX_HOLDERS:
        raise ValueError(f"{where}: holders must map 1..{MAX_HOLDERS} holder ids to basis-point shares, got {holders!r}")
    for holder, share in holders.items():
        _id(holder, f"{where}: holder id")
        if _bp(share, f"{where}: share of holder {holder!r}") == 0:
            raise ValueError(f"{where}: holder {holder!r} has a 0 bp share; list only holders with a share")
    total = sum(holders.values())
    if total != BP_TOTAL:
        raise ValueError(f"{where}: holder shares sum to {total} bp; they must sum to {BP_TOTAL}")
    rest = BP_TOTAL - fee - feedback_bp
    slots += [(("holder", holder), rest * share) for holder, share in holders.items()]
    return slots


def _items(mapping: Any, what: str) -> list[tuple[str, Mapping[str, Any]]]:
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{what} must be a mapping, got {type(mapping).__name__}")
    for key, spec in mapping.items():
        _id(key, f"{what} key")
        if not isinstance(spec, Mapping):
            raise ValueError(f"{what}[{key!r}] must be a mapping, got {type(spec).__name__}")
    return sorted(mapping.items())


def _bp(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= BP_TOTAL:
        raise ValueError(f"{what} must be an integer number of basis points in 0..{BP_TOTAL}, got {value!r}")
    return value


def _id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value
