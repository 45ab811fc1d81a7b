"""Settlement of authorized operators' months: revenue, calls, free calls and the true-up line (公共数据授权运营).

Called once by `SettlementStore.close` with the period's statement lines and rated lines. For
every operator of a public-data product (or with a fee schedule) it records the month under
`operator-months:{op}` and, when the year's revenue to date passes the allowance, adds a
true-up line to the operator's statement (account `holder:{op}`). The line moves no money:
its `amount_fen` is 0 and `line_fen` holds the revenue carried into the next year as a
reduction of the allowance (see allowance.py). A re-run of a closed month keeps the month's
record as settled, so it writes the same record and line again.

A month can reach settlement late: a period that had no postings may stay open while later ones
close, and usage billed into it afterwards is settled when it closes. Within the year the late
month counts against what the year's settled months already earned and trued up (sums, not the
last month's running totals), so the year still trues up exactly its revenue above the
allowance. Once an operator has a settled month in a later year, its year is closed: the
year's true-ups were carried into the next allowance, and a late true-up could no longer reach
it. `check_closed_years` refuses such a close before anything is stored (TrueUpError, naming
the rule); settlement calls it before it marks the period closed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import redis

from shuniu.market.catalog import PRODUCTS_KEY, product_key
from shuniu.market.ledger import LedgerStore, parse_period
from shuniu.market.ledger.lines import read_lines
from shuniu.market.public_data.allowance import month_true_up, yearly_allowance_fen
from shuniu.market.public_data.store import (
    FEE_SCHEDULES_KEY, OperatorMonthRecord, fee_schedule_key, in_force, operator_months_key, parse_months, parse_versions,
)
from shuniu.protos.v1 import catalog_pb2, ledger_pb2, settlement_pb2

__all__ = ["TrueUpError", "annotate_statement", "check_closed_years", "closed_year_refusal", "operator_account",
           "period_end_ms", "settle_operators"]

_CST_OFFSET_MS = 8 * 3_600_000


class TrueUpError(ValueError):
    """Closing the period would put a true-up into an operator's closed year; nothing was changed."""


def operator_account(operator_id: str) -> str:
    """The ledger account an operator's statement is kept on: the holder account of its 经营权."""
    return f"holder:{operator_id}"


def period_end_ms(period: str) -> int:
    """Last millisecond of a "YYYY-MM" period in China Standard Time."""
    next_month = np.datetime64("1970-01", "M") + parse_period(period) + 1
    return int(next_month.astype("datetime64[ms]").astype(np.int64)) - _CST_OFFSET_MS - 1


def settle_operators(client: redis.Redis, period: str, batches: Iterable[tuple[str, list, dict, bytes]],
                     lines: pa.Table) -> pa.Table:
    """Record every operator's month of `period` and return `lines` with their true-up lines, sorted as before."""
    operator_of = _operators_of_products(client)
    schedules = _schedules_by_operator(client)
    operators = sorted(set(operator_of.values()) | set(schedules))
    if not operators:
        return lines
    revenue = _revenue(lines, operator_of)
    calls, free = _calls(period, batches, operator_of)
    end_ms = period_end_ms(period)
    records = []
    for op in operators:
        recorded = parse_months(client.hgetall(operator_months_key(op)))
        if period in recorded:  # a closed month rebuilt: settled once, its record and true-up stay as they were
            records.append(recorded.pop(period))
            continue
        in_force_now = [s for s in (in_force(v, end_ms) for v in schedules.get(op, [])) if s is not None]
        # After check_closed_years this is a true-up into a closed year only if usage was posted into the
        # period between that check and the ledger closing it (milliseconds); the line then still shows it.
        records.append(_month(op, period, recorded, in_force_now, revenue[op], calls[op], free[op]))
    pipe = client.pipeline(transaction=True)
    for op, record in zip(operators, records):
        pipe.hset(operator_months_key(op), period, record.to_json())
    pipe.execute()
    memo = [(op, r) for op, r in zip(operators, records) if r.true_up_fen > 0]
    if not memo:
        return lines
    return pa.concat_tables([lines, _true_up_lines(period, memo)]).sort_by(
        [("account_id", "ascending"), ("line_id", "ascending")])


def annotate_statement(statement: settlement_pb2.Statement, own: pa.Table) -> None:
    """Sets the statement's true_up_fen from its true-up lines and says so in its summary."""
    from shuniu.market.settlement.summary import yuan

    kinds = own.column("kind").to_numpy()
    true_up = int(own.column("line_fen").to_numpy()[kinds == ledger_pb2.POSTING_KIND_TRUE_UP].sum())
    statement.true_up_fen = true_up
    if true_up:
        statement.summary += (f"\nTrue-up (公共数据授权运营): {yuan(true_up)} yuan of this month's revenue is above the "
                              "year's allowed revenue (cost + profit + tax); it is carried into the next year as a "
                              "reduction of the allowance. No money moves with this line.\n")


