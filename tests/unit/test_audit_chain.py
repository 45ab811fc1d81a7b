"""The audit chain's rules: links, checkpoints, and which seq and problem each kind of tampering shows."""

from __future__ import annotations

import concurrent.futures

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shuniu.protos.v1 import audit_pb2
from shuniu.security import audit_chain, signing
from shuniu.security.audit_chain import (
    BAD_CHECKPOINT,
    CHANGED,
    REMOVED,
    REORDERED,
    ChainWalk,
)

Entry = audit_pb2.AuditEntry


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    return signing.load_or_create(tmp_path_factory.mktemp("keys") / "exchange.ed25519")


def chain(n: int) -> list[Entry]:
    prev, out = audit_chain.GENESIS, []
    for seq in range(1, n + 1):
        entry = Entry(seq=seq, kind=audit_pb2.AUDIT_KIND_JOB, action="job.transition", subject_id=f"job-{seq % 4}",
                      actor="system", recorded_unix_ms=1_800_000_000_000 + seq, details_json=f'{{"seq":{seq}}}')
        out.append(audit_chain.link(prev, entry))
        prev = entry.hash
    return out


def verdict(entries, checkpoints=(), keys=None, head=None):
    walk = ChainWalk(keep_hashes=[c.seq for c in checkpoints])
    walk.feed(entries)
    return walk.verdict(checkpoints, keys or {}, head_seq=len(entries) if head is None else head)


def test_an_untouched_chain_verifies_with_its_checkpoints(key):
    entries = chain(50)
    cps = [audit_chain.sign_checkpoint(key, s, entries[s - 1].hash, 0) for s in (10, 50)]
    v = verdict(entries, cps, {key.key_id: key.public_raw})
    assert (v.ok, v.entries_checked, v.checkpoints_checked) == (True, 50, 2)


def _change(entries):
    entries[11].details_json = '{"seq":999}'


def _change_and_rehash(entries):
    entries[11].actor = "intruder"
    entries[11].hash = audit_chain.entry_hash(entries[11].prev_hash, entries[11])


def _remove(entries):
    del entries[11]


def _swap(entries):
    entries[11], entries[12] = entries[12], entries[11]


def _swap_far(entries):
    entries[11], entries[30] = entries[30], entries[11]


def _truncate(entries):
    del entries[40:]


def _duplicate(entries):
    entries.insert(12, entries[11])


TAMPERING = [
    pytest.param(_change, 12, CHANGED, id="field-changed"),
    pytest.param(_change_and_rehash, 13, REORDERED, id="field-changed-and-rehashed-breaks-next-link"),
    pytest.param(_remove, 12, REMOVED, id="entry-removed"),
    pytest.param(_swap, 12, REORDERED, id="neighbours-swapped"),
    pytest.param(_swap_far, 12, REORDERED, id="distant-entries-swapped"),
    pytest.param(_duplicate, 13, REORDERED, id="entry-duplicated"),
]


@pytest.mark.parametrize("tamper, seq, problem", TAMPERING)
def test_tampering_names_the_first_bad_seq_and_problem(tamper, seq, problem):
    entries = chain(50)
    tamper(entries)
    v = verdict(entries, head=50)
    assert (v.ok, v.first_bad_seq, v.problem) == (False, seq, problem), v.detail
    assert v.detail


def test_a_cut_tail_is_removed_by_the_head_and_by_a_signed_checkpoint(key):
    entries = chain(50)
    cps = [audit_chain.sign_checkpoint(key, 45, entries[44].hash, 0)]
    _truncate(entries)
    v = verdict(entries, cps, {key.key_id: key.public_raw}, head=40)  # head rewritten too: the checkpoint still says 45
    assert (v.ok, v.first_bad_seq, v.problem) == (False, 41, REMOVED)
    v = verdict(entries, head=50)
    assert (v.ok, v.first_bad_seq, v.problem) == (False, 41, REMOVED)


def _rewrite_from(entries, index):
    prev = entries[index - 1].hash if index else audit_chain.GENESIS
    entries[index].details_json = '{"rewritten":true}'
    for entry in entries[index:]:
        audit_chain.link(prev, entry)
        prev = entry.hash


