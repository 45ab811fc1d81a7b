"""Charging one usage batch: rate (Numba kernels), split (largest remainder), aggregate into postings.

Pure: everything read from Redis comes in as arguments (the PriceBook, the cumulative
volumes, the closed periods), so that the same code is the biller's hot path and is
testable alone. Volume tiers count per (product, buyer, usage period): the biller reads
those counters, the kernels start from them, and the new values are written in the same
atomic step as the postings.

Lines are rated and split exactly: data lines in milli-fen, compute lines to the micro-fen (their milli-fen and
the micro-fen below them, each split by largest remainder, so that a line's parts add up to it exactly). Each
posting (buyer, usage period, party) carries its whole fen and the micro-fen below a fen, which the posting
script accrues per (payer, payee) pair (docs/billing.md, "Amounts below a fen"): a short job at a low price
is paid what it costs. Sums are exact whatever the batch's total: past int64 the lines are split in chunks
and summed in Python integers, and a posting past what the ledger sums exactly is posted in pieces.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa

from shuniu.market.ledger import BatchPosting, PostingColumns, account_id, billed_period, month_name, periods_of_ms
from shuniu.market.ledger.columns import exact_sum
from shuniu.market.ledger.lines import FREE_RULES, LINES_SCHEMA, PendingLines
from shuniu.market.ledger.model import MAX_AMOUNT_FEN, POSTING_KIND_OF_PARTY
from shuniu.market.rating.data import MILLIFEN_PER_FEN
from shuniu.market.rating import RateTables, RatingInputs, index_type, prepare_batch, rate_inputs, rating_form
from shuniu.market.split import SplitPlans, split_sums
from shuniu.market.vouchers.apply import NO_DRAWS, draw_batch
from shuniu.market.vouchers.draw import HeldVoucher
from shuniu.protos.usage_schema import string_codes

__all__ = ["LINES_SCHEMA", "PreparedBatch", "PriceBook", "charge_batch", "prepare_usage", "volume_field"]

_DENSE_KEYS = 1 << 22  # sum straight into every possible (buyer, period, party) key up to this many
_SPLIT_MILLIFEN = 2**62  # what one split call sums in int64 (market/split: MAX_BATCH_FEN, in the lines' unit)
_PIECE_FEN = 2**52  # a posting past MAX_AMOUNT_FEN is posted as pieces of at most this many fen


@dataclass(frozen=True, eq=False)
class PriceBook:
    """What one batch is rated and split with."""

    tables: RateTables
    plans: SplitPlans
    plan_specs: dict  # {"data": {product: spec}, "compute": {center: spec}, "exchange_id": id}
    categories: dict[str, str] = field(default_factory=dict)  # product id -> price-index category


@dataclass(frozen=True, eq=False)
class PreparedBatch:
    """A validated batch resolved into kernel inputs, with its volume slots."""

    batch_id: str
    batch: pa.RecordBatch
    inputs: RatingInputs
    usage_month: np.ndarray  # int64 month index per record
    volume_slot: np.ndarray  # index_type(records) per record (0 for records without a product): the kernel streams it
    volume_fields: list[str]  # "product|buyer|period" per slot
    buyer_code: np.ndarray  # int64 per record, index into buyer_names
    buyer_names: list[str]
    month_code: np.ndarray  # int64 per record, index into month_values
    month_values: np.ndarray  # int64 month indexes the batch's records fall in, ascending


def volume_field(product_id: str, buyer_id: str, period: str) -> str:
    return f"{product_id}|{buyer_id}|{period}"


def prepare_usage(batch_id: str, batch: pa.RecordBatch, book: PriceBook, validated: bool = False) -> PreparedBatch:
    """Validate (unless `validated`) and resolve a batch (raises UsageSchemaError or RatingInputError) and find its volume slots."""
    batch = rating_form(batch)  # as the kernels read it; the lines are written from the same columns
    inputs = prepare_batch(batch, book.tables, validate=not validated)
    months = periods_of_ms(batch.column("end_unix_ms").to_numpy())
    month_values, month_code = _dense_codes(months)
    data = np.flatnonzero(inputs.product_index >= 0)
    slot = np.zeros(len(inputs), dtype=index_type(len(inputs)))  # a batch has at most a slot per record
    fields: list[str] = []
    buyer_names, buyer_code = string_codes(batch.column("buyer_id"))
    buyer_code = buyer_code.astype(np.int64)
    if data.size:
        product_names, product_code = np.unique(np.array(book.tables.data.product_ids, dtype=object), return_inverse=True)
        n_buyers, n_months = len(buyer_names), len(month_values)
        key = (product_code[inputs.product_index[data]] * n_buyers + buyer_code[data]) * n_months + month_code[data]
        keys, slot[data] = _dense_codes(key)
        product_buyer, month = np.divmod(keys, n_months)
        product, buyer = np.divmod(product_buyer, n_buyers)
        month_names = [month_name(int(m)) for m in month_values]
        fields = [volume_field(product_names[p], buyer_names[b], month_names[m])
                  for p, b, m in zip(product.tolist(), buyer.tolist(), month.tolist())]
    return PreparedBatch(batch_id, batch, inputs, months, slot, fields, buyer_code, buyer_names, month_code, month_values)


def _dense_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values ascending, code per value) as np.unique(return_inverse=True) gives, without a sort
    when the values span a small range (months of a batch, its volume keys): a mark and a running count."""
    if not len(values):
        return values[:0].astype(np.int64), np.zeros(0, dtype=np.int64)
    low = int(values.min())
    span = int(values.max()) - low + 1
    if span > _DENSE_KEYS:
        distinct, code = np.unique(values, return_inverse=True)
        return distinct.astype(np.int64), code.astype(np.int64)
    offset = values - low
    used = np.zeros(span, dtype=bool)
    used[offset] = True
    rank = np.cumsum(used, dtype=np.int64) - 1
    return np.flatnonzero(used) + low, rank[offset]


