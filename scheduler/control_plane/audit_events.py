"""What each raw event of the stores says in the audit log: pure mapping from stream fields to entry drafts.

Every state change is written with a raw event in its own transaction (the events:* streams,
the usage stream and its dead letters, the ledger's commit order); the chainer reads them in
order and turns each into one or more drafts with this module. A draft's details are
metadata only — ids, states, counts, amounts — never a value of a product's data.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from google.protobuf import json_format
from shuniu.protos.usage_schema import UsageSchemaError, batch_from_ipc
from shuniu.protos.v1 import audit_pb2, jobs_pb2, negative_list_pb2

A = audit_pb2
_EGRESS_STATES = {jobs_pb2.JOB_STATE_SUCCEEDED: "egress.release", jobs_pb2.JOB_STATE_EGRESS_DENIED: "egress.deny"}
_MAX_TEXT = 500  # free text (reasons, messages) is cut here


@dataclass(frozen=True)
class Draft:
    """An audit entry before the chainer numbers and links it; `refs` are the ids TraceJob finds it by."""

    kind: int
    action: str
    subject_id: str
    actor: str
    recorded_unix_ms: int
    details: dict = field(default_factory=dict)
    request_id: str = ""
    refs: tuple[str, ...] = ()

    def entry(self) -> audit_pb2.AuditEntry:
        return audit_pb2.AuditEntry(kind=self.kind, action=self.action, subject_id=self.subject_id, actor=self.actor,
                                    request_id=self.request_id, recorded_unix_ms=self.recorded_unix_ms,
                                    details_json=canonical_json(self.details))


def canonical_json(value: Mapping) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _text(fields: Mapping[str, bytes], name: str) -> str:
    return fields.get(name, b"").decode(errors="replace")[:_MAX_TEXT]


def _int(fields: Mapping[str, bytes], name: str, default: int = 0) -> int:
    try:
        return int(fields.get(name, b""))
    except ValueError:
        return default


def _common(fields: Mapping[str, bytes], at_ms: int) -> dict:
    return {"actor": _text(fields, "actor") or "system", "recorded_unix_ms": _int(fields, "unix_ms", at_ms)}


def node_drafts(fields: Mapping[str, bytes], at_ms: int) -> list[Draft]:
    node_id = _text(fields, "node_id")
    if "to" in fields:  # a liveness transition of the control plane's sweep
        to = _text(fields, "to").removeprefix("NODE_STATE_").lower()
        details = {"from": _text(fields, "from"), "to": _text(fields, "to")}
        return [Draft(A.AUDIT_KIND_NODE, f"node.{to}", node_id, details=details, refs=(node_id,), **_common(fields, at_ms))]
    event = _text(fields, "event")
    verb = event.split(":")[0].split(" ")[0]
    action = {"registered": "node.register", "drained": "node.drain", "undrained": "node.undrain",
              "deregistered": "node.deregister"}.get(verb, "node.change")
    return [Draft(A.AUDIT_KIND_NODE, action, node_id, details={"event": event}, refs=(node_id,), **_common(fields, at_ms))]


def product_drafts(fields: Mapping[str, bytes], at_ms: int) -> list[Draft]:
    product_id = _text(fields, "product_id")
    before = _text(fields, "from")
    details = {"from": before, "to": _text(fields, "to"), "reason": _text(fields, "reason")}
    action = "product.transition" if before else "product.register"
    return [Draft(A.AUDIT_KIND_PRODUCT, action, product_id, details=details, refs=(product_id,), **_common(fields, at_ms))]


def certificate_drafts(fields: Mapping[str, bytes], at_ms: int) -> list[Draft]:
    """A registration certificate version issued, or a certificate revoked (数据产权登记凭证)."""
    cert_id, product_id = _text(fields, "certificate_id"), _text(fields, "product_id")
    details = {"product_id": product_id, "reason": _text(fields, "reason")}
    if "version" in fields:
        details.update(version=_int(fields, "version"), sha256=_text(fields, "sha256"))
    return [Draft(A.AUDIT_KIND_PRODUCT, f"certificate.{_text(fields, 'action')}", cert_id, details=details,
                  refs=(cert_id, product_id), **_common(fields, at_ms))]


def grant_drafts(fields: Mapping[str, bytes], at_ms: int) -> list[Draft]:
    grant_id = _text(fields, "grant_id")
    before, after = _text(fields, "from"), _text(fields, "to")
    details = {"from": before, "to": after, "reason": _text(fields, "reason")}
    if "cancel_job_ids" in fields:
        details["cancel_job_ids"] = json.loads(fields["cancel_job_ids"] or b"[]")
    if before == "GRANT_STATE_UNSPECIFIED":
        action = "grant.apply"
    elif after == "GRANT_STATE_REVOKED":
        action = "grant.revoke"
    else:
        action = "grant.decision"
    return [Draft(A.AUDIT_KIND_GRANT, action, grant_id, details=details, refs=(grant_id,), **_common(fields, at_ms))]


def analysis_drafts(fields: Mapping[str, bytes], at_ms: int) -> list[Draft]:
    """An analysis proposed, approved or rejected: the code's hash the decision binds, never the code."""
    analysis_id, product_id = _text(fields, "analysis_id"), _text(fields, "product_id")
    before, after = _text(fields, "from"), _text(fields, "to")
    details = {"product_id": product_id, "from": before, "to": after, "reason": _text(fields, "reason"),
               "code_sha256": _text(fields, "code_sha256")}
    action = {"ANALYSIS_STATE_PROPOSED": "analysis.propose", "ANALYSIS_STATE_APPROVED": "analysis.approve",
              "ANALYSIS_STATE_REJECTED": "analysis.reject"}.get(after, "analysis.change")
    return [Draft(A.AUDIT_KIND_PRODUCT, action, analysis_id, details=details, refs=(analysis_id, product_id),
                  **_common(fields, at_ms))]


