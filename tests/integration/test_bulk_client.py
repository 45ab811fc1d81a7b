"""A Redis client for megabyte values: the same commands and replies, large values written as they are."""

from __future__ import annotations

import os

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
