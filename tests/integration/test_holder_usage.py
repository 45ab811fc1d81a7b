"""ListHolderUsage over real gRPC: a billed batch's use shows for its products' holder, to the fen, and to no one else."""

from __future__ import annotations

import json
import pathlib

import grpc
import pyarrow.compute as pc
import pytest
import redis
from shuniu.market.billing import Biller, BillerConfig
from shuniu.market.ledger import LedgerStore
from shuniu.nodes.usage import UsageSpool
from shuniu.protos.v1 import usage_pb2
from typer.testing import CliRunner

from shuniu.bench.billing import seed_market, signed_sender, synthetic_usage


@pytest.fixture
def billed(redis_url, tmp_path: pathlib.Path):
    """Two billed batches of synthetic usage (not settled): the biller posted them, no period is closed."""
    client = redis.Redis.from_url(redis_url)
    market = seed_market(client)
    spool = UsageSpool(tmp_path / "spool", market.nodes[0])
    batches = [synthetic_usage(market, market.nodes[0], 300, seed=s, prefix="h-") for s in (1, 2)]
    for batch in batches:
        spool.append(batch)
    assert signed_sender(market, spool, client).send_pending() == 2
    biller = Biller(client, BillerConfig(block_ms=0))
    biller.ensure_group()
    while biller.step(block_ms=0):
        pass
    assert biller.outcomes == {"posted": 2}
    yield client, batches
    client.close()


def _usage(client, holder_id: str, **fields) -> usage_pb2.ListHolderUsageResponse:
    return client.usage.ListHolderUsage(usage_pb2.ListHolderUsageRequest(holder_id=holder_id, **fields), timeout=10)


def test_a_holder_sees_rows_calls_and_revenue_of_its_billed_products(billed, control_plane):
    store, batches = billed
    with control_plane.client() as client:
        answer = _usage(client, "holder-1-a")
    expected_rows = expected_calls = 0
    for batch in batches:
        mine = batch.filter(pc.equal(batch.column("product_id"), "prod-01"))
        expected_rows += pc.sum(mine.column("rows")).as_py()
        expected_calls += pc.sum(mine.column("calls")).as_py()
    assert {r.product_id for r in answer.rows} == {"prod-01"}
    assert sum(r.rows for r in answer.rows) == expected_rows > 0
    assert sum(r.calls for r in answer.rows) == expected_calls
    assert all(r.grant_id and r.buyer_id and r.purpose and r.jobs > 0 for r in answer.rows)
    # Its revenue due is its ledger balance to the fen: every credit of holder-1-a comes from prod-01.
    balance = LedgerStore(store).account("holder:holder-1-a").balance_fen
    assert answer.revenue_due_total_fen == sum(r.revenue_due_fen for r in answer.rows) == balance > 0
    assert answer.total == len(answer.rows)
    from shuniu.cli import app

    shown = CliRunner().invoke(app, ["holder", "usage", "--holder", "holder-1-a", "--json", "--addr", control_plane.address])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["revenue_due_total_fen"] == balance


def test_a_holders_row_holds_metering_metadata_and_never_a_buyers_output():
    # 数据可用不可见: the view is who used what, how much, and the money due. A field for a job's result, its
    # released output or its bytes would have to be added here on purpose.
    assert [f.name for f in usage_pb2.HolderUsageRow.DESCRIPTOR.fields] == [
        "product_id", "buyer_id", "grant_id", "purpose", "purpose_category", "jobs", "rows", "calls", "revenue_due_fen",
        "last_used_unix_ms"]


def test_another_holder_sees_only_its_own_and_a_foreign_product_is_refused(billed, control_plane):
    with control_plane.client() as client:
        other = _usage(client, "holder-2-a")
        nobody = _usage(client, "holder-none")
        with pytest.raises(grpc.RpcError) as refused:
            _usage(client, "holder-2-a", product_id="prod-01")
        paged = _usage(client, "holder-1-a", page_size=1)
        outside = _usage(client, "holder-1-a", from_unix_ms=1, to_unix_ms=2)
    assert {r.product_id for r in other.rows} == {"prod-02"}
    assert (nobody.rows, nobody.revenue_due_total_fen) == ([], 0)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND and "not a product of holder" in refused.value.details()
    assert len(paged.rows) == 1 and paged.next_page_token and paged.total > 1
    assert (outside.rows, outside.total) == ([], 0)  # a time window outside the usage shows nothing



def test_the_view_still_counts_batches_trimmed_from_the_stream_and_lines_moved_cold(redis_url, tmp_path, monkeypatch,
                                                                                   control_plane_factory, eventually):
    """In a running stack the biller trims billed, chained entries from the usage stream every few seconds and
    retention moves rated lines to cold files: the holder's view must read the archive and the cold file then."""
    from shuniu.market.billing.archive import UsageArchive
    from shuniu.market.ledger import ledger_key
    from shuniu.market.ledger.cold import COLD_DATASET_KEY, LedgerCold, dataset_directory
    from shuniu.protos.usage_schema import USAGE_STREAM

    state = tmp_path / "state"
    monkeypatch.setenv("SHUNIU_STATE_DIR", str(state))  # the control plane's and the biller's state directory
    client = redis.Redis.from_url(redis_url)
    market = seed_market(client)
    spool = UsageSpool(tmp_path / "spool", market.nodes[0])
    for seed in (1, 2, 3):
        spool.append(synthetic_usage(market, market.nodes[0], 200, seed=seed, prefix="t-"))
    signed_sender(market, spool, client).send_pending()
    biller = Biller(client, BillerConfig(block_ms=0), UsageArchive(state / "usage-archive"))
    biller.ensure_group()
    while biller.step(block_ms=0):
        pass
    plane = control_plane_factory()
    with plane.client() as rpc:
        before = _usage(rpc, "holder-1-a")
        assert before.rows and before.revenue_due_total_fen > 0
        # The plane's audit chainer reads the stream; then the biller may trim it, as it does every 5 s.
        eventually(lambda: (biller.trim(), client.xlen(USAGE_STREAM) == 0)[1], what="the billed entries trimmed")
        trimmed = _usage(rpc, "holder-1-a")
        # Retention moves the rated lines of old batches to the data set's cold file (scheduler/retention/mover.py).
        client.set(COLD_DATASET_KEY, "c0ffee")
        cold = LedgerCold.of_dataset(dataset_directory("c0ffee"), create=True)
        order = [b.decode() for b in client.lrange(ledger_key("order"), 0, -1)]
        cold.put_lines([(b, client.get(ledger_key(f"lines:{b}"))) for b in order])
        cold.close()
        client.delete(*(ledger_key(f"lines:{b}") for b in order))
        moved = _usage(rpc, "holder-1-a")
    client.close()
    assert list(trimmed.rows) == list(before.rows), "batches trimmed from the stream vanished from the view"
    assert list(moved.rows) == list(before.rows) and moved.revenue_due_total_fen == before.revenue_due_total_fen
