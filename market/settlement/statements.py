"""Statement lines of a period, per account: each batch's rated lines re-split with the plans it was posted with.

Pure. Every use is a line, free ones included with the rule that made them free (`free_rule`). Lines
keep their exact amount: milli-fen (`amount_millifen`, `line_millifen`) and, for compute lines, the micro-fen
below them (`amount_rest_microfen`, `line_rest_microfen`); `amount_fen` is each line's share of what was
posted, whole fen: the ledger posts each (payer, payee) pair of a period the whole fen of its exact amount
and rounds the rest once at close, half up (docs/billing.md, "Amounts below a fen" and
"Statements"), and a pair's fen are given to its lines by largest remainder (ties to the earlier line
id). `statement_lines` checks every pair's milli-fen, so rounded, against its postings in the period
and every account's lines against its postings, and refuses statements that do not add up. A line's parts
are its milli-fen and its micro-fen rest each split by largest remainder, as the biller splits them.
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
from shuniu.market.ledger.transfers import TRANSFER_KINDS, transfer_lines
from shuniu.market import split as revenue_split  # its kernel (Numba) loads on the first split
from shuniu.protos.v1 import ledger_pb2

__all__ = ["STATEMENT_SCHEMA", "StatementMismatch", "apportioned", "apportioned_rest", "rounded_fen", "statement_lines"]

STATEMENT_SCHEMA = pa.schema([
    ("line_id", pa.string()), ("account_id", pa.string()), ("kind", pa.int32()), ("amount_fen", pa.int64()),
    ("counterparty", pa.string()), ("record_id", pa.string()), ("job_id", pa.string()), ("grant_id", pa.string()),
    ("product_id", pa.string()), ("price_version", pa.int64()), ("category", pa.string()), ("quantity", pa.int64()),
    ("line_fen", pa.int64()), ("guided_cap_reduction_fen", pa.int64()), ("original_period", pa.string()),
    ("batch_id", pa.string()),
    ("amount_millifen", pa.int64()),  # the line's milli-fen (signed as amount_fen; exact with amount_rest_microfen)
    ("line_millifen", pa.int64()),  # the rated line's milli-fen, what the buyer's line is for (with line_rest_microfen)
    ("free_rule", pa.string()),  # why the line costs nothing (ledger.lines.FREE_RULES), "" otherwise
    ("amount_rest_microfen", pa.int64()),  # the micro-fen below amount_millifen (0..999, signed as amount_fen)
    ("line_rest_microfen", pa.int64()),  # the micro-fen below line_millifen (compute lines are rated to the micro-fen)
])  # fmt: skip
_MILLIFEN_PER_FEN = 1000
_MICROFEN_PER_FEN = 1_000_000


class StatementMismatch(AssertionError):
    """Statement lines that do not add up to the ledger's postings: the ledger or the lines are broken."""


def rounded_fen(amount: np.ndarray | int, per_fen: int = _MILLIFEN_PER_FEN):
    """A closed period's rule for a pair's amount (milli-fen, or any unit `per_fen` to a fen): its whole fen, and
    one more for half a fen or more (四舍五入, half up)."""
    return amount // per_fen + (amount % per_fen >= per_fen // 2)


def statement_lines(period: str, batches: Iterable[tuple[str, list[LedgerPosting], dict, bytes]]) -> pa.Table:
    """Every statement line of `period` (all accounts), sorted by account then line id.

    `batches` holds (batch id, postings, split plans, rated lines IPC) of each batch billed in the period
    (with the batch that rounded its accruals when it closed)."""
    usage: list[pa.Table] = []
    moves: list[pa.Table] = []
    posted: dict[str, int] = defaultdict(int)
    pairs: dict[tuple[str, str, int], int] = defaultdict(int)
    for batch_id, postings, plans, lines_ipc in batches:
        in_period = [p for p in postings if p.period == period]
        for p in in_period:
            posted[p.debit_account_id] -= p.amount_fen
            posted[p.credit_account_id] += p.amount_fen
            if p.kind not in TRANSFER_KINDS:
                pairs[(p.credit_account_id, p.debit_account_id, p.kind)] += p.amount_fen
        moved = transfer_lines(batch_id, in_period, STATEMENT_SCHEMA)  # vouchers (算力券) used, payments
        if moved is not None:
            moves.append(moved)
        if lines_ipc:
            lines = read_lines(lines_ipc)
            lines = lines.filter(pc.equal(lines.column("billed_period"), period))
            if lines.num_rows:
                usage += _batch_lines(batch_id, plans, lines)
    parts = [_with_posted_fen(pa.concat_tables(usage), pairs)] if usage else []
    table = pa.concat_tables(parts + moves) if parts or moves else STATEMENT_SCHEMA.empty_table()
    table = table.sort_by([("account_id", "ascending"), ("line_id", "ascending")])
    _check_against_postings(table, posted)
    return table


