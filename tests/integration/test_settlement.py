"""Settlement through the control plane and the CLI: statements, late usage, identical re-runs, the index, the ledger check."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
import redis
from test_prometheus import _scrape

from shuniu.bench.billing import NOV_2026_MS, seed_market, signed_sender, synthetic_usage
from shuniu.market.billing import Biller, BillerConfig
from shuniu.nodes.usage import UsageSpool
from shuniu.protos.v1 import settlement_pb2
from shuniu.stack import free_port


def shuniu(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shuniu.cli", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200"})


def _bill(client, spool: UsageSpool, market, seeds, start_ms=NOV_2026_MS) -> None:
    for seed in seeds:
        spool.append(synthetic_usage(market, spool.node_id, 400, seed=seed, start_ms=start_ms))
    signed_sender(market, spool, client).send_pending()
    biller = Biller(client, BillerConfig(block_ms=0))
    biller.ensure_group()
    while biller.step(block_ms=0):
        pass


@pytest.fixture
def settled(redis_url, tmp_path, monkeypatch, control_plane_factory):
    """A control plane writing statements under tmp_path, over a ledger with November usage."""
    monkeypatch.setenv("SHUNIU_STATE_DIR", str(tmp_path / "state"))
    client = redis.Redis.from_url(redis_url)
    market = seed_market(client)
    spool = UsageSpool(tmp_path / "spool", market.nodes[0])
    _bill(client, spool, market, range(4))
    port = free_port()
    plane = control_plane_factory(metrics_port=port)
    plane.metrics_port = port  # its /metrics, on loopback
    yield plane, client, market, spool, tmp_path / "state" / "settlement"
    client.close()


def _files(folder: pathlib.Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_close_a_period_then_late_usage_lands_in_the_next_and_reruns_are_identical(settled):
    plane, client, market, spool, root = settled
    first = shuniu("settle", "--period", "2026-11", "--json", "--addr", plane.address)
    assert first.returncode == 0, first.stderr
    period = json.loads(first.stdout)["period"]
    assert period["state"] == "PERIOD_STATE_CLOSED" and int(period["total_charged_fen"]) > 0
    files = _files(root / "2026-11")
    assert "summary.md" in files and "buyer%3Abuyer-0.parquet" in files and "exchange%3Aexchange.md" in files

    _bill(client, spool, market, [90], start_ms=NOV_2026_MS + 86_400_000)  # November usage, after November closed
    again = shuniu("settle", "--period", "2026-11", "--json", "--addr", plane.address)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["period"]["manifest_sha256"] == period["manifest_sha256"]
    assert _files(root / "2026-11") == files  # byte for byte

    refused = shuniu("settle", "--period", "2027-01", "--addr", plane.address)
    assert refused.returncode != 0 and "FAILED_PRECONDITION" in refused.stderr and "2026-12" in refused.stderr

    december = shuniu("settle", "--period", "2026-12", "--json", "--addr", plane.address)
    assert december.returncode == 0, december.stderr
    closed = json.loads(december.stdout)
    assert int(closed["period"]["late_records"]) > 0
    buyer = next(s for s in closed["statements"] if s["account_id"] == "buyer:buyer-0")
    assert int(buyer["late_adjustment_fen"]) < 0 and buyer["late_adjustment_fen"] == str(-int(buyer["charges_fen"]))
    lines = pq.read_table(buyer["parquet_path"]).to_pylist()
    assert {line["original_period"] for line in lines} == {"2026-11"}
    assert all(line["record_id"] and line["job_id"] and line["grant_id"] for line in lines)
    runs = _scrape(plane.metrics_port)  # November twice (the rerun is a run), December once; January refused
    assert runs[("shuniu_settlement_runs_total", (("outcome", "closed"),))] == 3
    assert runs[("shuniu_settlement_runs_total", (("outcome", "refused"),))] == 1


def test_statements_are_served_with_traceable_lines_and_balances_carry_over(settled):
    plane, client, market, spool, root = settled
    with plane.client() as c:
        closed = c.settlement.ClosePeriod(settlement_pb2.ClosePeriodRequest(request_id="close-1", period="2026-11"), timeout=60)
        listed = c.settlement.ListStatements(settlement_pb2.ListStatementsRequest(period="2026-11"), timeout=10)
        assert listed.total == len(closed.statements) > 3
        got = c.settlement.GetStatement(settlement_pb2.GetStatementRequest(statement_id="2026-11/holder:holder-0-a", page_size=5), timeout=10)
        assert got.statement.revenue_fen > 0 and len(got.lines) == 5 and got.next_page_token == "5"
        assert all(line.record_ids and line.job_id and line.price_version == 1 and line.amount_fen > 0 for line in got.lines)
        for s in closed.statements:
            assert s.closing_balance_fen == s.opening_balance_fen + s.revenue_fen - s.charges_fen
        assert sum(s.closing_balance_fen for s in closed.statements) == 0  # double entry: the parties' sides cancel
        with pytest.raises(Exception, match="YYYY-MM"):
            c.settlement.ClosePeriod(settlement_pb2.ClosePeriodRequest(request_id="close-2", period="2026-13"), timeout=10)
    checked = shuniu("ledger", "check", "--addr", plane.address)
    assert checked.returncode == 0 and "balanced" in checked.stdout, checked.stderr
    balance = shuniu("ledger", "balance", "--account", "buyer:buyer-1", "--json", "--addr", plane.address)
    assert balance.returncode == 0 and int(json.loads(balance.stdout)[0]["balance_fen"]) < 0
    missing = shuniu("ledger", "balance", "--account", "buyer:nobody", "--addr", plane.address)
    assert missing.returncode != 0 and "NOT_FOUND" in missing.stderr


def test_price_index_starts_at_100_and_chains_to_the_next_period(settled):
    plane, client, market, spool, root = settled
    _bill(client, spool, market, [50, 51], start_ms=NOV_2026_MS + 31 * 86_400_000)  # December usage
    for period in ("2026-11", "2026-12"):
        assert shuniu("settle", "--period", period, "--addr", plane.address).returncode == 0
    result = shuniu("index", "--json", "--addr", plane.address)
    assert result.returncode == 0, result.stderr
    points = json.loads(result.stdout)["points"]
    by_category: dict[str, list] = {}
    for p in points:
        by_category.setdefault(p["category"], []).append(p)
    assert set(by_category) == {"traffic", "health", "energy"}
    for cells in by_category.values():
        assert [c["period"] for c in cells] == ["2026-11", "2026-12"]
        assert cells[0]["index_value"] == 100 and cells[1]["index_value"] > 0
    table = pq.read_table(root / "price_index.parquet")
    assert table.num_rows == 6 and set(table.column("category").to_pylist()) == set(by_category)
    shown = shuniu("index", "--addr", plane.address)
    assert shown.returncode == 0 and "100.00" in shown.stdout
    # Anyone holding the statement files recomputes the same index, with no ledger and no exchange.
    rebuilt = shuniu("index", "--json", "--from-statements", str(root))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert json.loads(rebuilt.stdout)["points"] == points
    missing = shuniu("index", "--from-statements", str(root / "nowhere"))
    assert missing.returncode != 0 and "not a directory" in missing.stderr
