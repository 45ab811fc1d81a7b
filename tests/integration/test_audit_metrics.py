"""The exchange's event streams and the audit log's lag, read from a real Redis at scrape time."""

from __future__ import annotations

import time

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from shuniu.monitoring import collectors

_STREAMS = {"grants": "t:events:grants", "vouchers": "t:events:vouchers", "credit": "t:events:credit",
            "usage": "t:usage"}
_CURSORS, _HEAD = "t:audit:cursors", "t:audit:head"


@pytest.fixture
def client(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _samples(client) -> dict[tuple, float]:
    registry = CollectorRegistry()
    registry.register(collectors.AuditCollector(client, _STREAMS, _CURSORS, _HEAD))
    return {(s.name, tuple(s.labels.items())): s.value
            for family in text_string_to_metric_families(generate_latest(registry).decode()) for s in family.samples}


def _id(ms: int) -> str:
    return f"{ms}-0"


def test_events_count_every_entry_ever_added_even_after_the_stream_is_trimmed(client):
    for _ in range(3):
        client.xadd(_STREAMS["grants"], {"event": "approve"})
    client.xadd(_STREAMS["vouchers"], {"event": "issue"})
    client.xtrim(_STREAMS["grants"], maxlen=0)  # retention moved them to cold storage
    samples = _samples(client)
    assert samples[("shuniu_events_total", (("kind", "grants"),))] == 3
    assert samples[("shuniu_events_total", (("kind", "vouchers"),))] == 1
    assert samples[("shuniu_events_total", (("kind", "credit"),))] == 0  # no stream yet: zero, not absent


def test_audit_lag_is_the_age_of_the_oldest_event_past_the_chainers_cursor(client):
    now_ms = int(time.time() * 1000)
    for age_s in (600, 120, 30):  # grants: the first chained, the next two waiting
        client.xadd(_STREAMS["grants"], {"event": "approve"}, id=_id(now_ms - age_s * 1000))
    client.xadd(_STREAMS["vouchers"], {"event": "issue"}, id=_id(now_ms - 50_000))  # never chained: no cursor yet
    client.xadd(_STREAMS["credit"], {"kind": "egress_denied"}, id=_id(now_ms - 90_000))  # chained
    client.xadd(_STREAMS["usage"], {"arrow_ipc": b"\0" * 2_000_000}, id=_id(now_ms - 5_000))  # megabytes stay in Redis
    client.hset(_CURSORS, mapping={"grants": _id(now_ms - 600_000), "credit": _id(now_ms - 90_000)})
    client.hset(_HEAD, mapping={"seq": 41, "hash": b"\xff" * 32, "checkpoint_seq": 40, "checkpoint_ms": now_ms - 20_000})
    samples = _samples(client)
    lag = {dict(labels)["kind"]: v for (name, labels), v in samples.items() if name == "shuniu_audit_lag_seconds"}
    assert lag["grants"] == pytest.approx(120, abs=5)
    assert lag["vouchers"] == pytest.approx(50, abs=5)
    assert lag["usage"] == pytest.approx(5, abs=5)
    assert lag["credit"] == 0
    assert samples[("shuniu_audit_entries_total", ())] == 41
    assert samples[("shuniu_audit_checkpoint_age_seconds", ())] == pytest.approx(20, abs=5)


def test_an_empty_exchange_exports_zeros_and_no_checkpoint_age(client):
    samples = _samples(client)
    assert {name for name, _ in samples} == {"shuniu_events_total", "shuniu_audit_lag_seconds", "shuniu_audit_entries_total"}
    assert all(value == 0 for value in samples.values())