def _batch_lines(batch_id: str, plan_specs: dict, lines: pa.Table) -> list[pa.Table]:
    """A batch's usage lines (amount_fen still 0): per record its compute line (when it costs something or the
    record read no product) and its data line (when it read one), and each paying line's parts."""
    plans = revenue_split.build_split_plans(plan_specs["data"], plan_specs["compute"], plan_specs["exchange_id"])
    has_product = pc.not_equal(lines.column("product_id"), "")
    free_rule = lines.column("free_rule") if "free_rule" in lines.column_names else pa.nulls(lines.num_rows, pa.string())
    out = []
    for kind, amount_col, plan_of in (("c", "compute_millifen", plans.compute_plan_index),
                                      ("d", "data_millifen", plans.data_plan_index)):
        rest_col = lines.column("compute_rest_microfen") if kind == "c" else pa.array(np.zeros(lines.num_rows, np.int64))
        charged = pc.or_(pc.greater(lines.column(amount_col), 0), pc.greater(rest_col, 0))
        shown = pc.or_(charged, pc.invert(has_product)) if kind == "c" else has_product
        rows = lines.filter(shown)
        if not rows.num_rows:
            continue
        amount = rows.column(amount_col).to_numpy()
        rest = rest_col.filter(shown).to_numpy()
        rule = pc.if_else(charged.filter(shown), "",
                          pc.fill_null(free_rule.filter(shown), "zero_price") if kind == "d" else "zero_price")
        line_ids = pc.binary_join_element_wise(batch_id, rows.column("record_id"), kind, ":")
        original = pc.if_else(pc.equal(rows.column("usage_period"), rows.column("billed_period")), "", rows.column("usage_period"))
        quantity = rows.column("units") if kind == "d" else rows.column("cpu_ms")
        cap = rows.column("cap_reduction_fen") if kind == "d" else pa.array(np.zeros(rows.num_rows, np.int64))
        buyers = pc.binary_join_element_wise("buyer", rows.column("buyer_id"), ":")
        common = {"record_id": rows.column("record_id"), "job_id": rows.column("job_id"), "grant_id": rows.column("grant_id"),
                  "product_id": rows.column("product_id"), "price_version": rows.column("price_version"),
                  "category": rows.column("category"), "quantity": quantity, "line_millifen": rows.column(amount_col),
                  "line_rest_microfen": pa.array(rest, pa.int64()), "original_period": original}
        if kind == "c":  # a compute line names no product, even when its record also read one
            blank = pa.array([""] * rows.num_rows, pa.string())
            common.update(product_id=blank, category=blank, price_version=pa.array(np.zeros(rows.num_rows, np.int64)))
        buyer_kind = ledger_pb2.POSTING_KIND_COMPUTE if kind == "c" else ledger_pb2.POSTING_KIND_DATA
        out.append(_table(line_ids, buyers, np.full(rows.num_rows, buyer_kind), -amount, -rest, _counterparty_of_buyer(rows, kind),
                          {**common, "free_rule": rule}, cap, batch_id))
        paying = np.flatnonzero((amount > 0) | (rest > 0))
        if not paying.size:
            continue
        take_paying = pa.array(paying)
        plan = plan_of(rows.column("compute_center" if kind == "c" else "product_id").take(take_paying).combine_chunks())
        split = revenue_split.split_lines(plans, plan, amount[paying])
        rest_parts = revenue_split.split_lines(plans, plan, rest[paying]).part_fen  # same plans: same slots per line
        # One row per part: repeat each paying line's columns for its plan's slots.
        counts = np.diff(split.line_offsets)
        line_of_part = np.repeat(np.arange(paying.size), counts)
        slot = plans.plan_offsets[plan][line_of_part] + (np.arange(len(split.part_fen)) - split.line_offsets[line_of_part])
        party = [plans.parties[k] for k in plans.slot_party[slot].tolist()]
        keep = np.flatnonzero((split.part_fen > 0) | (rest_parts > 0))
        take = pa.array(paying[line_of_part[keep]])
        accounts = pa.array([account_id(*party[k]) for k in keep.tolist()], pa.string())
        kinds = np.array([POSTING_KIND_OF_PARTY[party[k][0]] for k in keep.tolist()], dtype=np.int32)
        blank_rule = pa.array([""] * len(keep), pa.string())
        out.append(_table(pc.binary_join_element_wise(line_ids.take(take), accounts, "@"), accounts, kinds,
                          split.part_fen[keep], rest_parts[keep], buyers.take(take), {**{k: v.take(take) for k, v in common.items()}, "free_rule": blank_rule},
                          pa.array(np.zeros(len(keep), np.int64)), batch_id))
    return out


