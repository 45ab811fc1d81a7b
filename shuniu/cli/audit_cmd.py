"""`shuniu audit …`: read, verify and trace the hash-chained audit log (全流程可追溯)."""

from __future__ import annotations

import datetime
import json

import typer
from rich.table import Table

from shuniu.cli._app import (
    AddressOption,
    JsonOption,
    app,
    console,
    fail,
    print_json,
    resolve_address,
    rpc_errors,
    to_dict,
)
from shuniu.client import Client
from shuniu.protos.v1 import audit_pb2

audit_app = typer.Typer(help="Read, verify and trace the audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

KIND_NAMES = {audit_pb2.AuditKind.Value(n): n.removeprefix("AUDIT_KIND_").lower() for n in audit_pb2.AuditKind.keys()[1:]}
PROBLEM_NAMES = {v: n.removeprefix("CHAIN_PROBLEM_").lower() for n, v in audit_pb2.ChainProblem.items()}


def _kind_value(name: str) -> int:
    values = {v: k for k, v in KIND_NAMES.items()}
    if name not in values:
        fail(f"kind {name!r} unknown; expected one of {', '.join(KIND_NAMES.values())}")
    return values[name]


def _when(unix_ms: int) -> str:
    return datetime.datetime.fromtimestamp(unix_ms / 1000).strftime("%Y-%m-%d %H:%M:%S") if unix_ms else ""


def _details(entry: audit_pb2.AuditEntry, width: int = 80) -> str:
    text = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v}"
                     for k, v in json.loads(entry.details_json or "{}").items())
    return text if len(text) <= width else text[:width - 1] + "…"


def _entries_table(title: str, entries: list[audit_pb2.AuditEntry]) -> Table:
    table = Table(title=title, header_style="bold")
    for column in ("seq", "when", "kind", "action", "subject", "actor", "details", "hash"):
        table.add_column(column, justify="right" if column == "seq" else "left", overflow="fold")
    for e in entries:
        table.add_row(str(e.seq), _when(e.recorded_unix_ms), KIND_NAMES.get(e.kind, "?"), e.action, e.subject_id,
                      e.actor, _details(e), e.hash.hex()[:12])
    return table


@audit_app.command("ls")
def audit_ls(
    kind: str = typer.Option("", help=f"Only entries of this kind: {', '.join(KIND_NAMES.values())}."),
    subject: str = typer.Option("", help="Only entries about this job, grant, product, node, batch or period."),
    actor: str = typer.Option("", help="Only entries of this actor (a certificate's name, or system)."),
    from_seq: int = typer.Option(0, "--from", min=0, help="Start at this seq (0: the start)."),
    limit: int = typer.Option(100, min=1, max=100_000, help="At most this many entries."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Lists audit entries in chain order."""
    request = audit_pb2.AuditServiceListEntriesRequest(kind=_kind_value(kind) if kind else 0, subject_id=subject,
                                                       actor=actor, from_seq=from_seq)
    entries: list[audit_pb2.AuditEntry] = []
    with rpc_errors(), Client(resolve_address(address)) as client:
        while len(entries) < limit:
            request.page_size = min(1000, limit - len(entries))
            page = client.audit.ListEntries(request, timeout=client.timeout_s)
            entries += page.entries
            head = page.head_seq
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token
    if as_json:
        print_json({"entries": [to_dict(e) for e in entries], "head_seq": head})
        return
    console.print(_entries_table(f"{len(entries)} entries (chain head {head})", entries))


@audit_app.command("verify")
def audit_verify(
    from_seq: int = typer.Option(0, "--from", min=0, help="First seq to check (0: the start)."),
    to_seq: int = typer.Option(0, "--to", min=0, help="Last seq to check (0: the head)."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Recomputes the chain and checks the signed checkpoints; exits 1 when the log was tampered with."""
    with rpc_errors(), Client(resolve_address(address)) as client:
        result = client.audit.VerifyChain(audit_pb2.VerifyChainRequest(from_seq=from_seq, to_seq=to_seq),
                                          timeout=max(client.timeout_s, 300))
    if as_json:
        print_json(to_dict(result))
    elif result.ok:
        cp = result.last_checkpoint
        signed = f"; last checkpoint at {cp.seq} signed by key {cp.signing_key_id}" if cp.seq else ""
        console.print(f"[green]chain ok[/]: {result.entries_checked:,} entries, "
                      f"{result.checkpoints_checked} checkpoints verified{signed}")
    else:
        console.print(f"[bold red]chain broken[/] at seq {result.first_bad_seq}: "
                      f"{PROBLEM_NAMES.get(result.problem, '?')} — {result.detail}", highlight=False)
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("trace")
def audit_trace(
    job_id: str = typer.Argument(..., help="The job whose story to tell."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """A job's whole story: its grant, transitions, data access, egress, usage batches, postings and settlement."""
    with rpc_errors(), Client(resolve_address(address)) as client:
        trace = client.audit.TraceJob(audit_pb2.TraceJobRequest(job_id=job_id), timeout=client.timeout_s)
    if as_json:
        print_json(to_dict(trace))
        return
    console.print(_entries_table(f"job {job_id}: {len(trace.entries)} entries", list(trace.entries)))
