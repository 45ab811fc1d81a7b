"""The audit chain's rules (全流程可追溯 — traceable end to end): canonical bytes, links, checkpoints, verification.

hash(entry) = SHA-256(prev_hash || canonical bytes of fields 1 to 8), the first entry's
prev_hash being GENESIS. Changing an entry breaks its own hash; removing or reordering
entries breaks the seq run or the links; rewriting the chain from some entry on breaks the
signed checkpoints after it. Verification walks entries in stored order, a page at a time,
and names the first bad seq and what is wrong with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shuniu.protos.v1 import audit_pb2
from shuniu.security import signing

__all__ = ["AUDIT_CURSORS_KEY", "GENESIS", "ChainVerdict", "ChainWalk", "canonical_bytes", "checkpoint_message", "entry_hash", "link",
           "sign_checkpoint"]

GENESIS = bytes(32)
# Where the chainer keeps how far it has read each raw source; the biller trims the usage stream behind it.
AUDIT_CURSORS_KEY = "shuniu:audit:cursors"
_CHECKPOINT_TAG = b"shuniu.audit.checkpoint.v1\0"
CHANGED = audit_pb2.CHAIN_PROBLEM_CHANGED
REMOVED = audit_pb2.CHAIN_PROBLEM_REMOVED
REORDERED = audit_pb2.CHAIN_PROBLEM_REORDERED
BAD_CHECKPOINT = audit_pb2.CHAIN_PROBLEM_BAD_CHECKPOINT


def canonical_bytes(entry: audit_pb2.AuditEntry) -> bytes:
    """Fields 1 to 8 as compact JSON: one byte string per content, whatever the protobuf encoder does."""
    fields = [entry.seq, int(entry.kind), entry.action, entry.subject_id, entry.actor, entry.request_id,
              entry.recorded_unix_ms, entry.details_json]
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()


def entry_hash(prev_hash: bytes, entry: audit_pb2.AuditEntry) -> bytes:
    return hashlib.sha256(prev_hash + canonical_bytes(entry)).digest()


def link(prev_hash: bytes, entry: audit_pb2.AuditEntry) -> audit_pb2.AuditEntry:
    """Sets the entry's prev_hash and hash (its seq and content already set); returns it."""
    entry.prev_hash = prev_hash
    entry.hash = entry_hash(prev_hash, entry)
    return entry


def checkpoint_message(seq: int, chain_hash: bytes) -> bytes:
    """What a checkpoint signs: its seq and the hash of the entry at that seq."""
    return _CHECKPOINT_TAG + seq.to_bytes(8, "big") + chain_hash


def sign_checkpoint(key: signing.SigningKey, seq: int, chain_hash: bytes, now_ms: int) -> audit_pb2.AuditCheckpoint:
    return audit_pb2.AuditCheckpoint(seq=seq, hash=chain_hash, signing_key_id=key.key_id,
                                     signature=key.sign(checkpoint_message(seq, chain_hash)), signed_unix_ms=now_ms)


@dataclass(frozen=True)
class ChainVerdict:
    """Result of a verification: ok, or the first bad seq with its problem (a ChainProblem) and detail."""

    ok: bool
    entries_checked: int
    checkpoints_checked: int = 0
    first_bad_seq: int = 0
    problem: int = 0
    detail: str = ""


@dataclass(frozen=True)
class _Finding:
    seq: int
    problem: int
    detail: str