def charge_batch(prepared: PreparedBatch, book: PriceBook, units_before: list[int], closed: Container[str],
                 node_id: str = "", vouchers: Sequence[HeldVoucher] = (), now_ms: int = 0) -> BatchPosting:
    """Rate, split and aggregate a prepared batch into its postings (one per buyer, party and period).

    `vouchers` are the compute vouchers (算力券) the batch's buyers hold; valid at `now_ms`, they pay
    the buyers' eligible compute charges first (market/vouchers), posted with the rest of the batch."""
    before = np.array(units_before, dtype=np.int64)
    rated = rate_inputs(prepared.inputs, book.tables, before, prepared.volume_slot)
    batch, inputs, d = prepared.batch, prepared.inputs, book.tables.data
    month_code = prepared.month_code
    usage_names = [month_name(int(m)) for m in prepared.month_values]
    billed_names = [billed_period(name, closed) for name in usage_names]

    is_data = inputs.product_index >= 0
    compute_rows = np.flatnonzero((rated.compute_millifen > 0) | (rated.compute_rest_microfen > 0))
    data_rows = np.flatnonzero(rated.data_millifen > 0)
    plan = np.concatenate([
        _plan_index(book.plans.compute_plan_index, batch.column("compute_center"), compute_rows),
        _plan_index(book.plans.data_plan_index, batch.column("product_id"), data_rows),
    ]) if compute_rows.size + data_rows.size else np.zeros(0, dtype=np.int32)  # fmt: skip
    record = np.concatenate([compute_rows, data_rows])
    amount = np.concatenate([rated.compute_millifen[compute_rows], rated.data_millifen[data_rows]])
    rest = np.concatenate([rated.compute_rest_microfen[compute_rows].astype(np.int64), np.zeros(data_rows.size, np.int64)])
    postings = _aggregate(prepared, book, record, plan, amount, rest, month_code, usage_names, billed_names)

    volume = {}
    for f, (b, a) in zip(prepared.volume_fields, zip(before.tolist(), rated.units_after.tolist())):
        volume[f] = (b, a)
    units = np.where(is_data, np.choose(np.append(d.unit_kind, 0)[inputs.product_index].astype(np.int64),
                                        [inputs.rows, inputs.calls, inputs.queries]), 0)
    lines = _lines(prepared, book, rated, units, month_code, usage_names, billed_names)
    # A voucher pays whole fen of each compute line (what is below a fen the buyer accrues): never more than charged.
    draws = NO_DRAWS if not vouchers else draw_batch(
        prepared.buyer_code, month_code, batch.column("compute_class").to_numpy(), batch.column("site"),
        rated.compute_millifen // MILLIFEN_PER_FEN, prepared.buyer_names, usage_names, billed_names, vouchers, now_ms)
    if draws.postings:
        postings = replace(postings, rows=draws.postings) if isinstance(postings, PostingColumns) else tuple(draws.postings)
    whole_fen = exact_sum(postings.amount_fen) if isinstance(postings, PostingColumns) else 0
    return BatchPosting(
        batch_id=prepared.batch_id, postings=postings, charged_fen=whole_fen,
        record_count=batch.num_rows, volume=volume, lines_ipc=lines, plans=book.plan_specs, node_id=node_id,
        voucher_fen=draws.drawn_fen, voucher_balances=draws.balances,
    )


def _plan_index(plan_of, column: pa.Array, rows: np.ndarray) -> np.ndarray:
    """Split plan of each of `rows`, resolved once per distinct center or product and taken by code."""
    if not rows.size:
        return np.zeros(0, dtype=np.int32)
    names, code = string_codes(column)
    used = np.zeros(len(names), dtype=bool)
    used[code[rows]] = True
    plan = np.zeros(len(names), dtype=np.int32)
    plan[used] = plan_of([names[k] for k in np.flatnonzero(used).tolist()])
    return plan[code[rows]]


def _aggregate(prepared: PreparedBatch, book: PriceBook, record, plan, amount, rest, month_code, usage_names,
               billed_names) -> PostingColumns | tuple:
    """Split each line (milli-fen, and micro-fen below them) and sum the parts per (buyer, usage period, party): one
    posting each (pieces of a posting past MAX_AMOUNT_FEN), its kind given by the party, its whole fen in amount_fen
    and the rest in sub_microfen."""
    if not len(record):
        return ()
    plans = book.plans
    line_key = prepared.buyer_code[record] * len(usage_names) + month_code[record]
    n_keys = len(prepared.buyer_names) * len(usage_names)
    distinct = None
    if n_keys * len(plans.parties) > _DENSE_KEYS:  # very many buyers: number the keys that occur, densely
        distinct, line_key = np.unique(line_key, return_inverse=True)
        n_keys = len(distinct)
    millifen = _split_summed(plans, plan, amount, line_key, n_keys)
    has_rest = np.flatnonzero(rest)  # compute lines with micro-fen below a milli-fen: their rest is split too
    microfen = (_split_summed(plans, plan[has_rest], rest[has_rest], line_key[has_rest], n_keys) if has_rest.size
                else np.zeros(len(millifen), dtype=np.int64))
    groups = np.flatnonzero((millifen != 0) | (microfen != 0))  # parts are >= 0: a non-zero sum is a posting
    if not len(groups):
        return ()
    millifen, microfen = millifen[groups], microfen[groups]
    millifen = millifen + microfen // MILLIFEN_PER_FEN  # a key's micro-fen parts are < 1000 a line: no overflow
    whole_fen = millifen // MILLIFEN_PER_FEN  # object arrays (Python ints) past int64 stay exact (they have no divmod)
    below = millifen - whole_fen * MILLIFEN_PER_FEN
    sub_microfen = np.asarray(below * MILLIFEN_PER_FEN + microfen % MILLIFEN_PER_FEN, dtype=np.int64)
    key, party = np.divmod(groups, len(plans.parties))
    whole_fen, pieces = _in_pieces(whole_fen)
    key, party, sub_microfen = key[pieces], party[pieces], np.where(np.r_[True, pieces[1:] != pieces[:-1]], sub_microfen[pieces], 0)
    buyer, month = np.divmod(key if distinct is None else distinct[key], len(usage_names))
    # One posting per (buyer, usage period, party) key, as columns over name tables: no object per posting.
    accounts = [account_id("buyer", name) for name in prepared.buyer_names]
    accounts += [account_id(party_type, party_id) for party_type, party_id in plans.parties]
    party_kinds = np.array([POSTING_KIND_OF_PARTY[party_type] for party_type, _ in plans.parties], dtype=np.int64)
    # Periods: the billed names first, then the usage names of late usage, then "" (billed on time).
    periods = list(dict.fromkeys([*billed_names, *usage_names, ""]))
    billed_at = np.array([periods.index(name) for name in billed_names], dtype=np.int64)
    original_at = np.array([periods.index(u if u != b else "") for u, b in zip(usage_names, billed_names)], dtype=np.int64)
    return PostingColumns(
        accounts=tuple(accounts), periods=tuple(periods), kind=party_kinds[party], debit=buyer,
        credit=len(prepared.buyer_names) + party, amount_fen=whole_fen, period=billed_at[month], original_period=original_at[month],
        sub_microfen=sub_microfen,
    )


def _split_summed(plans: SplitPlans, plan: np.ndarray, amount: np.ndarray, line_key: np.ndarray, n_keys: int) -> np.ndarray:
    """Σ of the lines' parts per (key, party), flat as split_sums gives them: int64 while the lines add up to at most
    _SPLIT_MILLIFEN (no key's sum can wrap), else split in chunks that each do and summed in Python integers (object)."""
    if exact_sum(amount) <= _SPLIT_MILLIFEN:
        return split_sums(plans, plan, amount, line_key, n_keys).ravel()
    # Rare (a batch worth more than 4.6e15 fen): chunks of lines each adding up to at most _SPLIT_MILLIFEN (a line is
    # at most 2^62), greedy in line order.
    total = np.zeros(n_keys * len(plans.parties), dtype=object)
    start, acc = 0, 0
    for i, a in enumerate(amount.tolist() + [_SPLIT_MILLIFEN]):
        if acc + a > _SPLIT_MILLIFEN or i == len(amount):
            total = total + split_sums(plans, plan[start:i], amount[start:i], line_key[start:i], n_keys).ravel().astype(object)
            start, acc = i, 0
        acc += a
    return total


def _in_pieces(whole_fen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int64 fen per piece, the posting each piece is of): a posting of MAX_AMOUNT_FEN or more (the posting script
    sums in doubles, exact below 2^53) becomes pieces of _PIECE_FEN and the rest; others are one piece."""
    if whole_fen.dtype != object and (not len(whole_fen) or int(whole_fen.max()) < MAX_AMOUNT_FEN):
        return whole_fen.astype(np.int64), np.arange(len(whole_fen))
    amounts, of = [], []
    for k, fen in enumerate(int(f) for f in whole_fen):
        while fen >= MAX_AMOUNT_FEN:
            amounts.append(_PIECE_FEN)
            of.append(k)
            fen -= _PIECE_FEN
        amounts.append(fen)
        of.append(k)
    return np.array(amounts, dtype=np.int64), np.array(of, dtype=np.int64)


def _lines(prepared: PreparedBatch, book: PriceBook, rated, units, month_code, usage_names, billed_names) -> PendingLines | bytes:
    # Every record is kept, charged or not: a statement shows every use, free lines with the rule that made them free.
    n = prepared.batch.num_rows
    if not n:
        return b""
    col = prepared.batch.column
    # Category per product row of the rate tables (and "" for compute-only records), and the periods, as
    # dictionaries over their few values: built from codes, never as a string per line.
    row_categories = pa.array([book.categories.get(p, "") for p in book.tables.data.product_ids] + [""], pa.string())
    product_row = prepared.inputs.product_index
    category_code = np.where(product_row < 0, len(row_categories) - 1, product_row).astype(np.int32)
    months = pa.array(month_code.astype(np.int32))
    by_code = lambda codes, names: pa.DictionaryArray.from_arrays(codes, names)  # noqa: E731
    return PendingLines([
        col("record_id"), col("job_id"), col("grant_id"), col("buyer_id"), col("node_id"), col("compute_center"),
        col("product_id"), col("price_version"), by_code(pa.array(category_code), row_categories),
        by_code(months, pa.array(usage_names, pa.string())), by_code(months, pa.array(billed_names, pa.string())),
        pa.array(units), col("cpu_ms"), col("memory_mb_s"), col("gpu_ms"),
        pa.array(rated.compute_millifen), pa.array(rated.data_millifen), pa.array(rated.cap_reduction_millifen),
        pa.array(prepared.inputs.free, pa.bool_()), by_code(pa.array(_free_rule_code(prepared, rated)), _FREE_RULE_NAMES),
        pa.array(rated.compute_rest_microfen.astype(np.int32)),
    ])  # fmt: skip


_FREE_RULE_NAMES = pa.array(["", *FREE_RULES], pa.string())
_PUBLIC_INTEREST, _GUIDED_CAP, _ZERO_PRICE = (1 + FREE_RULES.index(r) for r in ("public_interest", "guided_cap", "zero_price"))


def _free_rule_code(prepared: PreparedBatch, rated) -> np.ndarray:
    """Why a record's line costs nothing, as an index into _FREE_RULE_NAMES (0: it is charged). A data
    record's rule is its data line's; a compute-only record's is its compute line's."""
    has_product = prepared.inputs.product_index >= 0
    amount = np.where(has_product, rated.data_millifen, rated.compute_millifen + (rated.compute_rest_microfen > 0))
    code = np.where(amount > 0, 0, _ZERO_PRICE)
    code = np.where((amount == 0) & has_product & (rated.cap_reduction_millifen > 0), _GUIDED_CAP, code)
    code = np.where(has_product & prepared.inputs.free, _PUBLIC_INTEREST, code)
    return code.astype(np.int8)
