"""Billing benchmark and its synthetic market: spool → stream → biller → ledger, records/s end to end.

`seed_market` writes node and product records under the agreed keys (as the control plane
and the catalog would); `synthetic_usage` makes usage batches over them. The benchmark
spools batches on disk, sends them (one XADD per batch), runs a biller process to drain
the stream, and times the whole path; the baseline is the same records billed with the
plain-Python reference rater, measured on a sample in the same run. Prices are drawn across the
whole range the rating accepts (market/rating/tables.py), and one record in a thousand is sent
again in a later batch of its node: after the run, the ledger's rated lines show how many of
those repeats were charged. The run stops at the first batch the biller dead-letters, with its
reason, so the dead-letter count a finished run reports is read after it and is 0.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import redis

from shuniu.market.billing import PriceSource, reference_balances
from shuniu.market.catalog import PRODUCTS_KEY, prices_key, product_key
from shuniu.market.ledger import LedgerStore
from shuniu.market.rating.tables import MAX_COMPUTE_PRICE_FEN, MAX_DATA_PRICE_MILLIFEN
from shuniu.nodes.usage import UsageSender, UsageSpool
from shuniu.protos.usage_schema import DEAD_LETTER_STREAM, USAGE_SCHEMA, dictionary_encoded
from shuniu.protos.v1 import catalog_pb2, common_pb2, jobs_pb2, nodes_pb2
from shuniu.security.signing import SigningKey
from shuniu.stack import LocalRedis, ManagedProcess, bulk_client

__all__ = ["Market", "add_billing_figures", "job_ids_of", "run_billing_bench", "seed_market", "signed_sender",
           "synthetic_usage", "with_repeats"]

NOV_2026_MS = 1_793_462_400_000  # 2026-11-01 00:00 CST
_DAY_MS = 86_400_000
REPEAT_EVERY = 1000  # one record in this many is sent again in a later batch


@dataclass(frozen=True)
class Market:
    """Ids of what seed_market wrote."""

    nodes: tuple[str, ...]
    centers: dict[str, str]  # node -> compute center
    products: tuple[str, ...]
    buyers: tuple[str, ...]
    keys: dict[str, SigningKey] = field(default_factory=dict)  # node -> its usage-signing key (registered)


JOBS_PER_NODE = 64  # synthetic usage names these jobs, each placed on its node


def job_ids_of(node_id: str) -> list[str]:
    return [f"{node_id}-job-{k:02d}" for k in range(JOBS_PER_NODE)]


def signed_sender(market: Market, spool: UsageSpool, client: redis.Redis) -> UsageSender:
    """A sender signing with the spool's node key, as the node's runner does."""
    return UsageSender(spool, client, key=market.keys[spool.node_id])


def seed_market(client: redis.Redis, nodes: int = 8, products: int = 6, buyers: int = 5, seed: int = 6,
                full_price_range: bool = False) -> Market:
    """Write node records (price cards with peak bands) and products (tiers, caps, public data with 反哺).

    `full_price_range`: prices drawn across all the rating accepts, the first node and product at its limit."""
    rng = np.random.default_rng(seed)
    draw = _full_range_price if full_price_range else None
    node_ids, centers, keys = [], {}, {}
    pipe = client.pipeline(transaction=False)
    for n in range(nodes):
        node_id, center = f"node-{n:03d}", f"cc-{n % 3}"
        cls = (common_pb2.COMPUTE_CLASS_GENERAL, common_pb2.COMPUTE_CLASS_AI)[n % 2]
        cpu, memory, gpu = int(rng.integers(5, 40)), int(rng.integers(1, 5)), int(rng.integers(300, 900))
        if draw is not None:
            cpu, memory, gpu = (draw(rng, MAX_COMPUTE_PRICE_FEN, at_limit=n == 0) for _ in range(3))
        card = common_pb2.PriceCard(cpu_core_hour_fen=cpu, memory_gb_hour_fen=memory, gpu_hour_fen=gpu if n % 2 else 0,
                                    bands=[common_pb2.TimeOfUseBand(start_hour=8, end_hour=22, multiplier_bp=12_000)])
        keys[node_id] = SigningKey.from_private_bytes(hashlib.sha256(f"usage-key|{seed}|{node_id}".encode()).digest())
        node = nodes_pb2.Node(node_id=node_id, site="zhengzhou", compute_class=cls, price_card=card, compute_center=center,
                              state=nodes_pb2.NODE_STATE_READY, usage_public_key=keys[node_id].public_raw)
        pipe.set(f"shuniu:node:{node_id}", node.SerializeToString())
        for job_id in job_ids_of(node_id):  # the biller checks that each job a batch names ran on its node
            job = jobs_pb2.Job(job_id=job_id, assigned_node_ids=[node_id], state=jobs_pb2.JOB_STATE_SUCCEEDED)
            pipe.set(f"shuniu:job:{job_id}", job.SerializeToString())
        node_ids.append(node_id)
        centers[node_id] = center
    product_ids = []
    for p in range(products):
        product_id = f"prod-{p:02d}"
        product, pricing = _product(product_id, p, rng, draw)
        pipe.set(product_key(product_id), product.SerializeToString())
        pipe.hset(prices_key(product_id), "1", pricing.SerializeToString())
        pipe.sadd(PRODUCTS_KEY, product_id)
        product_ids.append(product_id)
    pipe.execute()
    return Market(tuple(node_ids), centers, tuple(product_ids), tuple(f"buyer-{b}" for b in range(buyers)), keys)


def _full_range_price(rng, most: int, at_limit: bool = False) -> int:
    """A price in 1..most, log-uniform (as many below 1 yuan as near the limit), or the limit itself."""
    return most if at_limit else int(min(most, np.exp(rng.uniform(0, np.log(most)))))


def _product(product_id: str, p: int, rng, draw=None) -> tuple[catalog_pb2.Product, catalog_pb2.Pricing]:
    public = p % 3 == 0
    unit = (catalog_pb2.PRICING_UNIT_PER_ROW, catalog_pb2.PRICING_UNIT_PER_CALL, catalog_pb2.PRICING_UNIT_PER_QUERY)[p % 3]
    size = 1000 if unit == catalog_pb2.PRICING_UNIT_PER_ROW else 1
    price = int(rng.integers(20, 200))
    if draw is not None:  # the most milli-fen per unit the rating takes, as fen per unit_size units
        price = draw(rng, MAX_DATA_PRICE_MILLIFEN * size // 1000, at_limit=p == 1)
    pricing = catalog_pb2.Pricing(
        unit=unit, unit_price_fen=price, unit_size=size, price_version=1, public_interest_free=public,
        volume_tiers=[catalog_pb2.VolumeTier(from_units=5_000_000 if size > 1 else 500, unit_price_fen=price * 3 // 4)],
        guided_cap_fen=max(price - 5, 1) if p % 2 else 0,
    )  # fmt: skip
    holders = [catalog_pb2.RightShare(holder_id=f"holder-{p}-a", share_bp=6000), catalog_pb2.RightShare(holder_id=f"holder-{p}-b", share_bp=4000)]
    right = catalog_pb2.Right(holders=holders)
    spec = catalog_pb2.ProductSpec(
        holder_id=f"holder-{p}-a", name=product_id, category=("traffic", "health", "energy")[p % 3],
        grade=common_pb2.CLASSIFICATION_GRADE_PUBLIC if public else common_pb2.CLASSIFICATION_GRADE_INTERNAL,
        rights=catalog_pb2.Rights(holding=right, processing_use=right, product_operation=right), pricing=pricing,
        public_data=catalog_pb2.PublicDataOperation(source_department_id=f"dept-{p}", operator_id="op", feedback_share_bp=1000) if public else None,
    )  # fmt: skip
    return catalog_pb2.Product(product_id=product_id, spec=spec, state=catalog_pb2.PRODUCT_STATE_LISTED), pricing


def synthetic_usage(market: Market, node_id: str, records: int, seed: int, start_ms: int = NOV_2026_MS,
                    prefix: str = "r") -> pa.RecordBatch:
    """`records` usage records of one node: a fifth compute-only, a quarter public-interest use."""
    rng = np.random.default_rng(seed)
    n = records
    product = rng.integers(-len(market.products) // 4 - 1, len(market.products), n)
    product_names = np.array([*market.products, ""], dtype=object)[np.where(product < 0, len(market.products), product)]
    category = np.where(rng.random(n) < 0.25, 2, 3).astype(np.int8)
    start = rng.integers(start_ms, start_ms + 20 * _DAY_MS, n)
    ids = pa.array(np.char.add(f"{prefix}{seed}-", np.arange(n).astype(str)))
    columns = {
        "record_id": ids, "job_id": pa.array(np.array(job_ids_of(node_id), dtype=object)[np.arange(n) % JOBS_PER_NODE], pa.string()),
        "grant_id": pa.array(np.char.add("g-", (np.arange(n) % 7).astype(str))),
        "buyer_id": pa.array(np.array(market.buyers, dtype=object)[rng.integers(0, len(market.buyers), n)], pa.string()),
        "node_id": pa.array([node_id] * n, pa.string()), "compute_center": pa.array([market.centers[node_id]] * n, pa.string()),
        "product_id": pa.array(product_names, pa.string()), "site": pa.array(["zhengzhou"] * n, pa.string()),
        "tier": rng.integers(1, 5, n).astype(np.int8), "start_unix_ms": start, "end_unix_ms": start + rng.integers(1000, 600_000, n),
        "cpu_ms": rng.integers(0, 4 * 3_600_000, n), "memory_mb_s": rng.integers(0, 8 * 1024 * 3600, n),
        "gpu_ms": rng.integers(0, 3_600_000, n), "rows": rng.integers(0, 100_000, n), "bytes": rng.integers(0, 10**7, n),
        "calls": rng.integers(0, 50, n), "kind": rng.integers(1, 5, n).astype(np.int8),
        "purpose": pa.array(np.where(category == 2, "public_health", "marketing").astype(object), pa.string()),
        "price_version": np.where(product < 0, 0, 1), "purpose_category": category,
        "compute_class": np.full(n, 1 if int(node_id.split("-")[1]) % 2 == 0 else 2, np.int8),
        "attempt": np.ones(n, np.int32), "peak_memory_mb": rng.integers(0, 4096, n), "output_bytes": rng.integers(0, 10**5, n),
        "queries": np.ones(n, np.int64),
    }  # fmt: skip
    return pa.RecordBatch.from_arrays([pa.array(columns[f.name], f.type) for f in USAGE_SCHEMA], schema=USAGE_SCHEMA)


def with_repeats(batches: list[pa.RecordBatch], nodes: int, every: int = REPEAT_EVERY) -> tuple[list[pa.RecordBatch], int]:
    """The batches (batch i of node i % nodes) with one record in `every` overall replaced by a record of the same
    node's batch before it (records spread over the batches that have one), and how many were placed."""
    later = list(range(nodes, len(batches)))
    total = sum(b.num_rows for b in batches) // every
    out, placed = list(batches), 0
    for k, i in enumerate(later):
        count = min(total * (k + 1) // len(later) - total * k // len(later), batches[i].num_rows, batches[i - nodes].num_rows)
        if count:
            earlier = batches[i - nodes].take(pa.array(np.linspace(0, batches[i - nodes].num_rows - 1, count).astype(np.int64)))
            out[i] = pa.Table.from_batches([earlier, batches[i].slice(count)]).combine_chunks().to_batches()[0]
            placed += count
    return out, placed


def repeats_charged(ledger: LedgerStore, batch_ids: list[str]) -> int:
    """Records whose record_id has more than one rated line in the ledger (each counted once per extra line)."""
    ids = []
    for batch_id in batch_ids:
        raw = ledger.lines(batch_id)
        if raw:
            ids.append(ipc.open_stream(pa.py_buffer(raw)).read_all().column("record_id").combine_chunks())
    if not ids:
        return 0
    every = pa.chunked_array(ids)
    return len(every) - len(pc.unique(every))


def run_billing_bench(records: int, batch_records: int = 20_000, sample_records: int = 10_000,
                      step=lambda text: None) -> dict:
    """Push `records` through spool → stream → biller (a child process) → ledger on a private Redis.

    Returns records/s end to end (first spool write to last ledger commit), of the node side
    alone (spool + send), of the reference rater on a sample, and the ledger check; prices span the
    rating's whole range, and one record in REPEAT_EVERY repeats one of an earlier batch: the repeats
    the ledger charged are counted. Raises RuntimeError at the first batch dead-lettered (its reason
    and message), so a finished run's dead-letter count, read after it, confirms none was."""
    if records < 1 or batch_records < 1:
        raise ValueError(f"records and batch_records must be >= 1, got {records} and {batch_records}")
    with tempfile.TemporaryDirectory(prefix="shuniu-bench-billing-") as tmp:
        root = pathlib.Path(tmp)
        server = LocalRedis(root / "redis").start()
        biller = None
        try:
            client = bulk_client(server.url)  # as the node's sender would
            market = seed_market(client, nodes=8, products=12, buyers=50, full_price_range=True)
            step("making synthetic usage")
            sizes = [batch_records] * (records // batch_records) + ([records % batch_records] if records % batch_records else [])
            # Built as a runner builds them: the low-cardinality string columns dictionary-encoded; the spool
            # narrows the integers that fit (to_wire), on the clock.
            plain = [synthetic_usage(market, market.nodes[i % len(market.nodes)], n, seed=i) for i, n in enumerate(sizes)]
            plain, repeats = with_repeats(plain, len(market.nodes))
            batches = [dictionary_encoded(b) for b in plain]
            del plain
            spools = {node: UsageSpool(root / "spool" / node, node) for node in market.nodes}
            senders = {node: signed_sender(market, spool, client) for node, spool in spools.items()}
            biller = ManagedProcess("biller", ["biller", "--redis-url", server.url, "--archive-dir", str(root / "usage-archive")], root / "logs").start()
            step("warming the biller up")
            warm = synthetic_usage(market, market.nodes[0], 4096, seed=10**6, prefix="warm")  # loads every kernel used
            spools[market.nodes[0]].append(warm)
            senders[market.nodes[0]].send_pending()
            _wait_posted(client, biller, 1)
            step(f"billing {records:,} records in {len(batches)} batches")
            cpu_before = _cpu_s(client, biller)
            start = time.perf_counter()
            # As on a node: the runner spools while a sender thread drains the spools to the stream. A batch
            # over the biller's size limit is spooled as several (append_split), so count what was spooled.
            spooled = _Spooled()
            with ThreadPoolExecutor(1, thread_name_prefix="usage-sender") as pool:
                sent = pool.submit(_send_all, list(senders.values()), spooled)
                try:
                    for i, batch in enumerate(batches):
                        spooled.add(len(spools[market.nodes[i % len(market.nodes)]].append_split(batch)))
                finally:
                    spooled.finish()  # the sender would otherwise wait for batches that never come
                sent.result()
            node_side_s = time.perf_counter() - start
            _wait_posted(client, biller, spooled.count + 1)
            end_to_end_s = time.perf_counter() - start
            cpu_us = {side: (after - before) * 1e6 / records for side, before, after in
                      zip(("node", "biller", "redis"), cpu_before, _cpu_s(client, biller))}
            ledger = LedgerStore(client)
            check = ledger.check()
            step("counting repeats charged")
            charged_twice = repeats_charged(ledger, ledger.batch_order())
            dead_lettered = client.xlen(DEAD_LETTER_STREAM)
            step("reference rater on a sample")
            sample = synthetic_usage(market, market.nodes[1], min(sample_records, records), seed=10**6 + 1, prefix="sample")
            ref_start = time.perf_counter()
            reference_balances([("sample", sample)], PriceSource(client))
            reference_s = time.perf_counter() - ref_start
            client.close()
        finally:
            if biller is not None:
                biller.stop()
            server.stop()
    return {
        "records": records, "batches": spooled.count, "batch_records": batch_records,
        "end_to_end_records_per_s": records / end_to_end_s, "node_side_records_per_s": records / node_side_s,
        "reference_records_per_s": sample.num_rows / reference_s, "reference_sample_records": sample.num_rows,
        "ledger_ok": check.ok, "charged_fen": check.total_debits_fen, "postings": check.postings_checked,
        # CPU per record of each process over the run: this one (spool + sender thread), the biller, Redis.
        "node_cpu_us_per_record": cpu_us["node"], "biller_cpu_us_per_record": cpu_us["biller"],
        "redis_cpu_us_per_record": cpu_us["redis"],
        "repeats_placed": repeats, "repeats_charged": charged_twice, "dead_lettered_batches": dead_lettered,
        "max_compute_price_fen": MAX_COMPUTE_PRICE_FEN, "max_data_price_millifen": MAX_DATA_PRICE_MILLIFEN,
    }  # fmt: skip


def add_billing_figures(report, r: dict) -> None:
    """The billing benchmark's figures, each with its unit, baseline and goal."""
    report.params.update(repeats_placed=r["repeats_placed"], max_compute_price_fen=r["max_compute_price_fen"],
                         max_data_price_millifen=r["max_data_price_millifen"])
    report.add("records billed per second, end to end", r["end_to_end_records_per_s"], "rec/s", r["reference_records_per_s"],
               "≥ 1,000,000 rec/s", r["end_to_end_records_per_s"] >= 1_000_000)
    # Baseline: what a biller idempotent per batch id only charges of them (every one).
    report.add(f"repeated records charged (one in {REPEAT_EVERY:,} sent again in a later batch)", r["repeats_charged"],
               "records", r["repeats_placed"], "0", r["repeats_charged"] == 0)
    report.add("valid batches dead-lettered (ratio: of the batches sent, the warm-up's included)", r["dead_lettered_batches"],
               "batches", r["batches"] + 1, "0", r["dead_lettered_batches"] == 0)
    report.add("node side: spool (fsync) + send", r["node_side_records_per_s"], "rec/s")
    for side in ("node", "biller", "redis"):
        report.add(f"CPU per record, {side} process", r[f"{side}_cpu_us_per_record"], "µs")


def _cpu_s(client: redis.Redis, biller: ManagedProcess) -> tuple[float, float, float]:
    """CPU seconds (user + system) used so far by this process, the biller process and Redis (its forks included)."""
    fields = pathlib.Path(f"/proc/{biller.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    biller_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)
    info = client.info("cpu")  # with what its forks (an AOF rewrite) used
    redis_s = sum(float(info[k]) for k in ("used_cpu_user", "used_cpu_sys", "used_cpu_user_children", "used_cpu_sys_children"))
    return time.process_time(), biller_s, redis_s


class _Spooled:
    """How many batches the runner has spooled, and whether it is done (shared with the sender thread)."""

    def __init__(self) -> None:
        self.count = 0
        self.done = threading.Event()

    def add(self, batches: int) -> None:
        self.count += batches

    def finish(self) -> None:
        self.done.set()


def _send_all(senders: list[UsageSender], spooled: _Spooled, timeout_s: float = 600.0) -> None:
    """Send spooled batches as they appear until the runner is done and all it spooled was sent."""
    deadline = time.monotonic() + timeout_s
    sent = 0
    while True:
        finished = spooled.done.is_set()  # read before sending: what was spooled by then is sent this round
        round_sent = sum(sender.send_pending() for sender in senders)
        sent += round_sent
        if finished and not round_sent and sent >= spooled.count:
            return
        if finished and not round_sent:
            raise RuntimeError(f"sent {sent} of {spooled.count} spooled batches; the rest left the spool unsent")
        if not round_sent:
            if time.monotonic() > deadline:
                raise TimeoutError(f"sent {sent} of {spooled.count} batches in {timeout_s} s")
            time.sleep(0.002)


def _wait_posted(client: redis.Redis, biller: ManagedProcess, batches: int, timeout_s: float = 600.0) -> None:
    """Wait until `batches` batches are posted; fail at once if the biller exits or dead-letters a batch.

    A refused batch is a bug of the run, not a figure to carry on past: its records would count in records/s
    unbilled, a repeat it carried could not be charged twice, and its reason is what finding the bug needs."""
    deadline = time.monotonic() + timeout_s
    while True:
        pipe = client.pipeline(transaction=False)
        posted, dead = pipe.llen("shuniu:ledger:order").xrevrange(DEAD_LETTER_STREAM, count=1).execute()
        if posted >= batches:
            return
        if not biller.running:
            raise RuntimeError(f"the biller exited:\n{biller.log_tail()}")
        if dead:
            fields = {k.decode(): v for k, v in dead[0][1].items() if k != b"arrow_ipc"}
            raise RuntimeError(f"the biller dead-lettered batch {fields['batch_id'].decode()} "
                               f"({client.xlen(DEAD_LETTER_STREAM)} in all): {fields['reason'].decode()}: "
                               f"{fields['message'].decode(errors='replace')}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the biller posted {posted} of {batches} batches in {timeout_s} s")
        time.sleep(0.003)