FORGERY = [
    pytest.param(lambda cp, k: setattr(cp, "hash", b"\x01" * 32), id="hash-changed"),
    pytest.param(lambda cp, k: setattr(cp, "seq", cp.seq + 1), id="seq-changed"),
    pytest.param(lambda cp, k: setattr(cp, "signing_key_id", "0" * 16), id="unknown-key"),
    pytest.param(lambda cp, k: cp.CopyFrom(audit_chain.sign_checkpoint(k, cp.seq, b"\x02" * 32, 0)), id="signed-by-another-key"),
]


@pytest.mark.parametrize("forge", FORGERY)
def test_a_forged_checkpoint_is_a_bad_checkpoint(key, tmp_path, forge):
    entries = chain(30)
    cp = audit_chain.sign_checkpoint(key, 20, entries[19].hash, 0)
    forge(cp, signing.load_or_create(tmp_path / "other.ed25519"))
    v = verdict(entries, [cp], {key.key_id: key.public_raw})
    assert (v.ok, v.problem) == (False, BAD_CHECKPOINT), v.detail


def test_a_chain_rewritten_from_an_entry_on_is_caught_by_the_next_checkpoint(key):
    entries = chain(40)
    cps = [audit_chain.sign_checkpoint(key, 30, entries[29].hash, 0)]
    _rewrite_from(entries, 9)
    v = verdict(entries, cps, {key.key_id: key.public_raw})
    assert (v.ok, v.first_bad_seq, v.problem) == (False, 30, BAD_CHECKPOINT)


def test_pages_fed_one_by_one_give_the_same_verdict():
    entries = chain(60)
    _swap(entries)
    walk = ChainWalk()
    for start in range(0, 60, 7):
        walk.feed(entries[start:start + 7])
    v = walk.verdict([], {}, head_seq=60)
    assert (v.first_bad_seq, v.problem) == (12, REORDERED)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 40), data=st.data())
def test_any_single_change_of_any_field_is_caught_at_its_seq(n, data):
    entries = chain(n)
    index = data.draw(st.integers(0, n - 1))
    field = data.draw(st.sampled_from(["kind", "action", "subject_id", "actor", "request_id", "recorded_unix_ms",
                                       "details_json", "prev_hash"]))
    entry = entries[index]
    value = getattr(entry, field)
    if isinstance(value, bytes):
        setattr(entry, field, bytes([value[0] ^ 1]) + value[1:])
    elif isinstance(value, str):
        setattr(entry, field, value + "x")
    else:
        setattr(entry, field, value + 1)
    v = verdict(entries)
    assert (v.ok, v.first_bad_seq, v.problem) == (False, index + 1, CHANGED)


def test_canonical_bytes_cover_fields_one_to_eight_only():
    entry = chain(1)[0]
    before = audit_chain.canonical_bytes(entry)
    entry.hash, entry.prev_hash = b"x", b"y"
    assert audit_chain.canonical_bytes(entry) == before


# Usage-batch signatures ----------------------------------------------------------------------

BATCH = ("node-a-0001", "node-a", 3, b"arrow bytes")


@pytest.mark.parametrize("changed", [
    pytest.param(("node-a-0002", "node-a", 3, b"arrow bytes"), id="batch-id"),
    pytest.param(("node-a-0001", "node-b", 3, b"arrow bytes"), id="node-id"),
    pytest.param(("node-a-0001", "node-a", 4, b"arrow bytes"), id="record-count"),
    pytest.param(("node-a-0001", "node-a", 3, b"arrow bytez"), id="arrow-ipc"),
])
def test_a_usage_signature_covers_batch_id_node_record_count_and_content(key, changed):
    signature = signing.sign_usage_batch(key, *BATCH)
    assert signing.verify(key.public_raw, signature, signing.usage_batch_message(*BATCH))
    assert not signing.verify(key.public_raw, signature, signing.usage_batch_message(*changed))


def test_keys_are_created_once_even_when_processes_race(tmp_path):
    path = signing.node_key_path(tmp_path, "luoyang-ai-01")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: signing.load_or_create(path).key_id, range(32)))
    assert len(ids) == 1 and signing.load_or_create(path).key_id in ids
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.mark.parametrize("node_id", ["", "../etc", "a/b", ".hidden"])
def test_a_node_id_that_cannot_name_a_key_file_is_refused(tmp_path, node_id):
    with pytest.raises(ValueError, match="cannot name a key file"):
        signing.node_key_path(tmp_path, node_id)
