"""What a soak run left behind, checked against what its clients were told: jobs, charges, the ledger.

Read from Redis (and the cold store retention moved finished jobs to) after the load stopped and the billing drained: every job a client was
answered with is stored once, no other job exists, every run that completed was charged
once, the ledger equals the plain-Python reference rater over the same batches in the
ledger's order, to the fen, and its own check passes.
"""

from __future__ import annotations

import pathlib
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa
import redis

from shuniu.market.billing import PriceSource, reference_balances
from shuniu.market.billing.archive import UsageArchive
from shuniu.market.ledger import LedgerStore
from shuniu.nodes.usage import UsageSender, UsageSpool
from shuniu.protos.usage_schema import DEAD_LETTER_STREAM, USAGE_STREAM, batch_from_ipc
from shuniu.protos.v1 import jobs_pb2
from shuniu.market.ledger.cold import COLD_DATASET_KEY
from shuniu.scheduler.jobs.store import job_key
from shuniu.scheduler.retention.cold import open_cold_jobs
from shuniu.security import signing

_TERMINAL = {jobs_pb2.JOB_STATE_SUCCEEDED, jobs_pb2.JOB_STATE_FAILED, jobs_pb2.JOB_STATE_CANCELLED,
             jobs_pb2.JOB_STATE_EGRESS_DENIED}


@dataclass(frozen=True)
class JobAudit:
    answered: int
    lost: int  # answered with a job id that Redis does not hold
    duplicated: int  # request ids sharing a job, plus stored jobs no client was answered with
    succeeded: int
    ended_otherwise: int
    unfinished: int


@dataclass(frozen=True)
class ChargeAudit:
    batches_posted: int
    records_billed: int
    dead_letters: int
    uncharged_runs: int  # completed runs (SUCCEEDED jobs' last attempts) whose usage record no posted batch holds
    unbilled_batches: int  # on the usage stream, neither posted nor dead-lettered
    doubled: int  # batches posted twice, plus usage records posted in more than one batch
    balances_off: int  # accounts whose balance differs from the reference rater's
    fen_off: int  # sum of those differences
    ledger_ok: bool


def stored_jobs(client: redis.Redis, job_ids: list[str]) -> dict[str, jobs_pb2.Job]:
    """The jobs stored in Redis or, once retention moved them, in the cold store."""
    values = dict(zip(job_ids, client.mget([job_key(j) for j in job_ids]))) if job_ids else {}
    missing = [j for j, v in values.items() if v is None]
    cold = open_cold_jobs(client.get(COLD_DATASET_KEY)) if missing else None
    if cold is not None:
        values.update(cold.jobs(missing))
        cold.conn.close()
    return {j: jobs_pb2.Job.FromString(v) for j, v in values.items() if v is not None}


def cold_job_count(client: redis.Redis) -> int:
    """Jobs retention moved out of Redis."""
    cold = open_cold_jobs(client.get(COLD_DATASET_KEY))
    if cold is None:
        return 0
    count = cold.count(None)
    cold.conn.close()
    return count


def every_job_id(client: redis.Redis) -> set[str]:
    """Every job stored, hot or cold."""
    found = {k.decode().removeprefix("shuniu:job:") for k in client.scan_iter("shuniu:job:*", count=1000)}
    cold = open_cold_jobs(client.get(COLD_DATASET_KEY))
    if cold is not None:
        found |= cold.all_ids()
        cold.conn.close()
    return found


def audit_jobs(client: redis.Redis, answered: dict[str, str]) -> tuple[JobAudit, dict[str, jobs_pb2.Job]]:
    """`answered` maps each request id to the job id its client got."""
    ids = sorted(set(answered.values()))
    jobs = stored_jobs(client, ids)
    every = every_job_id(client)
    states = Counter(j.state for j in jobs.values())
    shared = len(answered) - len(ids)
    audit = JobAudit(answered=len(answered), lost=len(ids) - len(jobs), duplicated=shared + len(every - set(ids)),
                     succeeded=states[jobs_pb2.JOB_STATE_SUCCEEDED],
                     ended_otherwise=sum(n for s, n in states.items() if s in _TERMINAL) - states[jobs_pb2.JOB_STATE_SUCCEEDED],
                     unfinished=sum(n for s, n in states.items() if s not in _TERMINAL))
    return audit, jobs