def check_closed_years(client: redis.Redis, period: str) -> None:
    """Raises TrueUpError when closing `period` would true up revenue of a year an operator has closed.

    Reads, writes nothing: settlement calls it before it marks the period closed. The revenue is the
    buyers' data charges billed into the period so far, what the statements will show once it is closed.
    """
    operator_of = _operators_of_products(client)
    schedules = _schedules_by_operator(client)
    late: dict[str, dict[str, OperatorMonthRecord]] = {}
    for op in sorted(set(operator_of.values()) | set(schedules)):
        recorded = parse_months(client.hgetall(operator_months_key(op)))
        if period not in recorded and any(p[:4] > period[:4] for p in recorded):
            late[op] = recorded
    if not late:  # the usual case: months close in order, and no posting needs to be read
        return
    revenue = _posted_revenue(client, period, operator_of)
    end_ms = period_end_ms(period)
    for op, recorded in late.items():
        in_force_now = [s for s in (in_force(v, end_ms) for v in schedules.get(op, [])) if s is not None]
        month = _month(op, period, recorded, in_force_now, revenue[op], 0, 0)
        if refusal := closed_year_refusal(op, period, recorded, month):
            raise TrueUpError(refusal)


def closed_year_refusal(op: str, period: str, recorded: dict[str, OperatorMonthRecord],
                        month: OperatorMonthRecord) -> str | None:
    """Why `month`, a new month of `op`, cannot be settled: a true-up into a year whose carry has been used."""
    later = sorted(p for p in recorded if p[:4] > period[:4])
    if not later or not month.true_up_fen:
        return None
    year = period[:4]
    return (f"true-up for a closed year: operator {op!r} has settled {later[0]}, so its {year} true-ups were already "
            f"carried into the {later[0][:4]} allowance; closing {period} now would true up {month.true_up_fen:,} fen "
            f"more of {year} (its revenue there is above the year's allowed revenue) that no allowance would reduce. "
            f"An operator's months close year by year: nothing was changed")


def _month(op: str, period: str, recorded: dict[str, OperatorMonthRecord], schedules: list[settlement_pb2.FeeSchedule],
           revenue_fen: int, calls: int, free: int) -> OperatorMonthRecord:
    """A new month of `op`; `recorded` holds its settled months (never `period` itself), in any order."""
    assert period not in recorded, (op, period)
    year = period[:4]
    same_year = [recorded[p] for p in sorted(recorded) if p[:4] == year]
    earlier_years = sorted(p[:4] for p in recorded if p[:4] < year)
    carry_in = _carry_out([recorded[p] for p in sorted(recorded) if earlier_years and p[:4] == earlier_years[-1]])
    # Sums over the year's settled months, not the last one's running totals: a late month may follow later ones.
    revenue_before = sum(m.revenue_fen for m in same_year)
    trued_before = sum(m.true_up_fen for m in same_year)
    yearly = sum(yearly_allowance_fen(s.allowed_cost_fen, s.allowed_profit_fen, s.allowed_tax_fen) for s in schedules)
    if schedules:
        m = month_true_up(yearly, carry_in, revenue_before, trued_before, revenue_fen)
        allowance, true_up, carry_out = m.allowance_fen, m.true_up_fen, m.carry_out_fen
    else:  # no allowance without a schedule: nothing is trued up, the carried reduction waits
        allowance, true_up, carry_out = 0, 0, carry_in + trued_before
    return OperatorMonthRecord(
        period=period, revenue_fen=revenue_fen, calls=calls, public_interest_calls_free=free,
        has_schedule=bool(schedules), yearly_allowance_fen=yearly, carry_in_fen=carry_in, allowance_fen=allowance,
        revenue_to_date_fen=revenue_before + revenue_fen, true_up_fen=true_up, true_ups_to_date_fen=trued_before + true_up,
        carry_out_fen=carry_out)


def _carry_out(year: list[OperatorMonthRecord]) -> int:
    """What a year's settled months (in period order) carry into the next: the reduction it could not absorb
    (as its last month saw it) plus every true-up of the year."""
    if not year:
        return 0
    last = year[-1]
    return last.carry_out_fen - last.true_ups_to_date_fen + sum(m.true_up_fen for m in year)


