"""Vouchers in Redis: records, remaining amounts, per-organisation index and caps, and the biller's read.

Keys (all under shuniu:vouchers:, plus one event stream):
  records          hash voucher id -> Voucher bytes (spec, issuer, issue time; never changes)
  remaining        hash voucher id -> fen left; issuing sets it, the ledger's posting script draws it
                   down in the same atomic write as the batch that draws (market/ledger/post_batch.lua)
  org:{org}        sorted set of the organisation's voucher ids, scored by valid_until_unix_ms
  holders          set of organisations that were ever issued a voucher (the biller's first, cheap test)
  caps             hash org -> cap fen (SetVoucherCap)
  shuniu:events:vouchers  stream: one entry per issue and per cap change, for the audit log
"""

from __future__ import annotations

from collections.abc import Sequence

import redis
from shuniu.market.ledger.store import VOUCHER_REMAINING_KEY
from shuniu.market.vouchers.draw import HeldVoucher
from shuniu.market.vouchers.model import held
from shuniu.protos.v1 import ledger_pb2

__all__ = ["CAPS_KEY", "HOLDERS_KEY", "RECORDS_KEY", "REMAINING_KEY", "VOUCHER_EVENTS_KEY", "held_vouchers",
           "org_key", "queue_issue"]

_PREFIX = "shuniu:vouchers:"
RECORDS_KEY = _PREFIX + "records"
REMAINING_KEY = VOUCHER_REMAINING_KEY
HOLDERS_KEY = _PREFIX + "holders"
CAPS_KEY = _PREFIX + "caps"
VOUCHER_EVENTS_KEY = "shuniu:events:vouchers"


def org_key(org_id: str) -> str:
    return f"{_PREFIX}org:{org_id}"


def held_vouchers(client: redis.Redis, buyers: Sequence[str], now_ms: int) -> list[HeldVoucher]:
    """The unexpired vouchers with something left of these buyers; one round trip when none holds any."""
    if not buyers:
        return []
    holding = [b for b, member in zip(buyers, client.smismember(HOLDERS_KEY, list(buyers))) if member]
    if not holding:
        return []
    pipe = client.pipeline(transaction=False)
    for buyer in holding:
        pipe.zrangebyscore(org_key(buyer), f"({now_ms}", "+inf")
    ids = [vid for found in pipe.execute() for vid in found]
    if not ids:
        return []
    pipe = client.pipeline(transaction=True)  # records and amounts of one instant
    pipe.hmget(RECORDS_KEY, ids)
    pipe.hmget(REMAINING_KEY, ids)
    records, remaining = pipe.execute()
    out = []
    for raw, left in zip(records, remaining):
        if raw is not None and left is not None and int(left) > 0:
            out.append(held(ledger_pb2.Voucher.FromString(raw), int(left)))
    return out


def queue_issue(pipe, voucher: ledger_pb2.Voucher, actor: str) -> None:
    """Queue the writes of a new voucher and its audit event on a MULTI pipeline (sync or asyncio)."""
    spec = voucher.spec
    pipe.hset(RECORDS_KEY, voucher.voucher_id, voucher.SerializeToString())
    pipe.hset(REMAINING_KEY, voucher.voucher_id, spec.amount_fen)
    pipe.zadd(org_key(spec.org_id), {voucher.voucher_id: spec.valid_until_unix_ms})
    pipe.sadd(HOLDERS_KEY, spec.org_id)
    pipe.xadd(VOUCHER_EVENTS_KEY, {"event": "issue", "voucher_id": voucher.voucher_id, "org_id": spec.org_id,
                                   "amount_fen": spec.amount_fen, "programme": spec.programme,
                                   "valid_until_unix_ms": spec.valid_until_unix_ms, "actor": actor,
                                   "unix_ms": voucher.issued_unix_ms}, maxlen=100_000, approximate=True)


def queue_cap(pipe, org_id: str, cap_fen: int, actor: str, now_ms: int) -> None:
    pipe.hset(CAPS_KEY, org_id, cap_fen)
    pipe.xadd(VOUCHER_EVENTS_KEY, {"event": "cap", "org_id": org_id, "cap_fen": cap_fen, "actor": actor,
                                   "unix_ms": now_ms}, maxlen=100_000, approximate=True)