def _job_state(fields: Mapping[str, bytes], name: str) -> str:
    number = _int(fields, name)
    return jobs_pb2.JobState.Name(number) if number in jobs_pb2.JobState.values() else str(number)


def job_drafts(fields: Mapping[str, bytes], at_ms: int) -> list[Draft]:
    job_id = _text(fields, "job_id")
    common = _common(fields, at_ms)
    details = {"from": _job_state(fields, "from"), "to": _job_state(fields, "to"), "reason": _text(fields, "reason"),
               "seq": _int(fields, "seq")}
    drafts = [Draft(A.AUDIT_KIND_JOB, "job.transition", job_id, details=details, refs=(job_id,), **common)]
    egress = _EGRESS_STATES.get(_int(fields, "to"))
    if egress:  # the runner's egress decision arrives with the transition it caused
        drafts.append(Draft(A.AUDIT_KIND_EGRESS, egress, job_id, details={"reason": details["reason"]},
                            refs=(job_id,), **common))
    return drafts


def negative_list_drafts(fields: Mapping[str, bytes], at_ms: int) -> list[Draft]:
    entry_id = _text(fields, "entry_id")
    change = _text(fields, "change")
    details: dict = {"change": change}
    if fields.get("entry"):
        entry = negative_list_pb2.NegativeListEntry.FromString(fields["entry"])
        details["entry"] = json_format.MessageToDict(entry, preserving_proto_field_name=True)
    return [Draft(A.AUDIT_KIND_NEGATIVE_LIST, f"negative_list.{change}", entry_id, details=details, refs=(entry_id,),
                  **_common(fields, at_ms))]


def usage_drafts(fields: Mapping[str, bytes], at_ms: int) -> list[Draft]:
    """A batch received, and one data access per (job, product) it reports: who read what, how much."""
    batch_id, node_id = _text(fields, "batch_id"), _text(fields, "node_id")
    common = {"actor": node_id or "system", "recorded_unix_ms": at_ms}
    try:
        batch, _ = batch_from_ipc(fields.get("arrow_ipc", b""))
        table = batch.select(["job_id", "product_id", "rows", "bytes"]).to_pydict()
    except (UsageSchemaError, ValueError, KeyError) as err:  # the biller dead-letters it; the log says it came
        details = {"node_id": node_id, "records": _int(fields, "record_count"), "decodable": False,
                   "problem": str(err)[:_MAX_TEXT]}
        return [Draft(A.AUDIT_KIND_USAGE_BATCH, "usage.received", batch_id, details=details, refs=(batch_id,), **common)]
    job_ids = sorted(set(table["job_id"]))
    received = Draft(A.AUDIT_KIND_USAGE_BATCH, "usage.received", batch_id,
                     details={"node_id": node_id, "records": batch.num_rows, "job_ids": job_ids,
                              "signed": bool(fields.get("signature"))},
                     refs=(batch_id, *job_ids), **common)
    reads: dict[tuple[str, str], list[int]] = {}
    for job_id, product_id, rows, size in zip(*(table[c] for c in ("job_id", "product_id", "rows", "bytes"))):
        if product_id:  # a compute record names no product
            total = reads.setdefault((job_id, product_id), [0, 0])
            total[0] += rows
            total[1] += size
    accesses = [Draft(A.AUDIT_KIND_DATA_ACCESS, "data.access", job_id,
                      details={"product_id": product_id, "node_id": node_id, "rows": rows, "bytes": size,
                               "batch_id": batch_id},
                      refs=(job_id, product_id, batch_id), **common)
                for (job_id, product_id), (rows, size) in sorted(reads.items())]
    return [received, *accesses]


