"""The double-entry ledger in Redis: one atomic script per batch, reads, and the full check.

Keys (all under shuniu:ledger:):
  batches          hash batch id -> summary JSON (the idempotency record of the batch)
  order            list of batch ids in commit order
  postings         hash batch id -> {postings as columns or rows (columns.py), "plans": {...}} JSON
  lines:{batch}    Arrow IPC of the batch's rated lines (statements re-split them)
  debits, credits  hash account id -> fen; balance = credits - debits
  updated          hash account id -> unix ms of its last posting
  totals           hash debits_fen, credits_fen, batches
  volume           hash "product|buyer|period" -> cumulative billable units (volume tiers)
  periods          hash period -> "closed:<unix ms>" once settlement closed it
  period:{period}  list of batch ids with postings billed in that period
  accrual:{period} hash "kind|debit|credit" -> micro-fen below a fen the pair accrued in that (open) period;
                   closing the period rounds each once (close_period.lua, docs/billing.md)
  records:{period} string: the 8-byte keyed hashes of the record ids billed with usage in that period, appended
                   with each batch; record_key: the hash's key (market/billing/record_ids.py: each record billed once)
Retention (scheduler/retention) moves the lines of old batches to the cold file of cold.py; the
rest stays: `batches` is the exact idempotency record the posting script checks, and `order` and
`postings` are what `check` recomputes every balance from.
The posting script also writes `shuniu:vouchers:remaining` (voucher id -> fen left), owned by
market/vouchers, when a batch draws on compute vouchers: the draw commits with the batch or not at all.
"""

from __future__ import annotations

import json
import pathlib
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import redis

from shuniu.market.ledger.cold import COLD_DATASET_KEY, LedgerCold, dataset_directory
from shuniu.market.ledger.columns import account_sums_of_body, postings_body, postings_of_body
from shuniu.market.ledger.lines import PendingLines
from shuniu.market.ledger.model import BatchPosting, LedgerPosting, split_account_id
from shuniu.protos.v1 import ledger_pb2

__all__ = ["LedgerStore", "PostOutcome", "ledger_key"]

_PREFIX = "shuniu:ledger:"
_SCRIPT = (pathlib.Path(__file__).with_name("post_batch.lua")).read_text()
_CLOSE_SCRIPT = (pathlib.Path(__file__).with_name("close_period.lua")).read_text()
VOUCHER_REMAINING_KEY = "shuniu:vouchers:remaining"  # market/vouchers owns it; the posting script draws on it
_STATUS = {1: "posted", 0: "duplicate", -1: "period_closed", -2: "stale_volume", -3: "stale_voucher", -4: "stale_records",
           -5: "too_late"}


def ledger_key(name: str) -> str:
    return _PREFIX + name


def rounding_batch_id(period: str) -> str:
    """The batch that rounds a closed period's accruals."""
    return f"rounding:{period}"


def accrual_key(period: str) -> str:
    """The hash of a billed period's accruals: "kind|debit account|credit account" -> micro-fen below a fen (1..999,999)."""
    return ledger_key(f"accrual:{period}")


def _accruals(postings, periods: list[str]) -> list:
    """The posting script's accrual arguments of a batch's column postings: per posting with micro-fen below a
    fen, (index, period position, pair field "kind|debit|credit", micro-fen)."""
    sub = getattr(postings, "sub_microfen", None)
    if sub is None or not sub.any():
        return []
    position = [periods.index(name) if name in periods else -1 for name in postings.periods]
    a = postings.accounts
    rows = np.flatnonzero(sub)
    out: list = [None] * (4 * len(rows))  # one pass over plain ints: numpy scalars cost ~1 µs each here
    out[0::4] = rows.tolist()
    out[1::4] = [position[k] for k in postings.period[rows].tolist()]
    out[2::4] = [f"{kind}|{a[debit]}|{a[credit]}" for kind, debit, credit in zip(
        postings.kind[rows].tolist(), postings.debit[rows].tolist(), postings.credit[rows].tolist())]
    out[3::4] = sub[rows].tolist()
    return out


def records_key(period: str) -> str:
    """The log of the hashes of the record ids billed with usage in `period` ("YYYY-MM")."""
    return ledger_key(f"records:{period}")


@dataclass(frozen=True)
class PostOutcome:
    """posted, duplicate (the batch id was posted before: nothing changed), period_closed, stale_volume,
    stale_voucher (a voucher's remaining amount changed since it was read, or it expired: draw again),
    stale_records (a period's record log is no longer as long as expected: another biller appended to it) or
    too_late (a period whose record log was forgotten); none of the refusals changed anything."""

    status: str
    detail: str = ""


