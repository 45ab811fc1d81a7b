"""A Redis client for megabyte values: the same commands and replies, large values written as they are."""

from __future__ import annotations

import os

import pytest
import redis

from shuniu.stack import bulk_client


def test_large_and_small_values_round_trip_in_commands_pipelines_and_scripts(redis_url):
    big, small = os.urandom(1_300_000), b"x" * 10
    client = bulk_client(redis_url)
    try:
        client.set("big", big)
        entry = client.xadd("stream", {"arrow_ipc": big, "batch_id": "b1", "n": 3})
        pipe = client.pipeline(transaction=True)
        pipe.set("small", small).get("big").xrange("stream")
        _, got, entries = pipe.execute()
        script = client.register_script("redis.call('SET', KEYS[1], ARGV[1]); return string.len(ARGV[1])")
        assert script(keys=["copy"], args=[big]) == len(big)
        plain = redis.Redis.from_url(redis_url)  # what another client reads back
        assert got == big and plain.get("copy") == big and plain.get("small") == small
        assert entries == [(entry, {b"arrow_ipc": big, b"batch_id": b"b1", b"n": b"3"})]
        plain.close()
    finally:
        client.close()


def test_a_large_value_is_handed_to_the_socket_without_a_copy(redis_url):
    client = bulk_client(redis_url)
    try:
        value = os.urandom(100_000)
        packed = client.connection_pool.get_connection().pack_command("SET", "k", value)
        assert any(part is value for part in packed)  # the value itself, not a copy inside one buffer
    finally:
        client.close()


def test_many_small_arguments_around_large_values_arrive_in_order(redis_url):
    # As a posting script's call: a megabyte of lines among ~2,000 accounts and counters, of every type.
    big, other = os.urandom(1_300_000), memoryview(os.urandom(7_000))
    small = [f"field-{i}" for i in range(1000)] + list(range(-500, 500)) + [2**70, 1.5, b"raw", memoryview(b"mv"), bytearray(b"ba")]
    args = [*small[:700], big, *small[700:1500], other, *small[1500:]]
    client = bulk_client(redis_url)
    try:
        script = client.register_script("return ARGV")
        got = script(keys=[], args=args)
        expected = [a if isinstance(a, bytes) else bytes(a) if isinstance(a, (memoryview, bytearray)) else str(a).encode()
                    for a in args]
        assert got == expected
    finally:
        client.close()


def test_an_argument_of_no_redis_type_is_refused_before_anything_is_sent(redis_url):
    client = bulk_client(redis_url)
    try:
        with pytest.raises(TypeError):
            client.set("k", None)
        assert client.exists("k") == 0
    finally:
        client.close()
