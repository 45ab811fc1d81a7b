"""Public-data authorized operation (公共数据授权运营): fee schedules, allowed revenue and true-ups, yearly reports."""

from shuniu.market.public_data.allowance import MonthTrueUp, month_true_up, year_true_ups, yearly_allowance_fen
from shuniu.market.public_data.fees import BASIS_NAMES, FeeError, check_schedule, pricing_for_item
from shuniu.market.public_data.report import operator_report, write_report
from shuniu.market.public_data.settle import annotate_statement, operator_account, settle_operators
from shuniu.market.public_data.store import (
    FEE_EVENTS_KEY, FEE_SCHEDULES_KEY, OperatorMonthRecord, fee_schedule_key, in_force, latest_versions,
    operator_months_key, parse_months, parse_versions,
)

__all__ = [
    "BASIS_NAMES", "FEE_EVENTS_KEY", "FEE_SCHEDULES_KEY", "FeeError", "MonthTrueUp", "OperatorMonthRecord",
    "annotate_statement", "check_schedule", "fee_schedule_key", "in_force", "latest_versions", "month_true_up",
    "operator_account", "operator_months_key", "operator_report", "parse_months", "parse_versions", "pricing_for_item",
    "settle_operators", "write_report", "year_true_ups", "yearly_allowance_fen",
]
