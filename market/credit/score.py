"""The credit score (信用分) of an organisation: a pure function of its credit events and the time. Pure.

Rule (documented in `score_at`):
  score(t) = clamp(1000 + Σ adjustments − Σ faded penalties, 0, 1000)
  - A penalty (grant violation, egress denial, unpaid balance, grant revoked) carries negative
    points fixed when it is recorded; it counts in full when recorded and fades linearly to 0
    over `fade_days`, so an organisation that behaves recovers (信用修复). Its faded weight is
    ceil(|points| × remaining / fade), a whole number of points that reaches 0 only at the end.
  - An operator's adjustment counts in full and never fades: it is the operator's correction.
  - Standing: below `auto_approval_threshold` its grants need an operator; below
    `admission_threshold` it is blocked from submitting jobs.
With the events fixed, the score never falls as time passes, and adding a penalty never raises it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from shuniu.protos.v1 import credit_pb2

MAX_SCORE = 1000
MIN_SCORE = 0
DAY_MS = 86_400_000
MAX_POINTS = 1000  # |points| of one event
ORG_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")

GRANT_VIOLATION = credit_pb2.CREDIT_EVENT_KIND_GRANT_VIOLATION
EGRESS_DENIAL = credit_pb2.CREDIT_EVENT_KIND_EGRESS_DENIAL
UNPAID_BALANCE = credit_pb2.CREDIT_EVENT_KIND_UNPAID_BALANCE
GRANT_REVOKED = credit_pb2.CREDIT_EVENT_KIND_GRANT_REVOKED
ADJUSTMENT = credit_pb2.CREDIT_EVENT_KIND_ADJUSTMENT
PENALTY_KINDS = (GRANT_VIOLATION, EGRESS_DENIAL, UNPAID_BALANCE, GRANT_REVOKED)
KIND_NAMES = {kind: credit_pb2.CreditEventKind.Name(kind).removeprefix("CREDIT_EVENT_KIND_").lower()
              for kind in (*PENALTY_KINDS, ADJUSTMENT)}


def _default_penalties() -> dict[int, int]:
    return {GRANT_VIOLATION: -200, EGRESS_DENIAL: -50, UNPAID_BALANCE: -150, GRANT_REVOKED: -100}


@dataclass(frozen=True)
class CreditPolicy:
    """The exchange's credit terms: points per penalty kind, how fast penalties fade, the two thresholds."""

    penalties: dict[int, int] = field(default_factory=_default_penalties)
    fade_days: int = 365
    auto_approval_threshold: int = 700  # below: grants wait for an operator
    admission_threshold: int = 400  # below: jobs are refused at admission
    unpaid_due_days: int = 30  # a buyer statement is due this long after its period closed

    def __post_init__(self) -> None:
        if set(self.penalties) != set(PENALTY_KINDS):
            raise ValueError(f"penalties must name exactly the kinds {sorted(KIND_NAMES[k] for k in PENALTY_KINDS)}")
        for kind, points in self.penalties.items():
            if not -MAX_POINTS <= points < 0:
                raise ValueError(f"penalty of {KIND_NAMES[kind]} is {points}; expected -{MAX_POINTS}..-1")
        if self.fade_days <= 0 or self.unpaid_due_days < 0:
            raise ValueError("expected fade_days > 0 and unpaid_due_days >= 0")
        if not MIN_SCORE < self.admission_threshold <= self.auto_approval_threshold <= MAX_SCORE:
            raise ValueError("expected 0 < admission_threshold <= auto_approval_threshold <= 1000")

    @property
    def fade_ms(self) -> int:
        return self.fade_days * DAY_MS


DEFAULT_POLICY = CreditPolicy()


@dataclass(frozen=True)
class Standing:
    """An organisation's score at a time and what follows from it."""

    org_id: str
    score: int
    needs_operator: bool
    blocked: bool
    events: int
    updated_unix_ms: int  # time of its latest event (0: none)

    def record(self) -> credit_pb2.CreditRecord:
        return credit_pb2.CreditRecord(org_id=self.org_id, score=self.score, needs_operator=self.needs_operator,
                                       blocked=self.blocked, events=self.events, updated_unix_ms=self.updated_unix_ms)


def faded_points(points: int, recorded_unix_ms: int, now_ms: int, fade_ms: int) -> int:
    """What a penalty of `points` (< 0) still counts at `now_ms`: its full weight fading linearly to 0."""
    assert points <= 0 and fade_ms > 0, (points, fade_ms)
    remaining_ms = min(fade_ms, max(0, fade_ms - (now_ms - recorded_unix_ms)))
    return -((-points * remaining_ms + fade_ms - 1) // fade_ms)


def score_at(events: Iterable[credit_pb2.CreditEvent], now_ms: int, policy: CreditPolicy) -> int:
    """The score at `now_ms` from the events recorded by then (see the module doc for the rule)."""
    total = MAX_SCORE
    for event in events:
        if event.recorded_unix_ms > now_ms:
            continue  # not yet recorded as of now_ms
        if event.kind == ADJUSTMENT:
            total += event.points
        else:
            total += faded_points(min(0, event.points), event.recorded_unix_ms, now_ms, policy.fade_ms)
    return max(MIN_SCORE, min(MAX_SCORE, total))


def standing(org_id: str, events: list[credit_pb2.CreditEvent], now_ms: int, policy: CreditPolicy) -> Standing:
    score = score_at(events, now_ms, policy)
    return Standing(org_id, score, score < policy.auto_approval_threshold, score < policy.admission_threshold,
                    len(events), max((e.recorded_unix_ms for e in events), default=0))


def blocked_message(s: Standing, policy: CreditPolicy) -> str:
    """Why admission refuses a blocked organisation, naming its score and the threshold."""
    return (f"organisation {s.org_id!r} has credit score {s.score}, below the admission threshold "
            f"{policy.admission_threshold}; it may not submit jobs until its score recovers (penalties fade over "
            f"{policy.fade_days} days) or an operator records an adjustment (see `shuniu credit events {s.org_id}`)")


def needs_operator_note(s: Standing, policy: CreditPolicy) -> str:
    """Why a grant that policy would approve waits for an operator instead."""
    return f"credit score {s.score} < {policy.auto_approval_threshold}, the auto-approval threshold"


def check_points(kind: int, points: int, policy: CreditPolicy) -> int:
    """The points an event will carry: a penalty's default when 0; ValueError naming the rule otherwise."""
    if kind not in KIND_NAMES:
        raise ValueError(f"kind {kind} unknown; expected one of {', '.join(KIND_NAMES.values())}")
    if kind == ADJUSTMENT:
        if points == 0 or abs(points) > MAX_POINTS:
            raise ValueError(f"points {points} for an adjustment; expected -{MAX_POINTS}..{MAX_POINTS}, not 0")
        return points
    if points == 0:
        return policy.penalties[kind]
    if not -MAX_POINTS <= points < 0:
        raise ValueError(f"points {points} for {KIND_NAMES[kind]}; expected a penalty -{MAX_POINTS}..-1 "
                         f"(or 0 for the default {policy.penalties[kind]})")
    return points