def dead_letter_drafts(fields: Mapping[str, bytes], at_ms: int) -> list[Draft]:
    batch_id = _text(fields, "batch_id")
    details = {"node_id": _text(fields, "node_id"), "reason": _text(fields, "reason"),
               "message": _text(fields, "message")}
    return [Draft(A.AUDIT_KIND_USAGE_BATCH, "usage.dead_letter", batch_id, details=details, refs=(batch_id,),
                  actor="system", recorded_unix_ms=at_ms)]


def posting_drafts(batch_id: str, summary: Mapping, at_ms: int) -> list[Draft]:
    """A batch's postings committed to the ledger (the summary its idempotency record keeps)."""
    periods = [str(p) for p in summary.get("periods", [])]
    details = {"records": summary.get("records", 0), "charged_fen": summary.get("charged_fen", 0),
               "periods": periods, "node_id": summary.get("node_id", "")}
    posted_ms = int(summary.get("posted_unix_ms", at_ms))
    posted = Draft(A.AUDIT_KIND_POSTING, "ledger.post", batch_id, details=details, refs=(batch_id, *periods),
                   actor="system", recorded_unix_ms=posted_ms)
    # Records the biller left out (market/billing/record_ids.py): a record_id billed before, or come too late.
    refused = [Draft(A.AUDIT_KIND_USAGE_BATCH, f"usage.{reason}", batch_id,
                     details={"node_id": details["node_id"], "records": int(summary[f"{reason}_records"]),
                              "record_ids": [str(r) for r in summary.get(f"{reason}_record_ids", [])]},
                     refs=(batch_id,), actor="system", recorded_unix_ms=posted_ms)
               for reason in ("repeat", "too_late") if summary.get(f"{reason}_records")]
    return [posted, *refused]


def settlement_drafts(fields: Mapping[str, bytes], at_ms: int) -> list[Draft]:
    period = _text(fields, "period")
    details = {name: _int(fields, name) for name in ("statements", "total_charged_fen", "late_records")}
    details["manifest_sha256"] = _text(fields, "manifest_sha256")
    return [Draft(A.AUDIT_KIND_SETTLEMENT, "settlement.close", period, details=details, refs=(period,),
                  actor=_text(fields, "actor") or "system", recorded_unix_ms=_int(fields, "closed_unix_ms", at_ms))]


def credit_drafts(fields: Mapping[str, bytes], at_ms: int) -> list[Draft]:
    """A credit event (信用) of an organisation: what happened, its points and its cause."""
    org_id, subject_id = _text(fields, "org_id"), _text(fields, "subject_id")
    details = {"event_id": _text(fields, "event_id"), "kind": _text(fields, "kind"), "points": _int(fields, "points"),
               "subject_id": subject_id, "note": _text(fields, "note")}
    return [Draft(A.AUDIT_KIND_CREDIT, f"credit.{details['kind']}", org_id, details=details,
                  refs=(org_id, subject_id), **_common(fields, at_ms))]


def voucher_drafts(fields: Mapping[str, bytes], at_ms: int) -> list[Draft]:
    """A compute voucher issued, or an organisation's voucher cap set (their draws are ledger postings)."""
    org_id, event = _text(fields, "org_id"), _text(fields, "event")
    if event == "issue":
        voucher_id = _text(fields, "voucher_id")
        details = {"org_id": org_id, "amount_fen": _int(fields, "amount_fen"), "programme": _text(fields, "programme"),
                   "valid_until_unix_ms": _int(fields, "valid_until_unix_ms")}
        return [Draft(A.AUDIT_KIND_POSTING, "voucher.issue", voucher_id, details=details, refs=(voucher_id, org_id),
                      **_common(fields, at_ms))]
    return [Draft(A.AUDIT_KIND_POSTING, "voucher.cap", org_id, details={"cap_fen": _int(fields, "cap_fen")},
                  refs=(org_id,), **_common(fields, at_ms))]


def fee_schedule_drafts(fields: Mapping[str, bytes], at_ms: int) -> list[Draft]:
    """A fee schedule version published (公共数据授权运营): the products it re-priced and their new price versions."""
    schedule_id = _text(fields, "fee_schedule_id")
    products = [p for p in _text(fields, "product_ids").split(",") if p]
    details = {"version": _int(fields, "version"), "operator_id": _text(fields, "operator_id"), "product_ids": products,
               "price_versions": [int(v) for v in _text(fields, "price_versions").split(",") if v.isdigit()]}
    return [Draft(A.AUDIT_KIND_PRODUCT, "fees.publish", schedule_id, details=details, refs=(schedule_id, *products),
                  **_common(fields, at_ms))]


StreamMapper = Callable[[Mapping[str, bytes], int], list[Draft]]