def _posted_revenue(client: redis.Redis, period: str, operator_of: dict[str, str]) -> dict[str, int]:
    """Buyers' data charges billed in `period` so far per operator, from the rated lines as the statements read them
    (postings are summed per account, without their product)."""
    store = LedgerStore(client)
    products = pa.array(sorted(operator_of), pa.string())
    revenue: dict[str, int] = defaultdict(int)
    for batch_id in store.batches_in_period(period):
        lines_ipc = store.lines(batch_id)
        if not lines_ipc:
            continue
        lines = read_lines(lines_ipc)
        lines = lines.filter(pc.and_(pc.equal(lines.column("billed_period"), period),
                                     pc.is_in(lines.column("product_id"), value_set=products)))
        for product_id, fen in zip(lines.column("product_id").to_pylist(), lines.column("data_fen").to_pylist()):
            revenue[operator_of[product_id]] += fen
    return revenue


def _operators_of_products(client: redis.Redis) -> dict[str, str]:
    ids = sorted(i.decode() for i in client.smembers(PRODUCTS_KEY))
    out = {}
    for start in range(0, len(ids), 1000):
        for raw in client.mget([product_key(i) for i in ids[start:start + 1000]]):
            if raw is not None:
                product = catalog_pb2.Product.FromString(raw)
                if product.spec.public_data.operator_id:
                    out[product.product_id] = product.spec.public_data.operator_id
    return out


def _schedules_by_operator(client: redis.Redis) -> dict[str, list[list[settlement_pb2.FeeSchedule]]]:
    out: dict[str, list[list[settlement_pb2.FeeSchedule]]] = defaultdict(list)
    for schedule_id in sorted(i.decode() for i in client.smembers(FEE_SCHEDULES_KEY)):
        versions = parse_versions(client.hgetall(fee_schedule_key(schedule_id)))
        if versions:
            out[versions[-1].operator_id].append(versions)
    return out


def _revenue(lines: pa.Table, operator_of: dict[str, str]) -> dict[str, int]:
    """Buyers' data charges per operator: the buyer side of the statements, so the report adds up to them."""
    buyer_data = lines.filter(pc.and_(pc.starts_with(lines.column("account_id"), "buyer:"),
                                      pc.equal(lines.column("kind"), ledger_pb2.POSTING_KIND_DATA)))
    revenue: dict[str, int] = defaultdict(int)
    for product_id, amount in zip(buyer_data.column("product_id").to_pylist(), buyer_data.column("amount_fen").to_pylist()):
        if product_id in operator_of:
            revenue[operator_of[product_id]] -= amount
    return revenue


def _calls(period: str, batches: Iterable[tuple[str, list, dict, bytes]],
           operator_of: dict[str, str]) -> tuple[dict[str, int], dict[str, int]]:
    """(commercial calls, free public-interest calls) per operator: rated records of its products billed in `period`."""
    calls: dict[str, int] = defaultdict(int)
    free: dict[str, int] = defaultdict(int)
    products = pa.array(sorted(operator_of), pa.string())
    for _, _, _, lines_ipc in batches:
        if not lines_ipc:
            continue
        rated = read_lines(lines_ipc)
        rated = rated.filter(pc.and_(pc.equal(rated.column("billed_period"), period),
                                     pc.is_in(rated.column("product_id"), value_set=products)))
        is_free = (rated.column("free").to_pylist() if "free" in rated.column_names else [False] * rated.num_rows)
        for product_id, served_free in zip(rated.column("product_id").to_pylist(), is_free):
            (free if served_free else calls)[operator_of[product_id]] += 1
    return calls, free


def _true_up_lines(period: str, memo: list[tuple[str, OperatorMonthRecord]]) -> pa.Table:
    from shuniu.market.settlement.statements import STATEMENT_SCHEMA

    n = len(memo)
    blank = [""] * n
    columns = {
        "line_id": [f"true-up:{period}:{op}" for op, _ in memo], "account_id": [operator_account(op) for op, _ in memo],
        "kind": [ledger_pb2.POSTING_KIND_TRUE_UP] * n, "amount_fen": [0] * n,
        "counterparty": [f"allowance:{int(period[:4]) + 1}" for _ in memo], "record_id": blank, "job_id": blank,
        "grant_id": blank, "product_id": blank, "price_version": [0] * n, "category": blank, "quantity": [0] * n,
        "line_fen": [r.true_up_fen for _, r in memo], "guided_cap_reduction_fen": [0] * n, "original_period": blank,
        "batch_id": blank, "amount_millifen": [0] * n, "line_millifen": [r.true_up_fen * 1000 for _, r in memo],
        "free_rule": blank, "amount_rest_microfen": [0] * n, "line_rest_microfen": [0] * n,
    }  # fmt: skip
    return pa.table({f.name: pa.array(columns[f.name], f.type) for f in STATEMENT_SCHEMA}, schema=STATEMENT_SCHEMA)