class ChainWalk:
    """Checks entries fed in stored order, page by page, from `first_seq` whose predecessor hashed to `prev_hash`.

    A missing seq is REMOVED unless it turns up later in the walk, then it was REORDERED;
    so after the first break the walk keeps reading only to tell the two apart.
    """

    def __init__(self, first_seq: int = 1, prev_hash: bytes = GENESIS, keep_hashes: Iterable[int] = ()) -> None:
        assert first_seq >= 1, first_seq
        self.expected_seq = first_seq
        self.prev_hash = prev_hash
        self.checked = 0
        self.finding: _Finding | None = None
        self._missing: int | None = None  # a seq skipped over, REMOVED unless seen later
        self._keep = set(keep_hashes)
        self.hashes: dict[int, bytes] = {}  # seq -> stored hash, for the seqs checkpoints name

    @property
    def settled(self) -> bool:
        """Whether more entries cannot change the verdict."""
        return self.finding is not None and self._missing is None

    def feed(self, entries: Iterable[audit_pb2.AuditEntry]) -> None:
        for entry in entries:
            if self.settled:
                return
            if self.finding is not None:
                if entry.seq == self._missing:
                    self.finding = _Finding(self._missing, REORDERED, f"entry {self._missing} is stored out of "
                                            "order, after later entries")
                    self._missing = None
                continue
            self._check(entry)

    def _check(self, entry: audit_pb2.AuditEntry) -> None:
        seq = self.expected_seq
        if entry.seq > seq:
            self.finding = _Finding(seq, REMOVED, f"entry {seq} is missing: entry {entry.seq} follows entry {seq - 1}")
            self._missing = seq
        elif entry.seq < seq:
            self.finding = _Finding(seq, REORDERED, f"entry {entry.seq} is stored where entry {seq} belongs")
        elif entry.hash != entry_hash(entry.prev_hash, entry):
            self.finding = _Finding(seq, CHANGED, f"entry {seq} ({entry.action} {entry.subject_id}) does not hash to "
                                    "its stored hash: its content was changed")
        elif entry.prev_hash != self.prev_hash:
            self.finding = _Finding(seq, REORDERED, f"entry {seq} does not link to the entry before it "
                                    "(prev_hash differs)")
        else:
            if seq in self._keep:
                self.hashes[seq] = entry.hash
            self.prev_hash = entry.hash
            self.expected_seq += 1
            self.checked += 1

    def verdict(self, checkpoints: Iterable[audit_pb2.AuditCheckpoint], public_keys: Mapping[str, bytes],
                head_seq: int) -> ChainVerdict:
        """The verdict over the entries fed, the checkpoints within their range and the recorded head seq."""
        findings = [self.finding] if self.finding else []
        last = self.expected_seq - 1
        if not findings and head_seq > last:
            findings.append(_Finding(last + 1, REMOVED, f"the chain's head is entry {head_seq}, "
                                     f"but the entries end at {last}"))
        checked = 0
        for cp in checkpoints:
            checked += 1
            problem = self._checkpoint_problem(cp, public_keys, last)
            if problem is not None:
                findings.append(problem)
                break
        if not findings:
            return ChainVerdict(True, self.checked, checked)
        first = min(findings, key=lambda f: f.seq)
        return ChainVerdict(False, self.checked, checked, first.seq, first.problem, first.detail)

    def _checkpoint_problem(self, cp: audit_pb2.AuditCheckpoint, public_keys: Mapping[str, bytes],
                            last: int) -> _Finding | None:
        public = public_keys.get(cp.signing_key_id)
        if public is None:
            return _Finding(cp.seq, BAD_CHECKPOINT, f"checkpoint at {cp.seq} is signed by unknown key "
                            f"{cp.signing_key_id!r}; expected one of {sorted(public_keys)}")
        if not signing.verify(public, cp.signature, checkpoint_message(cp.seq, cp.hash)):
            return _Finding(cp.seq, BAD_CHECKPOINT, f"checkpoint at {cp.seq}: the signature does not match "
                            "its seq and hash")
        if cp.seq > last and self.finding is None:
            return _Finding(last + 1, REMOVED, f"checkpoint at {cp.seq} was signed, but the entries end at {last}")
        stored = self.hashes.get(cp.seq)
        if stored is not None and stored != cp.hash:
            return _Finding(cp.seq, BAD_CHECKPOINT, f"entry {cp.seq} does not have the hash its signed checkpoint "
                            "holds: the chain was rewritten up to here")
        return None
