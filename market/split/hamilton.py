"""Largest-remainder (Hamilton) split of fen lines among a plan's parties, and the postings it yields.

For a line of `a` fen under a plan with weights w_k (Σ w_k = 10^8), party k first gets
floor(a·w_k / 10^8); the fen left over (fewer than the number of parties) go one each to
the parties with the largest remainders, ties to the earlier slot (party id order). Every
line's parts add up to the line exactly; so does every batch's postings.

`split_twin` is the specification; `split_kernel` is the same over many lines in int64, and
`split_sum_kernel` sums the same parts per (line key, party) without keeping them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from shuniu.market.split.plans import WEIGHT_TOTAL, SplitPlans

__all__ = ["MAX_BATCH_FEN", "MAX_LINE_FEN", "Posting", "SplitResult", "postings", "split_kernel", "split_lines", "split_sums", "split_twin"]

MAX_LINE_FEN = 2**62
MAX_BATCH_FEN = 2**62  # so that no party's total in a batch can leave int64


@dataclass(frozen=True)
class Posting:
    """One ledger leg: a credit (amount_fen > 0) to a party, or a buyer's debit (amount_fen < 0)."""

    party_type: str
    party_id: str
    amount_fen: int


@dataclass(frozen=True, eq=False)
class SplitResult:
    """Per-line parts (CSR: line i's parts are part_fen[line_offsets[i]:line_offsets[i+1]],
    one per slot of its plan) and the total per party (aligned with SplitPlans.parties)."""

    line_offsets: np.ndarray
    part_fen: np.ndarray
    party_total_fen: np.ndarray


