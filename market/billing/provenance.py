"""Where a usage batch comes from (可控可计量 — controllable and metered): the node's signature and its jobs.

A node signs each batch with the Ed25519 key whose public half it registered (Node.usage_public_key):
the biller checks that one signature per batch, then that every job the batch names ran on that
node — the job record's placement, or an earlier attempt's failure on it. A batch that fails is
dead-lettered: unsigned or badly signed (`bad_signature`), signed by a key the node did not register
(`unknown_key`), or naming a job that did not run there (`job_not_on_node`).
"""

from __future__ import annotations

import pyarrow as pa
import redis

from shuniu.market.billing.book import DeadLetter
from shuniu.protos.usage_schema import string_codes
from shuniu.protos.v1 import jobs_pb2, nodes_pb2
from shuniu.security import signing

__all__ = ["PROVENANCE_REASONS", "check_provenance"]

PROVENANCE_REASONS = ("bad_signature", "unknown_key", "job_not_on_node")
_MAX_NAMED = 5  # a refusal names at most this many jobs
_MAX_REMEMBERED = 200_000  # (node, job) pairs kept by a biller; forgotten all at once past this


def check_provenance(client: redis.Redis, batch_id: str, node_id: str, fields: dict[bytes, bytes],
                     batch: pa.RecordBatch, ran_here: set[tuple[str, str]] | None = None,
                     node_record: bytes | None = None) -> None:
    """Raise DeadLetter unless the batch is signed by its node's registered key and reports only that node's jobs.

    `ran_here` remembers (node, job) pairs already found in job records, across batches: a job that ran
    on a node stays one that ran there, so those records are not read again. `node_record`: the node's
    record as just read with the batch's other reads (else it is read here)."""
    public = _registered_key(client, node_id, node_record)
    signature = fields.get(b"signature", b"")
    if not signature:
        raise DeadLetter("bad_signature", f"batch {batch_id} from node {node_id!r} is not signed; a node signs each "
                         "batch with the usage key it registered")
    key_id = fields.get(b"signing_key_id", b"").decode(errors="replace")
    if key_id != signing.key_id(public):
        raise DeadLetter("unknown_key", f"batch {batch_id} is signed by key {key_id!r}; node {node_id!r} registered "
                         f"key {signing.key_id(public)}")
    try:
        claimed = int(fields.get(b"record_count", b""))
    except ValueError:
        claimed = -1
    message = signing.usage_batch_message(batch_id, node_id, claimed, fields[b"arrow_ipc"])
    if claimed != batch.num_rows or not signing.verify(public, signature, message):
        raise DeadLetter("bad_signature", f"batch {batch_id}: the signature of node {node_id!r} does not match its "
                         f"batch id, node id, record count ({claimed} claimed, {batch.num_rows} held) and content")
    _check_jobs_ran_here(client, node_id, batch, set() if ran_here is None else ran_here)


def _registered_key(client: redis.Redis, node_id: str, raw: bytes | None) -> bytes:
    raw = raw if raw is not None else client.get(f"shuniu:node:{node_id}")
    if raw is None:
        raise DeadLetter("unknown_node", f"node {node_id!r} is not registered; usage comes from registered nodes only")
    public = nodes_pb2.Node.FromString(raw).usage_public_key
    if not public:
        raise DeadLetter("unknown_key", f"node {node_id!r} has no registered usage key; a node registers the public "
                         "half of its usage-signing key (RegisterRequest.usage_public_key)")
    return public


def _check_jobs_ran_here(client: redis.Redis, node_id: str, batch: pa.RecordBatch, ran_here: set[tuple[str, str]]) -> None:
    job_ids = string_codes(batch.column("job_id"))[0] if batch.num_rows else []
    unseen = [j for j in job_ids if (node_id, j) not in ran_here]
    raws = client.mget([f"shuniu:job:{j}" for j in unseen]) if unseen else []
    elsewhere = [j for j, raw in zip(unseen, raws) if raw is None or not _ran_on(jobs_pb2.Job.FromString(raw), node_id)]
    if len(ran_here) > _MAX_REMEMBERED:
        ran_here.clear()
    refused = set(elsewhere)
    ran_here.update((node_id, j) for j in unseen if j not in refused)
    if elsewhere:
        named = ", ".join(elsewhere[:_MAX_NAMED]) + (f" and {len(elsewhere) - _MAX_NAMED} more" if len(elsewhere) > _MAX_NAMED else "")
        raise DeadLetter("job_not_on_node", f"node {node_id!r} reports use of job(s) {named} that did not run on it")


def _ran_on(job: jobs_pb2.Job, node_id: str) -> bool:
    return node_id in job.assigned_node_ids or any(f.node_id == node_id for f in job.failures)