class LedgerStore:
    """Reads and writes the ledger through a synchronous redis-py client."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._post = client.register_script(_SCRIPT)
        self._close = client.register_script(_CLOSE_SCRIPT)
        self._cold: LedgerCold | None = None  # opened once retention has made the file

    def post(self, batch: BatchPosting, *, stream: str = "", group: str = "", entry_id: str = "",
             record_logs: Sequence[tuple[str, int, bytes]] = (), retention_ms: int = 0, refused: Mapping = {}) -> PostOutcome:
        """Write a batch's postings atomically with its idempotency record (and XACK its entry).

        `record_logs`: per usage period, (period, the length its record log must have, the 8-byte hashes of the batch's
        record ids to append to it) (market/billing/record_index.py); `refused`: what the summary says of records left out."""
        periods = batch.periods
        keys = [ledger_key(k) for k in ("batches", "order", "postings", "debits", "credits", "totals", "volume",
                                        "periods", f"lines:{batch.batch_id}", "updated")]
        keys += [stream or ledger_key("no-stream"), *(ledger_key(f"period:{p}") for p in periods), VOUCHER_REMAINING_KEY]
        keys += [records_key(p) for p, _, _ in record_logs]
        debits, credits = batch.account_totals()
        sides = [len(debits), *(x for item in debits.items() for x in item), len(credits), *(x for item in credits.items() for x in item)]
        volume = [x for field, (before, after) in sorted(batch.volume.items()) for x in (field, before, after)]
        now_ms = int(time.time() * 1000)
        summary = {"records": batch.record_count, "charged_fen": batch.charged_fen, "periods": periods,
                   "node_id": batch.node_id, "entry_id": entry_id, "posted_unix_ms": now_ms}
        if batch.voucher_fen:
            summary["voucher_fen"] = batch.voucher_fen
        if batch.reference:
            summary["reference"] = batch.reference
        summary.update(refused)
        summary = json.dumps(summary)
        draws = [x for vid, (before, after, until_ms) in sorted(batch.voucher_balances.items())
                 for x in (vid, before, after, until_ms)]
        body = json.dumps({**postings_body(batch.postings), "plans": batch.plans, "posted_unix_ms": now_ms},
                          separators=(",", ":"))
        lines = batch.lines_ipc.ipc() if isinstance(batch.lines_ipc, PendingLines) else batch.lines_ipc
        args = [batch.batch_id, now_ms, batch.posted_fen, summary, body, lines, group if stream else "",
                entry_id, *sides, len(periods), *periods, len(batch.volume), *volume,
                len(batch.voucher_balances), *draws]
        if record_logs:
            args += [len(record_logs), retention_ms, *(x for log in record_logs for x in log)]
        accruals = _accruals(batch.postings, periods)
        if accruals:  # amounts below a fen, accrued per pair and period by the script
            args += [] if record_logs else [0, 0]
            args += [len(accruals) // 4, *accruals]
            keys += [accrual_key(p) for p in periods]
        status, detail = self._post(keys=keys, args=args)
        detail = detail.decode() if isinstance(detail, bytes) else str(detail)
        return PostOutcome(_STATUS[int(status)], detail)

    # Period state -----------------------------------------------------------------------------

    def closed_periods(self) -> dict[str, int]:
        """Closed period -> unix ms it was closed."""
        return closed_periods_of(self.client.hgetall(ledger_key("periods")))

    def close_period(self, period: str) -> int:
        """Mark a period closed (once; later calls keep the first time) and round what each pair accrued below a
        fen in it, in the same atomic step (batch "rounding:<period>"); return its closing unix ms."""
        keys = [ledger_key(k) for k in ("periods", f"accrual:{period}", "batches", "order", "postings", "debits", "credits",
                                        "totals", "updated", f"period:{period}")]
        return int(self._close(keys=keys, args=[period, int(time.time() * 1000), rounding_batch_id(period)]))

    def volumes(self, fields: list[str]) -> list[int]:
        if not fields:
            return []
        return [int(v) if v is not None else 0 for v in self.client.hmget(ledger_key("volume"), fields)]

    # Reads ------------------------------------------------------------------------------------

    def batch_order(self) -> list[str]:
        return [b.decode() for b in self.client.lrange(ledger_key("order"), 0, -1)]

    def batches_in_period(self, period: str) -> list[str]:
        return [b.decode() for b in self.client.lrange(ledger_key(f"period:{period}"), 0, -1)]

    def batch_summary(self, batch_id: str) -> dict | None:
        raw = self.client.hget(ledger_key("batches"), batch_id)
        return None if raw is None else json.loads(raw)

    def batch_postings(self, batch_ids: list[str]) -> list[tuple[str, list[LedgerPosting], dict, int]]:
        """(batch id, postings, split plans, posted unix ms) per batch, in the order asked."""
        if not batch_ids:
            return []
        out = []
        for batch_id, raw in zip(batch_ids, self.client.hmget(ledger_key("postings"), batch_ids)):
            body = json.loads(raw)
            out.append((batch_id, postings_of_body(body), body["plans"], body["posted_unix_ms"]))
        return out

    def lines(self, batch_id: str) -> bytes:
        """A batch's rated lines: from Redis, else from the cold file retention moved them to (cold.py)."""
        found = self.client.get(ledger_key(f"lines:{batch_id}"))
        if found is None and self._cold is None:
            self._cold = LedgerCold.of_dataset(dataset_directory(self.client.get(COLD_DATASET_KEY)))
        if found is None and self._cold is not None:
            found = self._cold.lines(batch_id)
        return found or b""

    def iter_postings(self, chunk: int = 500) -> Iterator[tuple[str, LedgerPosting, int]]:
        """(batch id, posting, posted unix ms) of every batch, in commit order."""
        order = self.batch_order()
        for start in range(0, len(order), chunk):
            for batch_id, postings, _, posted_ms in self.batch_postings(order[start:start + chunk]):
                for p in postings:
                    yield batch_id, p, posted_ms

    def account(self, account: str) -> ledger_pb2.Account | None:
        kind, owner = split_account_id(account)
        pipe = self.client.pipeline(transaction=False)
        for name in ("debits", "credits", "updated"):
            pipe.hget(ledger_key(name), account)
        debits, credits, updated = pipe.execute()
        if debits is None and credits is None:
            return None
        d, c = int(debits or 0), int(credits or 0)
        return ledger_pb2.Account(account_id=account, kind=kind, owner_id=owner, balance_fen=c - d, debits_fen=d,
                                  credits_fen=c, updated_unix_ms=int(updated or 0))

    def accounts(self) -> list[ledger_pb2.Account]:
        """Every account with a posting, sorted by id."""
        debits, credits, updated = self._balances()
        out = []
        for account in sorted(set(debits) | set(credits)):
            kind, owner = split_account_id(account)
            d, c = debits.get(account, 0), credits.get(account, 0)
            out.append(ledger_pb2.Account(account_id=account, kind=kind, owner_id=owner, balance_fen=c - d,
                                          debits_fen=d, credits_fen=c, updated_unix_ms=updated.get(account, 0)))
        return out

    def _balances(self) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        pipe = self.client.pipeline(transaction=True)  # one consistent snapshot of the three hashes
        for name in ("debits", "credits", "updated"):
            pipe.hgetall(ledger_key(name))
        return tuple({k.decode(): int(v) for k, v in raw.items()} for raw in pipe.execute())

    def check(self) -> ledger_pb2.CheckLedgerResponse:
        """Recompute every balance from the postings; prove debits = credits and each balance = its postings."""
        pipe = self.client.pipeline(transaction=True)
        for name in ("debits", "credits", "totals"):
            pipe.hgetall(ledger_key(name))
        pipe.lrange(ledger_key("order"), 0, -1)
        pipe.hgetall(ledger_key("postings"))
        debits, credits, totals, order, bodies = pipe.execute()
        stored = _net(debits, credits)
        recomputed: dict[str, int] = defaultdict(int)
        total_debits = total_credits = count = 0
        for batch_id in order:
            debited, credited, postings = account_sums_of_body(json.loads(bodies[batch_id]))
            for account, fen in debited.items():
                recomputed[account] -= fen
            for account, fen in credited.items():
                recomputed[account] += fen
            total_debits += sum(debited.values())
            total_credits += sum(credited.values())
            count += postings
        mismatches = [ledger_pb2.AccountMismatch(account_id=a, stored_fen=stored.get(a, 0), recomputed_fen=recomputed.get(a, 0))
                      for a in sorted(set(stored) | set(recomputed)) if stored.get(a, 0) != recomputed.get(a, 0)]
        stored_debits = sum(int(v) for v in debits.values())
        stored_credits = sum(int(v) for v in credits.values())
        totals = {k.decode(): int(v) for k, v in totals.items()}
        ok = (not mismatches and stored_debits == stored_credits == total_debits == total_credits
              and totals.get("debits_fen", 0) == totals.get("credits_fen", 0) == total_debits
              and len(bodies) == len(order) == len(set(order)))
        return ledger_pb2.CheckLedgerResponse(
            ok=ok, total_debits_fen=stored_debits, total_credits_fen=stored_credits, accounts_checked=len(stored),
            postings_checked=count, mismatches=mismatches, checked_unix_ms=int(time.time() * 1000))


def closed_periods_of(periods: dict[bytes, bytes]) -> dict[str, int]:
    """Closed period -> unix ms it was closed, from the raw `periods` hash."""
    return {k.decode(): int(v.decode().split(":")[1]) for k, v in periods.items() if v.startswith(b"closed:")}


def _net(debits: dict, credits: dict) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for k, v in debits.items():
        out[k.decode()] -= int(v)
    for k, v in credits.items():
        out[k.decode()] += int(v)
    return dict(out)


def postings_matching(rows: Iterable[tuple[str, LedgerPosting, int]], *, account: str = "", batch_id: str = "",
                      period: str = "") -> Iterator[tuple[str, LedgerPosting, int]]:
    """Filter (batch id, posting, posted ms) rows by account (either side), batch and period."""
    for row in rows:
        b, p, _ = row
        if account and account not in (p.debit_account_id, p.credit_account_id):
            continue
        if (batch_id and b != batch_id) or (period and p.period != period):
            continue
        yield row