def _with_posted_fen(usage: pa.Table, pairs: dict[tuple[str, str, int], int]) -> pa.Table:
    """Usage lines with amount_fen and line_fen: each (payee, payer, kind) pair's milli-fen rounded by the close
    rule, checked against what was posted to the pair, and given to the pair's lines by largest remainder."""
    usage = usage.take(pc.sort_indices(usage, [("line_id", "ascending")]))
    account = usage.column("account_id").to_pylist()
    payer = usage.column("counterparty").to_pylist()
    kind = usage.column("kind").to_numpy()
    millifen = usage.column("amount_millifen").to_numpy()
    rest = usage.column("amount_rest_microfen").to_numpy()
    is_part = np.array([not a.startswith("buyer:") for a in account], dtype=bool)
    part = np.flatnonzero(is_part)
    keys = [(account[i], payer[i], int(kind[i])) for i in part.tolist()]
    names = sorted(set(keys))
    where = {name: k for k, name in enumerate(names)}
    code = np.array([where[k] for k in keys], dtype=np.int64)
    # Each pair's exact micro-fen, in Python integers (a period's lines may add up past int64 micro-fen).
    total = [m * _MILLIFEN_PER_FEN + r for m, r in zip(_sums_by(code, millifen[part], len(names)), _sums_by(code, rest[part], len(names)))]
    due = [rounded_fen(t, _MICROFEN_PER_FEN) for t in total]
    for (payee, buyer, k), t, fen in zip(names, total, due):
        if pairs.get((payee, buyer, k), 0) != fen:
            raise StatementMismatch(f"{buyer} to {payee} (kind {k}): lines of the period add to {t} micro-fen, {fen} fen "
                                    f"by the close rule; postings to {pairs.get((payee, buyer, k), 0)} fen")
    fen = np.zeros(usage.num_rows, dtype=np.int64)
    whole, below = np.divmod(millifen[part], _MILLIFEN_PER_FEN)
    fen[part] = apportioned_rest(whole, below * _MILLIFEN_PER_FEN + rest[part], code, np.array(due, dtype=np.int64))
    # A buyer's line is what its parts were given; its id is the parts' id before "@".
    given: dict[str, int] = defaultdict(int)
    for line_id, f in zip(pc.take(usage.column("line_id"), pa.array(part)).to_pylist(), fen[part].tolist()):
        given[line_id.rsplit("@", 1)[0]] += f
    base = [line_id.rsplit("@", 1)[0] if p else line_id for line_id, p in zip(usage.column("line_id").to_pylist(), is_part)]
    line_fen = np.array([given.get(b, 0) for b in base], dtype=np.int64)
    fen[~is_part] = -line_fen[~is_part]
    usage = usage.set_column(STATEMENT_SCHEMA.get_field_index("amount_fen"), "amount_fen", pa.array(fen, pa.int64()))
    return usage.set_column(STATEMENT_SCHEMA.get_field_index("line_fen"), "line_fen", pa.array(line_fen, pa.int64()))


def _sums_by(code: np.ndarray, values: np.ndarray, n: int) -> list[int]:
    """Σ of non-negative int64 values per code as Python ints, exact: 31-bit halves summed apart."""
    high, low = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    np.add.at(high, code, values >> 31)
    np.add.at(low, code, values & (2**31 - 1))
    return [h * 2**31 + lo for h, lo in zip(high.tolist(), low.tolist())]


def apportioned(millifen: np.ndarray, code: np.ndarray, due: np.ndarray) -> np.ndarray:
    """Each line's whole fen, and one more to the lines of each pair with the largest rest below a fen (earlier
    line first) until the pair's lines add up to its `due` fen."""
    whole, rest = np.divmod(millifen, _MILLIFEN_PER_FEN)
    return apportioned_rest(whole, rest, code, due)


def apportioned_rest(whole: np.ndarray, rest: np.ndarray, code: np.ndarray, due: np.ndarray) -> np.ndarray:
    """`apportioned` of lines given as whole fen and a rest below a fen in any finer unit (milli- or micro-fen)."""
    floor_sum = np.zeros(len(due), dtype=np.int64)
    np.add.at(floor_sum, code, whole)
    extra = due - floor_sum
    assert (extra >= 0).all() and (extra <= np.bincount(code, weights=rest > 0, minlength=len(due))).all(), \
        "a pair's rounded fen lie outside its lines' floors and ceilings"
    order = np.lexsort((np.arange(len(code)), -rest, code))
    first = np.searchsorted(code[order], np.arange(len(due)))
    rank = np.empty(len(code), dtype=np.int64)
    rank[order] = np.arange(len(code)) - first[code[order]]
    return whole + (rank < extra[code])


def _counterparty_of_buyer(rows: pa.Table, kind: str) -> pa.Array:
    key = rows.column("compute_center") if kind == "c" else rows.column("product_id")
    return pc.binary_join_element_wise("compute_center" if kind == "c" else "product", key, ":")


def _table(line_ids, accounts, kinds, amounts_millifen, rests_microfen, counterparty, common, cap, batch_id) -> pa.Table:
    n = len(amounts_millifen)
    zeros = pa.array(np.zeros(n, np.int64))  # amount_fen and line_fen: given once the period's pairs are known
    columns = {"line_id": line_ids, "account_id": accounts, "kind": pa.array(kinds, pa.int32()),
               "amount_fen": zeros, "amount_millifen": pa.array(amounts_millifen, pa.int64()), "line_fen": zeros,
               "amount_rest_microfen": pa.array(rests_microfen, pa.int64()),
               "counterparty": counterparty, **common,
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
