"""UsageService.ListHolderUsage: a data holder's live view of the use of its products (可控可计量).

Sourced from what billing already wrote, so billed-but-unsettled use counts at once: the ledger's
commit order of posted batches, each batch's summary (the usage-stream entry it came from), its
rated lines and the split plans it was posted with. Per (product, buyer, grant, purpose) a row
holds the jobs, rows and calls of the usage records (metadata the node signed) and the holder's
revenue due: its own parts of each data line in milli-fen, re-split with the batch's plan exactly as
posted, and in fen what the ledger posts for them: per (buyer, billed period) the whole fen of their
milli-fen, rounded once half up when the period closed (docs/billing.md, "Amounts below a fen"),
given to the rows by largest remainder.
Never the buyer's outputs: nothing here reads a job's result. Each call reads the ledger's batches
from the start (fine for the volumes of a provincial exchange; an incremental index comes when not).
ReportUsage is not served here (node agents write the usage stream directly).

The stream is an inbox: the biller trims billed, chained entries every few seconds, and retention
moves rated lines to the data set's cold file. A batch whose entry has left the stream is read from
the usage archive the biller keeps under the state directory (`<state dir>/usage-archive`, its
default), its lines from Redis or else the cold file, so the view keeps every posted batch.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import redis.asyncio as aioredis
from shuniu.market.catalog import ProductStore
from shuniu.market.credit import ORG_ID
from shuniu.market.ledger import ledger_key
from shuniu.market.ledger.lines import read_lines
from shuniu.market.ledger.store import closed_periods_of
from shuniu.market.settlement.statements import apportioned, rounded_fen
from shuniu.market import split as revenue_split  # its kernel (Numba) loads on the first split
from shuniu.protos.usage_schema import USAGE_STREAM, UsageSchemaError, batch_from_ipc
from shuniu.protos.v1 import usage_pb2, usage_pb2_grpc
from shuniu.scheduler.control_plane import validate
from shuniu.scheduler.control_plane.errors import invalid, not_found
from shuniu.scheduler.control_plane.node_service import refusals
from shuniu.scheduler.retention.cold import ColdStores

_CHUNK = 200  # batches read per round trip
_RECORD_COLUMNS = ["record_id", "job_id", "grant_id", "buyer_id", "product_id", "purpose", "purpose_category",
                   "rows", "calls", "end_unix_ms"]
Key = tuple[str, str, str, str, int]  # product, buyer, grant, purpose, purpose category


@dataclass
class _Row:
    jobs: set[str] = field(default_factory=set)
    rows: int = 0
    calls: int = 0
    due_millifen: dict[tuple[str, str], int] = field(default_factory=dict)  # (buyer, billed period) -> milli-fen
    last_used_unix_ms: int = 0


def holder_parts(holder_id: str, plan_specs: dict, lines: pa.Table) -> dict[str, tuple[int, tuple[str, str]]]:
    """The holder's part (milli-fen) of each data line and the (buyer, billed period) it is posted under, by record
    id, re-split with the plans the batch was posted with."""
    lines = lines.filter(pc.greater(lines.column("data_millifen"), 0))
    if not lines.num_rows:
        return {}
    plans = revenue_split.build_split_plans(plan_specs["data"], plan_specs["compute"], plan_specs["exchange_id"])
    plan = plans.data_plan_index(lines.column("product_id").combine_chunks())
    split = revenue_split.split_lines(plans, plan, lines.column("data_millifen").to_numpy())
    ours = np.array([party == ("holder", holder_id) for party in plans.parties] or [False], dtype=bool)
    pairs = zip(lines.column("buyer_id").to_pylist(), lines.column("billed_period").to_pylist())
    parts: dict[str, tuple[int, tuple[str, str]]] = {}
    for i, (record_id, pair) in enumerate(zip(lines.column("record_id").to_pylist(), pairs)):
        lo, hi = int(split.line_offsets[i]), int(split.line_offsets[i + 1])
        slots = np.arange(int(plans.plan_offsets[plan[i]]), int(plans.plan_offsets[plan[i]]) + (hi - lo))
        millifen = int(split.part_fen[lo:hi][ours[plans.slot_party[slots]]].sum())
        if millifen:
            parts[record_id] = (parts.get(record_id, (0, pair))[0] + millifen, pair)
    return parts


def add_batch(table: dict[Key, _Row], records: dict[str, list], parts: dict[str, int], products: set[str],
              from_ms: int, to_ms: int) -> None:
    """Adds one batch's data records of `products` within [from_ms, to_ms) (0: open) to the table."""
    for i, product_id in enumerate(records["product_id"]):
        end_ms = records["end_unix_ms"][i]
        if product_id not in products or (from_ms and end_ms < from_ms) or (to_ms and end_ms >= to_ms):
            continue
        key = (product_id, records["buyer_id"][i], records["grant_id"][i], records["purpose"][i],
               records["purpose_category"][i])
        row = table.setdefault(key, _Row())
        row.jobs.add(records["job_id"][i])
        row.rows += records["rows"][i]
        row.calls += records["calls"][i]
        millifen, pair = parts.get(records["record_id"][i], (0, None))
        if millifen:
            row.due_millifen[pair] = row.due_millifen.get(pair, 0) + millifen
        row.last_used_unix_ms = max(row.last_used_unix_ms, end_ms)


