"""Closing a period: statements per party (Parquet + Markdown), the period record, the price index.

Closing marks the period closed in the ledger first (the posting script refuses to post
into a closed period from then on, so late usage lands in the next open period), then
builds the statements from the period's postings and rated lines. A period can close only
after every earlier period with postings has closed, so opening balances never change;
closing a closed period again rebuilds the same files byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import urllib.parse
from collections import defaultdict

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import redis

from shuniu.market.ledger import LedgerStore, ledger_key, parse_period, split_account_id
from shuniu.market.ledger.transfers import TRANSFER_KINDS
from shuniu.market.public_data.settle import TrueUpError, annotate_statement, check_closed_years, settle_operators
from shuniu.market.settlement.price_index import IndexCell, chain_index, index_cells, index_table
from shuniu.market.settlement.statements import statement_lines
from shuniu.market.settlement.summary import period_summary, statement_summary
from shuniu.market.vouchers.statement import voucher_used_fen
from shuniu.protos.v1 import settlement_pb2
from shuniu.security.caller import current_actor

__all__ = ["SETTLEMENT_EVENTS_KEY", "SettlementError", "SettlementStore", "settlement_key"]

# One entry per settlement run (period, statements, total charged, manifest), in the run's own MULTI.
SETTLEMENT_EVENTS_KEY = "shuniu:events:settlement"

_PREFIX = "shuniu:settlement:"
_PARQUET = {"compression": "zstd", "write_statistics": True}


def settlement_key(name: str) -> str:
    return _PREFIX + name


class SettlementError(ValueError):
    """A close that cannot be done now; nothing was changed."""


class SettlementStore:
    """Periods, statements and the price index; files under `root`/settlement."""

    def __init__(self, client: redis.Redis, root: pathlib.Path, min_transactions: int = 3, min_parties: int = 2) -> None:
        self.client = client
        self.ledger = LedgerStore(client)
        self.root = pathlib.Path(root) / "settlement"
        self.min_transactions = min_transactions
        self.min_parties = min_parties

    def close(self, period: str) -> tuple[settlement_pb2.Period, list[settlement_pb2.Statement]]:
        """Close `period` (or rebuild a closed one) and return it with its statements."""
        parse_period(period)
        closed = self.ledger.closed_periods()
        open_before = sorted(p for p in self._periods_with_postings() if p < period and p not in closed)
        if open_before:
            raise SettlementError(f"period {open_before[0]} has postings and is still open; close the periods "
                                  f"before {period} first ({', '.join(open_before)})")
        try:  # before the ledger marks the period closed, so that a refused close stores nothing
            check_closed_years(self.client, period)
        except TrueUpError as err:
            raise SettlementError(str(err)) from None
        closed_ms = self.ledger.close_period(period)
        ids = self.ledger.batches_in_period(period)
        batches = [(b, postings, plans, self.ledger.lines(b)) for b, postings, plans, _ in self.ledger.batch_postings(ids)]
        lines = statement_lines(period, batches)
        lines = settle_operators(self.client, period, batches, lines)  # 公共数据授权运营: operators' months, true-ups
        folder = self.root / period
        folder.mkdir(parents=True, exist_ok=True)
        opening = self._opening_balances(period)
        statements = [self._write_statement(period, account, lines, opening.get(account, 0), folder)
                      for account in sorted(set(pc.unique(lines.column("account_id")).to_pylist()))]
        charged = pc.invert(pc.is_in(lines.column("kind"), pa.array(TRANSFER_KINDS, pa.int32())))  # not a voucher or payment
        buyer_lines = lines.filter(pc.and_(pc.starts_with(lines.column("account_id"), "buyer:"), charged))
        late = buyer_lines.filter(pc.not_equal(buyer_lines.column("original_period"), ""))
        record = settlement_pb2.Period(
            period=period, state=settlement_pb2.PERIOD_STATE_CLOSED, closed_unix_ms=closed_ms, statements=len(statements),
            late_records=len(pc.unique(late.column("record_id"))), total_charged_fen=-int(pc.sum(buyer_lines.column("amount_fen")).as_py() or 0))
        (folder / "summary.md").write_text(period_summary(record, statements))
        record.manifest_sha256 = _manifest(folder)
        self._save(record, statements)
        self._update_index(period, lines)
        return record, statements

    def period(self, period: str) -> settlement_pb2.Period | None:
        raw = self.client.get(settlement_key(f"period:{period}"))
        return None if raw is None else settlement_pb2.Period.FromString(raw)

    def statements(self, period: str = "") -> list[settlement_pb2.Statement]:
        periods = [period] if period else sorted(p.decode() for p in self.client.smembers(settlement_key("periods")))
        out = []
        for p in periods:
            raw = self.client.hgetall(settlement_key(f"statements:{p}"))
            out += [settlement_pb2.Statement.FromString(raw[k]) for k in sorted(raw)]
        return out

    def statement_lines(self, statement: settlement_pb2.Statement) -> pa.Table:
        return pq.read_table(statement.parquet_path)

    def price_index(self) -> tuple[list[settlement_pb2.PriceIndexPoint], dict[tuple[str, str], int]]:
        raw = self.client.hgetall(settlement_key("index"))
        cells = {tuple(k.decode().split("|", 1)): IndexCell.from_json(json.loads(v)) for k, v in raw.items()}
        return chain_index(cells, self.min_transactions, self.min_parties), {k: c.units for k, c in cells.items()}

    def _periods_with_postings(self) -> set[str]:
        prefix = ledger_key("period:")
        return {k.decode()[len(prefix):] for k in self.client.scan_iter(match=prefix + "*", count=1000)}

    def _opening_balances(self, period: str) -> dict[str, int]:
        opening: dict[str, int] = defaultdict(int)
        for _, p, _ in self.ledger.iter_postings():
            if p.period < period:
                opening[p.debit_account_id] -= p.amount_fen
                opening[p.credit_account_id] += p.amount_fen
        return opening

    def _write_statement(self, period: str, account: str, lines: pa.Table, opening_fen: int,
                         folder: pathlib.Path) -> settlement_pb2.Statement:
        own = lines.filter(pc.equal(lines.column("account_id"), account))
        amounts = own.column("amount_fen").to_numpy()
        late = own.filter(pc.not_equal(own.column("original_period"), "")).column("amount_fen").to_numpy()
        name = urllib.parse.quote(account, safe="")
        path = folder / f"{name}.parquet"
        pq.write_table(own, path, **_PARQUET)
        kind, owner = split_account_id(account)
        statement = settlement_pb2.Statement(
            statement_id=f"{period}/{account}", period=period, account_id=account, account_kind=kind, owner_id=owner,
            opening_balance_fen=opening_fen, closing_balance_fen=opening_fen + int(amounts.sum()),
            charges_fen=-int(amounts[amounts < 0].sum()), revenue_fen=int(amounts[amounts > 0].sum()),
            late_adjustment_fen=int(late.sum()), voucher_used_fen=voucher_used_fen(own), line_count=own.num_rows,
            parquet_path=str(path.resolve()),
            parquet_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
        statement.summary = statement_summary(statement, own)
        annotate_statement(statement, own)
        (folder / f"{name}.md").write_text(statement.summary)
        return statement

    def _save(self, record: settlement_pb2.Period, statements: list[settlement_pb2.Statement]) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.set(settlement_key(f"period:{record.period}"), record.SerializeToString())
        pipe.delete(settlement_key(f"statements:{record.period}"))
        if statements:
            pipe.hset(settlement_key(f"statements:{record.period}"),
                      mapping={s.account_id: s.SerializeToString() for s in statements})
        pipe.sadd(settlement_key("periods"), record.period)
        pipe.xadd(SETTLEMENT_EVENTS_KEY, {"period": record.period, "statements": record.statements,
                                          "total_charged_fen": record.total_charged_fen,
                                          "late_records": record.late_records, "manifest_sha256": record.manifest_sha256,
                                          "closed_unix_ms": record.closed_unix_ms, "actor": current_actor()},
                  maxlen=10_000, approximate=True)
        pipe.execute()

    def _update_index(self, period: str, lines: pa.Table) -> None:
        cells = index_cells(lines)
        pipe = self.client.pipeline(transaction=True)
        for category, cell in cells.items():
            pipe.hset(settlement_key("index"), f"{category}|{period}", json.dumps(cell.to_json()))
        pipe.execute()
        points, units = self.price_index()
        self.root.mkdir(parents=True, exist_ok=True)
        pq.write_table(index_table(points, units), self.root / "price_index.parquet", **_PARQUET)


def _manifest(folder: pathlib.Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
