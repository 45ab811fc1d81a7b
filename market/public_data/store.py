"""Where fee schedules and operators' settled months live in Redis, and their encodings.

Keys (prefix `shuniu:`):
  fee-schedules            set of fee schedule ids
  fee-schedule:{id}        hash str(version) -> FeeSchedule bytes; every version, never deleted
  operator-months:{op}     hash period "YYYY-MM" -> JSON of the operator's settled month (written by settlement)
  events:fees              stream: one entry per published version (the audit log reads it)

Reads take a synchronous client (settlement) or the parsed raw replies (the async service),
so that both sides decode the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from shuniu.protos.v1 import settlement_pb2

__all__ = [
    "FEE_EVENTS_KEY", "FEE_SCHEDULES_KEY", "OperatorMonthRecord", "fee_schedule_key", "in_force", "latest_versions",
    "operator_months_key", "parse_months", "parse_versions",
]

FEE_SCHEDULES_KEY = "shuniu:fee-schedules"
FEE_EVENTS_KEY = "shuniu:events:fees"


def fee_schedule_key(schedule_id: str) -> str:
    return f"shuniu:fee-schedule:{schedule_id}"


def operator_months_key(operator_id: str) -> str:
    return f"shuniu:operator-months:{operator_id}"


@dataclass(frozen=True)
class OperatorMonthRecord:
    """What settlement found for one operator in one month (公共数据授权运营), all in fen or counts."""

    period: str
    revenue_fen: int  # buyers' data charges for the operator's products billed in the month
    calls: int  # usage records of its products charged at the commercial price
    public_interest_calls_free: int  # usage records served free for public governance or public interest
    has_schedule: bool  # whether a schedule was in force: without one there is no allowance and no true-up
    yearly_allowance_fen: int  # cost + profit + tax of the schedules in force at the month's end
    carry_in_fen: int  # reduction carried in from the previous year
    allowance_fen: int  # the year's allowance after that reduction
    revenue_to_date_fen: int
    true_up_fen: int
    true_ups_to_date_fen: int
    carry_out_fen: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    def to_proto(self) -> settlement_pb2.OperatorMonth:
        return settlement_pb2.OperatorMonth(period=self.period, revenue_fen=self.revenue_fen, calls=self.calls,
                                            public_interest_calls_free=self.public_interest_calls_free,
                                            true_up_fen=self.true_up_fen)


def parse_versions(raw: Mapping[bytes, bytes]) -> list[settlement_pb2.FeeSchedule]:
    """The versions of one schedule (a `fee-schedule:{id}` hash), oldest first."""
    return sorted((settlement_pb2.FeeSchedule.FromString(v) for v in raw.values()), key=lambda s: s.version)


def parse_months(raw: Mapping[bytes, bytes]) -> dict[str, OperatorMonthRecord]:
    """An `operator-months:{op}` hash as period -> record."""
    return {k.decode(): OperatorMonthRecord(**json.loads(v)) for k, v in raw.items()}


def latest_versions(schedules: Iterable[list[settlement_pb2.FeeSchedule]]) -> list[settlement_pb2.FeeSchedule]:
    """The newest version of each schedule, by schedule id."""
    return sorted((versions[-1] for versions in schedules if versions), key=lambda s: s.fee_schedule_id)


def in_force(versions: list[settlement_pb2.FeeSchedule], at_unix_ms: int) -> settlement_pb2.FeeSchedule | None:
    """The version of one schedule in force at `at_unix_ms` (the newest published by then), or None."""
    found = [v for v in versions if v.effective_unix_ms <= at_unix_ms]
    return found[-1] if found else None