def split_twin(plans: SplitPlans, plan_index: Sequence[int], amount_fen: Sequence[int]) -> list[list[int]]:
    """The specification: each line's parts, in slot order, by largest remainder with party-id tie-break."""
    out = []
    for p, amount in zip(plan_index, amount_fen):
        lo, hi = int(plans.plan_offsets[p]), int(plans.plan_offsets[p + 1])
        weights = [int(w) for w in plans.slot_weight[lo:hi]]
        names = [plans.parties[int(k)] for k in plans.slot_party[lo:hi]]
        parts = [int(amount) * w // WEIGHT_TOTAL for w in weights]
        remainders = [int(amount) * w % WEIGHT_TOTAL for w in weights]
        leftover = int(amount) - sum(parts)
        by_claim = sorted(range(len(parts)), key=lambda s: (-remainders[s], names[s][1], names[s][0]))
        for s in by_claim[:leftover]:
            parts[s] += 1
        out.append(parts)
    return out


@njit(cache=True, nogil=True, inline="always")
def _split_line(a, lo, hi, slot_weight, parts, remainder):
    """Line of `a` fen over slots [lo, hi) into parts[:hi - lo], by largest remainder (earliest slot on ties)."""
    # a·w / 10^8 without overflow: a = hi·10^8 + lo, so a·w = hi·w·10^8 + lo·w (lo·w < 10^16).
    a_hi = a // WEIGHT_TOTAL
    a_lo = a - a_hi * WEIGHT_TOTAL
    given = np.int64(0)
    for k in range(hi - lo):
        w = slot_weight[lo + k]
        low = a_lo * w
        part = a_hi * w + low // WEIGHT_TOTAL
        parts[k] = part
        remainder[k] = low % WEIGHT_TOTAL
        given += part
    # Fewer fen are left than slots; each goes to the largest remainder, earliest slot first.
    for _ in range(a - given):
        best = 0
        for k in range(1, hi - lo):
            if remainder[k] > remainder[best]:
                best = k
        parts[best] += 1
        remainder[best] = -1


@njit(cache=True, nogil=True)
def split_kernel(plan_index, amount_fen, plan_offsets, slot_weight, slot_party, n_parties):
    """(line_offsets, part_fen, party_total_fen); each line's parts equal split_twin's."""
    n = plan_index.shape[0]
    line_offsets = np.empty(n + 1, dtype=np.int64)
    line_offsets[0] = 0
    for i in range(n):
        p = plan_index[i]
        line_offsets[i + 1] = line_offsets[i] + plan_offsets[p + 1] - plan_offsets[p]
    part_fen = np.empty(line_offsets[n], dtype=np.int64)
    remainder = np.empty(line_offsets[n], dtype=np.int64)
    party_total = np.zeros(n_parties, dtype=np.int64)
    for i in range(n):
        p = plan_index[i]
        lo, hi, out = plan_offsets[p], plan_offsets[p + 1], line_offsets[i]
        _split_line(np.int64(amount_fen[i]), lo, hi, slot_weight, part_fen[out:], remainder[out:])
        for k in range(hi - lo):
            party_total[slot_party[lo + k]] += part_fen[out + k]
    return line_offsets, part_fen, party_total


@njit(cache=True, nogil=True)
def split_sum_kernel(plan_index, amount_fen, line_key, n_keys, plan_offsets, slot_weight, slot_party, n_parties):
    """Σ of the parts per (line key, party), flat as key · n_parties + party: the lines are split as by
    split_kernel and summed as they are split, with no array of parts."""
    sums = np.zeros(n_keys * n_parties, dtype=np.int64)
    widest = 0
    for p in range(plan_offsets.shape[0] - 1):
        widest = max(widest, plan_offsets[p + 1] - plan_offsets[p])
    parts = np.empty(widest, dtype=np.int64)
    remainder = np.empty(widest, dtype=np.int64)
    for i in range(plan_index.shape[0]):
        p = plan_index[i]
        lo, hi = plan_offsets[p], plan_offsets[p + 1]
        _split_line(np.int64(amount_fen[i]), lo, hi, slot_weight, parts, remainder)
        row = line_key[i] * n_parties
        for k in range(hi - lo):
            sums[row + slot_party[lo + k]] += parts[k]
    return sums


def split_lines(plans: SplitPlans, plan_index: np.ndarray, amount_fen: np.ndarray) -> SplitResult:
    """Split many lines at once; raise ValueError on a bad plan index or an amount outside 0..2^62."""
    index, amounts = _checked_lines(plans, plan_index, amount_fen)
    offsets, parts, totals = split_kernel(index, amounts, plans.plan_offsets, plans.slot_weight, plans.slot_party, len(plans.parties))
    return SplitResult(offsets, parts, totals)


def split_sums(plans: SplitPlans, plan_index: np.ndarray, amount_fen: np.ndarray, line_key: np.ndarray, n_keys: int) -> np.ndarray:
    """Split many lines and sum the parts per (line key, party): int64 [n_keys, len(plans.parties)].

    The same parts as split_lines, without them: for callers that post totals (a batch's postings
    per buyer, period and party). Raise ValueError as split_lines does, or on a key outside 0..n_keys-1."""
    index, amounts = _checked_lines(plans, plan_index, amount_fen)
    keys = np.ascontiguousarray(line_key, dtype=np.int64)
    if keys.shape != index.shape:
        raise ValueError(f"line_key must be one int per line, got shape {keys.shape} for {index.shape[0]} lines")
    if keys.size and (keys.min() < 0 or keys.max() >= n_keys):
        raise ValueError(f"line_key must be within 0..{n_keys - 1}")
    sums = split_sum_kernel(index, amounts, keys, n_keys, plans.plan_offsets, plans.slot_weight, plans.slot_party, len(plans.parties))
    return sums.reshape(n_keys, len(plans.parties))


def _checked_lines(plans: SplitPlans, plan_index: np.ndarray, amount_fen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    index = np.ascontiguousarray(plan_index, dtype=np.int64)
    amounts = np.ascontiguousarray(amount_fen, dtype=np.int64)
    if index.shape != amounts.shape or index.ndim != 1:
        raise ValueError(f"plan_index and amount_fen must be 1-d and of one length, got {index.shape} and {amounts.shape}")
    if index.size:
        if index.min() < 0 or index.max() >= len(plans.plan_keys):
            raise ValueError(f"plan_index must be within 0..{len(plans.plan_keys) - 1}")
        if amounts.min() < 0 or amounts.max() > MAX_LINE_FEN:
            raise ValueError(f"amount_fen must be within 0..{MAX_LINE_FEN}; refunds are separate lines")
        # Exact total without int64 overflow: high and low 31-bit halves summed apart.
        total = int((amounts >> 31).sum()) * 2**31 + int((amounts & (2**31 - 1)).sum())
        if total > MAX_BATCH_FEN:
            raise ValueError(f"lines total {total} fen; one split call takes at most {MAX_BATCH_FEN}, split the batch")
    return index, amounts


def postings(plans: SplitPlans, result: SplitResult, payer_ids: Sequence[str] | None = None, amount_fen: np.ndarray | None = None) -> list[Posting]:
    """Credits per party (non-zero, sorted by party type and id); with payer_ids and the lines'
    amount_fen, also each payer's debit (negative), so that the postings sum to exactly 0."""
    out = [Posting(t, pid, int(fen)) for (t, pid), fen in zip(plans.parties, result.party_total_fen) if fen]
    if payer_ids is None:
        return out
    if amount_fen is None or len(payer_ids) != len(amount_fen):
        raise ValueError("payer_ids need the lines' amount_fen, one payer per line")
    payers, inverse = np.unique(np.asarray(payer_ids, dtype=object), return_inverse=True)
    owed = np.zeros(len(payers), dtype=np.int64)
    np.add.at(owed, inverse, np.asarray(amount_fen, dtype=np.int64))
    out += [Posting("buyer", str(payer), -int(fen)) for payer, fen in zip(payers, owed) if fen]
    assert sum(p.amount_fen for p in out) == 0, "split postings do not balance"
    return sorted(out, key=lambda p: (p.party_type, p.party_id))
