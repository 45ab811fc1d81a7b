"""Statement lines of a period, per account: each batch's rated lines re-split with the plans it was posted with.

Pure. The split is deterministic, so re-splitting a line gives the parts that were posted;
`statement_lines` checks that the lines of every account add up to its postings in the
period and refuses to produce statements that do not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shuniu.market.ledger import LedgerPosting, account_id
from shuniu.market.ledger.lines import read_lines
from shuniu.market.ledger.model import POSTING_KIND_OF_PARTY
from shuniu.market.ledger.transfers import transfer_lines
from shuniu.market import split as revenue_split  # its kernel (Numba) loads on the first split
from shuniu.protos.v1 import ledger_pb2

__all__ = ["STATEMENT_SCHEMA", "StatementMismatch", "statement_lines"]

STATEMENT_SCHEMA = pa.schema([
    ("line_id", pa.string()), ("account_id", pa.string()), ("kind", pa.int32()), ("amount_fen", pa.int64()),
    ("counterparty", pa.string()), ("record_id", pa.string()), ("job_id", pa.string()), ("grant_id", pa.string()),
    ("product_id", pa.string()), ("price_version", pa.int64()), ("category", pa.string()), ("quantity", pa.int64()),
    ("line_fen", pa.int64()), ("guided_cap_reduction_fen", pa.int64()), ("original_period", pa.string()),
    ("batch_id", pa.string()),
])  # fmt: skip


class StatementMismatch(AssertionError):
    """Statement lines that do not add up to the ledger's postings: the ledger or the lines are broken."""


def statement_lines(period: str, batches: Iterable[tuple[str, list[LedgerPosting], dict, bytes]]) -> pa.Table:
    """Every statement line of `period` (all accounts), sorted by account then line id.

    `batches` holds (batch id, postings, split plans, rated lines IPC) of each batch billed in the period."""
    parts: list[pa.Table] = []
    posted: dict[str, int] = defaultdict(int)
    for batch_id, postings, plans, lines_ipc in batches:
        in_period = [p for p in postings if p.period == period]
        for p in in_period:
            posted[p.debit_account_id] -= p.amount_fen
            posted[p.credit_account_id] += p.amount_fen
        moved = transfer_lines(batch_id, in_period, STATEMENT_SCHEMA)  # vouchers (算力券) used, payments
        if moved is not None:
            parts.append(moved)
        if lines_ipc:
            lines = read_lines(lines_ipc)
            lines = lines.filter(pc.equal(lines.column("billed_period"), period))
            if lines.num_rows:
                parts += _batch_lines(batch_id, plans, lines)
    table = pa.concat_tables(parts) if parts else STATEMENT_SCHEMA.empty_table()
    table = table.sort_by([("account_id", "ascending"), ("line_id", "ascending")])
    _check_against_postings(table, posted)
    return table


def _batch_lines(batch_id: str, plan_specs: dict, lines: pa.Table) -> list[pa.Table]:
    plans = revenue_split.build_split_plans(plan_specs["data"], plan_specs["compute"], plan_specs["exchange_id"])
    out = []
    for kind, amount_col, plan_of in (("c", "compute_fen", plans.compute_plan_index), ("d", "data_fen", plans.data_plan_index)):
        rows = lines.filter(pc.greater(lines.column(amount_col), 0))
        if not rows.num_rows:
            continue
        plan = plan_of(rows.column("compute_center" if kind == "c" else "product_id").combine_chunks())
        amount = rows.column(amount_col).to_numpy()
        split = revenue_split.split_lines(plans, plan, amount)
        line_ids = pc.binary_join_element_wise(batch_id, rows.column("record_id"), kind, ":")
        original = pc.if_else(pc.equal(rows.column("usage_period"), rows.column("billed_period")), "", rows.column("usage_period"))
        quantity = rows.column("units") if kind == "d" else rows.column("cpu_ms")
        cap = rows.column("cap_reduction_fen") if kind == "d" else pa.array(np.zeros(rows.num_rows, np.int64))
        buyers = pc.binary_join_element_wise("buyer", rows.column("buyer_id"), ":")
        common = {"record_id": rows.column("record_id"), "job_id": rows.column("job_id"), "grant_id": rows.column("grant_id"),
                  "product_id": rows.column("product_id"), "price_version": rows.column("price_version"),
                  "category": rows.column("category"), "quantity": quantity, "line_fen": rows.column(amount_col),
                  "original_period": original}
        if kind == "c":  # a compute line names no product, even when its record also read one
            blank = pa.array([""] * rows.num_rows, pa.string())
            common.update(product_id=blank, category=blank, price_version=pa.array(np.zeros(rows.num_rows, np.int64)))
        buyer_kind = ledger_pb2.POSTING_KIND_COMPUTE if kind == "c" else ledger_pb2.POSTING_KIND_DATA
        out.append(_table(line_ids, buyers, np.full(rows.num_rows, buyer_kind), -amount, _counterparty_of_buyer(rows, kind),
                          common, cap, batch_id))
        # One row per part: repeat each line's columns for its plan's slots.
        counts = np.diff(split.line_offsets)
        line_of_part = np.repeat(np.arange(rows.num_rows), counts)
        slot = plans.plan_offsets[plan][line_of_part] + (np.arange(len(split.part_fen)) - split.line_offsets[line_of_part])
        party = [plans.parties[k] for k in plans.slot_party[slot].tolist()]
        keep = np.flatnonzero(split.part_fen > 0)
        take = pa.array(line_of_part[keep])
        accounts = pa.array([account_id(*party[k]) for k in keep.tolist()], pa.string())
        kinds = np.array([POSTING_KIND_OF_PARTY[party[k][0]] for k in keep.tolist()], dtype=np.int32)
        out.append(_table(pc.binary_join_element_wise(line_ids.take(take), accounts, "@"), accounts, kinds,
                          split.part_fen[keep], buyers.take(take), {k: v.take(take) for k, v in common.items()},
                          pa.array(np.zeros(len(keep), np.int64)), batch_id))
    return out


def _counterparty_of_buyer(rows: pa.Table, kind: str) -> pa.Array:
    key = rows.column("compute_center") if kind == "c" else rows.column("product_id")
    return pc.binary_join_element_wise("compute_center" if kind == "c" else "product", key, ":")


def _table(line_ids, accounts, kinds, amounts, counterparty, common, cap, batch_id) -> pa.Table:
    n = len(amounts)
    columns = {"line_id": line_ids, "account_id": accounts, "kind": pa.array(kinds, pa.int32()),
               "amount_fen": pa.array(amounts, pa.int64()), "counterparty": counterparty, **common,
               "guided_cap_reduction_fen": cap, "batch_id": pa.array([batch_id] * n, pa.string())}
    return pa.table([pa.array(columns[f.name], f.type) if not isinstance(columns[f.name], (pa.Array, pa.ChunkedArray))
                     else columns[f.name].cast(f.type) for f in STATEMENT_SCHEMA], schema=STATEMENT_SCHEMA)


def _check_against_postings(table: pa.Table, posted: dict[str, int]) -> None:
    grouped = table.group_by("account_id").aggregate([("amount_fen", "sum")])
    lines = dict(zip(grouped.column("account_id").to_pylist(), grouped.column("amount_fen_sum").to_pylist()))
    for account in sorted(set(lines) | set(posted)):
        if lines.get(account, 0) != posted.get(account, 0):
            raise StatementMismatch(f"account {account}: statement lines add to {lines.get(account, 0)} fen, "
                                    f"postings of the period to {posted.get(account, 0)} fen")