def flush_spools(client: redis.Redis, state_dir: pathlib.Path) -> int:
    """Sends what runs left in their nodes' spools (a run spools before it sends; Redis may have been away)."""
    sent = 0
    for directory in sorted((state_dir / "spool").glob("*")):
        if directory.is_dir():
            key = signing.load_or_create(signing.node_key_path(state_dir, directory.name))
            sent += UsageSender(UsageSpool(directory, directory.name), client, key=key).send_pending()
    return sent


def stream_batches(client: redis.Redis, archive: UsageArchive | None = None) -> dict[str, pa.RecordBatch]:
    """Every batch sent, by id: the archived ones (trimmed from the stream since), then those still on it.

    A batch sent twice after a crash appears once here.
    """
    batches: dict[str, pa.RecordBatch] = {}

    def keep(fields) -> None:
        batch_id = fields[b"batch_id"].decode()
        if batch_id not in batches:
            batches[batch_id] = batch_from_ipc(fields[b"arrow_ipc"])[0]

    for _, fields in archive.entries() if archive else ():
        keep(fields)
    last = "-"
    while True:
        entries = client.xrange(USAGE_STREAM, min=last, count=500)
        entries = [e for e in entries if e[0].decode() != last]
        if not entries:
            return batches
        for entry_id, fields in entries:
            keep(fields)
            last = entry_id.decode()


def billing_settled(client: redis.Redis) -> bool:
    """Whether every batch on the stream is posted or dead-lettered and nothing is pending."""
    try:
        pending = client.xpending(USAGE_STREAM, "billers")["pending"]
    except redis.ResponseError:  # no group yet: nothing was ever billed
        return client.xlen(USAGE_STREAM) == 0
    return pending == 0 and not _unbilled(client, set(LedgerStore(client).batch_order()))


def _dead_lettered(client: redis.Redis) -> set[str]:
    return {f[b"batch_id"].decode() for _, f in client.xrange(DEAD_LETTER_STREAM) if b"batch_id" in f}


def _unbilled(client: redis.Redis, posted: set[str]) -> set[str]:
    on_stream = {f[b"batch_id"].decode() for _, f in client.xrange(USAGE_STREAM)}
    return on_stream - posted - _dead_lettered(client)


def audit_charges(client: redis.Redis, jobs: dict[str, jobs_pb2.Job], archive: UsageArchive | None = None) -> ChargeAudit:
    ledger = LedgerStore(client)
    order = ledger.batch_order()
    posted = set(order)
    batches = stream_batches(client, archive)
    record_ids = Counter(r for b in order if b in batches for r in batches[b].column("record_id").to_pylist())
    # A completed run's record id is JOB-ATTEMPT-NODE (nodes/job_runner.py usage_record).
    completed = {f"{j.job_id}-{j.attempt}-{j.assigned_node_ids[0]}" for j in jobs.values()
                 if j.state == jobs_pb2.JOB_STATE_SUCCEEDED and j.assigned_node_ids}
    expected = reference_balances([(b, batches[b]) for b in order if b in batches], PriceSource(client))
    got = {a.account_id: a.balance_fen for a in ledger.accounts() if a.balance_fen}
    off = {a: got.get(a, 0) - expected.get(a, 0) for a in got.keys() | expected.keys() if got.get(a, 0) != expected.get(a, 0)}
    return ChargeAudit(
        batches_posted=len(posted), records_billed=sum(record_ids.values()), dead_letters=len(_dead_lettered(client)),
        uncharged_runs=len(completed - set(record_ids)), unbilled_batches=len(_unbilled(client, posted)),
        doubled=(len(order) - len(posted)) + sum(n - 1 for n in record_ids.values() if n > 1),
        balances_off=len(off), fen_off=sum(abs(v) for v in off.values()), ledger_ok=bool(ledger.check().ok))
