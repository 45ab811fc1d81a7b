"""An operator's yearly report: the sum of its settled months, as Parquet plus a readable summary."""

from __future__ import annotations

import pathlib

import pyarrow as pa
import pyarrow.parquet as pq

from shuniu.market.public_data.store import OperatorMonthRecord
from shuniu.protos.v1 import settlement_pb2

__all__ = ["REPORT_SCHEMA", "operator_report", "write_report"]

REPORT_SCHEMA = pa.schema([
    ("period", pa.string()), ("revenue_fen", pa.int64()), ("calls", pa.int64()), ("public_interest_calls_free", pa.int64()),
    ("true_up_fen", pa.int64()), ("kept_fen", pa.int64()), ("revenue_to_date_fen", pa.int64()),
    ("allowance_fen", pa.int64()), ("carry_out_fen", pa.int64()),
])  # fmt: skip
_FIGURES = ("revenue_fen", "calls", "public_interest_calls_free", "true_up_fen")


def operator_report(operator_id: str, year: int, months: list[OperatorMonthRecord]) -> settlement_pb2.GetOperatorReportResponse:
    """Totals of the year's settled months (in period order); allowance is the year's after last year's carry."""
    months = sorted(months, key=lambda m: m.period)
    report = settlement_pb2.GetOperatorReportResponse(
        operator_id=operator_id, year=year, months=[m.to_proto() for m in months],
        allowance_fen=months[-1].allowance_fen if months else 0,
        **{name: sum(getattr(m, name) for m in months) for name in _FIGURES})
    return report


def write_report(report: settlement_pb2.GetOperatorReportResponse, months: list[OperatorMonthRecord],
                 folder: pathlib.Path) -> None:
    """Writes `{operator}-{year}.parquet` and `.md` under `folder`; sets parquet_path and summary on `report`."""
    months = sorted(months, key=lambda m: m.period)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{report.operator_id}-{report.year}.parquet"
    rows = [{"period": m.period, "revenue_fen": m.revenue_fen, "calls": m.calls,
             "public_interest_calls_free": m.public_interest_calls_free, "true_up_fen": m.true_up_fen,
             "kept_fen": m.revenue_fen - m.true_up_fen, "revenue_to_date_fen": m.revenue_to_date_fen,
             "allowance_fen": m.allowance_fen, "carry_out_fen": m.carry_out_fen} for m in months]
    pq.write_table(pa.Table.from_pylist(rows, schema=REPORT_SCHEMA), path, compression="zstd")
    report.parquet_path = str(path.resolve())
    report.summary = _summary(report, months)
    path.with_suffix(".md").write_text(report.summary)


def _summary(report: settlement_pb2.GetOperatorReportResponse, months: list[OperatorMonthRecord]) -> str:
    from shuniu.market.settlement.summary import yuan

    carried = months[-1].carry_out_fen if months else 0
    scheduled = any(m.has_schedule for m in months)
    out = [
        f"# Public-data operator {report.operator_id} — {report.year} (公共数据授权运营)", "",
        "| | |", "| --- | ---: |",
        f"| revenue (yuan) | {yuan(report.revenue_fen)} |",
        f"| allowed revenue: cost + profit + tax, after last year's carry (yuan) | "
        f"{yuan(report.allowance_fen) if scheduled else 'no fee schedule in force'} |",
        f"| true-ups: revenue above the allowance (yuan) | {yuan(report.true_up_fen)} |",
        f"| carried into {report.year + 1} as a reduction of the allowance (yuan) | {yuan(carried)} |",
        f"| commercial calls | {report.calls:,} |",
        f"| public-interest calls served free | {report.public_interest_calls_free:,} |", "",
        f"{len(months)} settled months; each figure is the sum of the monthly statements.", "",
        "| month | revenue | calls | free calls | true-up | revenue to date |", "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]  # fmt: skip
    out += [f"| {m.period} | {yuan(m.revenue_fen)} | {m.calls:,} | {m.public_interest_calls_free:,} | "
            f"{yuan(m.true_up_fen)} | {yuan(m.revenue_to_date_fen)} |" for m in months]
    return "\n".join(out) + "\n"