def usage_rows(table: dict[Key, _Row], closed: set[str]) -> list[usage_pb2.HolderUsageRow]:
    """The rows, each with its share in fen of what the ledger posts per (buyer, billed period) for them."""
    ordered = sorted(table.items())
    entries = [(k, pair, m) for k, (_, r) in enumerate(ordered) for pair, m in sorted(r.due_millifen.items())]
    fen = [0] * len(ordered)
    if entries:
        pairs = sorted({pair for _, pair, _ in entries})
        where = {pair: c for c, pair in enumerate(pairs)}
        code = np.array([where[pair] for _, pair, _ in entries], dtype=np.int64)
        millifen = np.array([m for _, _, m in entries], dtype=np.int64)
        total = np.zeros(len(pairs), dtype=np.int64)
        np.add.at(total, code, millifen)
        due = np.array([rounded_fen(t) if period in closed else t // 1000 for (_, period), t in zip(pairs, total.tolist())],
                       dtype=np.int64)
        for (k, _, _), f in zip(entries, apportioned(millifen, code, due).tolist()):
            fen[k] += f
    return [usage_pb2.HolderUsageRow(product_id=k[0], buyer_id=k[1], grant_id=k[2], purpose=k[3], purpose_category=k[4],
                                     jobs=len(r.jobs), rows=r.rows, calls=r.calls, revenue_due_fen=f,
                                     last_used_unix_ms=r.last_used_unix_ms)
            for (k, r), f in zip(ordered, fen)]


def archive_directory() -> pathlib.Path:
    """Where the biller archives usage entries by default: `<state dir>/usage-archive` (shuniu/cli/billing_cmd.py)."""
    return pathlib.Path(os.environ.get("SHUNIU_STATE_DIR", ".shuniu")).resolve() / "usage-archive"


def holder_records(usage_ipc: bytes, products: set[str]) -> dict[str, list] | None:
    """The columns of a usage batch's records of `products` (None: not a readable batch, or none of them)."""
    try:
        batch, _ = batch_from_ipc(usage_ipc)
    except (UsageSchemaError, ValueError):
        return None
    mine = batch.filter(pc.is_in(batch.column("product_id"), value_set=pa.array(sorted(products), pa.string())))
    return mine.select(_RECORD_COLUMNS).to_pydict() if mine.num_rows else None


def archived_records(directory: pathlib.Path, entry_ids: set[str],
                     products: set[str]) -> Iterator[tuple[str, dict[str, list]]]:
    """(entry id, records of `products`) of each wanted entry of the usage archive, read lazily (blocking I/O)."""
    if not entry_ids or not directory.is_dir():
        return
    # Imported here: the billing package loads the biller and its kernels, which the control plane never needs else.
    from shuniu.market.billing.archive import UsageArchive  # noqa: PLC0415

    seen: set[str] = set()
    for entry_id, fields in UsageArchive(directory).entries():
        if entry_id in entry_ids and entry_id not in seen:  # an entry archived twice: the first copy
            seen.add(entry_id)
            if (records := holder_records(fields.get(b"arrow_ipc", b""), products)) is not None:
                yield entry_id, records
            if len(seen) == len(entry_ids):
                return


def _take(items: Iterator, n: int) -> list:
    return list(itertools.islice(items, n))


class HolderUsageService(usage_pb2_grpc.UsageServiceServicer):
    def __init__(self, client: aioredis.Redis, cold: ColdStores | None = None,
                 archive_dir: pathlib.Path | None = None) -> None:
        self.redis = client
        self.products = ProductStore(client)
        self.cold = cold if cold is not None else ColdStores(client)
        self.archive_dir = archive_dir or archive_directory()

    async def _holder_products(self, holder_id: str, product_id: str) -> set[str]:
        owned = {p.product_id for p in await self.products.all() if p.spec.holder_id == holder_id}
        if product_id and product_id not in owned:
            raise not_found(f"product {product_id!r} is not a product of holder {holder_id!r}; expected one of "
                            f"{', '.join(sorted(owned)) or 'none (the holder has no products)'}")
        return {product_id} if product_id else owned

    async def _entries(self, batch_ids: list[str]) -> list[tuple[str, str, bytes]]:
        """(batch id, usage-stream entry id, the entry's Arrow IPC or b"" once trimmed) of each posted batch."""
        summaries = [json.loads(s) if s else {} for s in await self.redis.hmget(ledger_key("batches"), batch_ids)]
        entry_ids = [s.get("entry_id") or "0-0" for s in summaries]
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry_id in entry_ids:
                pipe.xrange(USAGE_STREAM, min=entry_id, max=entry_id, count=1)
            entries = await pipe.execute()
        return [(batch_id, entry_id, entry[0][1].get(b"arrow_ipc", b"") if entry else b"")
                for batch_id, entry_id, entry in zip(batch_ids, entry_ids, entries)]

    async def _lines(self, batch_id: str, hot: bytes | None) -> bytes:
        """A batch's rated lines: from Redis, else from the cold file retention moved them to."""
        if hot is not None:
            return hot
        cold = await self.cold.ledger()
        return (await self.cold.run(cold.lines, batch_id) if cold is not None else None) or b""

    async def _add(self, table: dict[Key, _Row], holder_id: str, found: list[tuple[str, dict[str, list]]],
                   products: set[str], from_ms: int, to_ms: int) -> None:
        """Adds (batch id, the holder's records) of posted batches, with its revenue from their lines and plans."""
        if not found:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(ledger_key("postings"), [batch_id for batch_id, _ in found])
            for batch_id, _ in found:
                pipe.get(ledger_key(f"lines:{batch_id}"))
            bodies, *hot = await pipe.execute()
        for (batch_id, records), body, hot_lines in zip(found, bodies, hot):
            lines_ipc = await self._lines(batch_id, hot_lines)
            parts = {}
            if body and lines_ipc:
                parts = holder_parts(holder_id, json.loads(body)["plans"], read_lines(lines_ipc))
            add_batch(table, records, parts, products, from_ms, to_ms)

    async def _table(self, holder_id: str, products: set[str], from_ms: int, to_ms: int) -> dict[Key, _Row]:
        table: dict[Key, _Row] = {}
        if not products:  # a holder without products: nothing to read
            return table
        trimmed: dict[str, str] = {}  # entry id -> batch id of posted batches no longer on the stream
        order = [b.decode() for b in await self.redis.lrange(ledger_key("order"), 0, -1)]
        for start in range(0, len(order), _CHUNK):
            found = []
            for batch_id, entry_id, usage_ipc in await self._entries(order[start:start + _CHUNK]):
                if not usage_ipc:
                    trimmed[entry_id] = batch_id
                elif (records := holder_records(usage_ipc, products)) is not None:
                    found.append((batch_id, records))
            await self._add(table, holder_id, found, products, from_ms, to_ms)
        # The archive is files read whole, off the event loop, a chunk of the holder's batches at a time. A posted
        # batch neither on the stream nor in this archive (a biller elsewhere): its use cannot be shown.
        archived = archived_records(self.archive_dir, set(trimmed), products)
        while chunk := await asyncio.to_thread(_take, archived, _CHUNK):
            await self._add(table, holder_id, [(trimmed[e], records) for e, records in chunk], products, from_ms, to_ms)
        return table

    @refusals
    async def ListHolderUsage(self, request: usage_pb2.ListHolderUsageRequest, context):
        if not ORG_ID.match(request.holder_id):
            raise invalid(f"holder_id {request.holder_id!r} is malformed; expected a data holder's id (1-128 letters, "
                          "digits, '.', '_', ':' or '-')")
        if request.from_unix_ms < 0 or request.to_unix_ms < 0 or (
                request.to_unix_ms and request.from_unix_ms >= request.to_unix_ms):
            raise invalid(f"from_unix_ms {request.from_unix_ms} / to_unix_ms {request.to_unix_ms}; expected "
                          "0 (open) or 0 <= from < to")
        size = validate.page_size(request.page_size)
        products = await self._holder_products(request.holder_id, request.product_id)
        closed = set(closed_periods_of(await self.redis.hgetall(ledger_key("periods"))))
        rows = usage_rows(await self._table(request.holder_id, products, request.from_unix_ms, request.to_unix_ms), closed)
        keys = [_row_key(r) for r in rows]
        start = next((i + 1 for i, k in enumerate(keys) if k == request.page_token), 0) if request.page_token else 0
        page = rows[start:start + size]
        more = start + size < len(rows)
        return usage_pb2.ListHolderUsageResponse(
            rows=page, next_page_token=keys[start + len(page) - 1] if more and page else "", total=len(rows),
            revenue_due_total_fen=sum(r.revenue_due_fen for r in rows))


def _row_key(row: usage_pb2.HolderUsageRow) -> str:
    return "|".join((row.product_id, row.buyer_id, row.grant_id, row.purpose, str(row.purpose_category)))
