"""VoucherService: the operator issues compute vouchers (算力券) within a per-organisation cap, and lists them.

Issuing moves no money: a voucher is a promise of the subsidy programme behind it. Money moves
when a compute charge draws on the voucher — a POSTING_KIND_VOUCHER posting from the subsidy
account to the buyer, in the batch's own atomic ledger write (market/vouchers, market/ledger).
Each mutation runs once per request_id and watches the organisation's vouchers, the caps and
the remaining amounts, so the cap check and the write see one state.
"""

from __future__ import annotations

import re
import secrets
import time

import redis.asyncio as aioredis
from shuniu.market.ledger.model import MAX_AMOUNT_FEN
from shuniu.market.vouchers import cap_refusal, outstanding_fen, shown
from shuniu.market.vouchers.store import (
    CAPS_KEY,
    RECORDS_KEY,
    REMAINING_KEY,
    org_key,
    queue_cap,
    queue_issue,
)
from shuniu.protos.v1 import ledger_pb2, ledger_pb2_grpc
from shuniu.scheduler.control_plane import validate
from shuniu.scheduler.control_plane.errors import (
    exhausted,
    failed_precondition,
    invalid,
)
from shuniu.scheduler.control_plane.idempotency import fingerprint, run_idempotent
from shuniu.scheduler.control_plane.ledger_service import offset_page
from shuniu.scheduler.control_plane.node_service import refusals
from shuniu.security.caller import current_actor

__all__ = ["VoucherService"]

_ORG_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_PROGRAMME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_MAX_SITES = 64
_STATE_NAMES = ", ".join(n.removeprefix("VOUCHER_STATE_") for n in ledger_pb2.VoucherState.keys()[1:])


def _now_ms() -> int:
    return int(time.time() * 1000)


def _org(org_id: str, field: str = "org_id") -> None:
    if not _ORG_ID.match(org_id):
        raise invalid(f"{field} {org_id!r} is malformed; expected the buyer's organisation id: 1-128 characters of "
                      "letters, digits, '.', '_', ':' or '-', starting with a letter or digit")


def checked_spec(spec: ledger_pb2.VoucherSpec, now_ms: int) -> ledger_pb2.VoucherSpec:
    """The spec as it will be stored (valid_from 0 becomes now), once every field is acceptable."""
    _org(spec.org_id, "spec.org_id")
    if not 0 < spec.amount_fen < MAX_AMOUNT_FEN:
        raise invalid(f"spec.amount_fen {spec.amount_fen} out of range; expected 1..{MAX_AMOUNT_FEN - 1} fen")
    out = ledger_pb2.VoucherSpec()
    out.CopyFrom(spec)
    out.valid_from_unix_ms = spec.valid_from_unix_ms or now_ms
    # Expiry first: an expired voucher with the default start would otherwise be told only that it ends before now.
    if out.valid_until_unix_ms <= now_ms:
        raise invalid(f"spec.valid_until_unix_ms {spec.valid_until_unix_ms} has passed (now {now_ms}): the voucher "
                      "would be expired; a voucher must still be valid when it is issued")
    if out.valid_from_unix_ms < 0 or out.valid_until_unix_ms <= out.valid_from_unix_ms:
        raise invalid(f"spec.valid_until_unix_ms {spec.valid_until_unix_ms} must be after valid_from_unix_ms "
                      f"{out.valid_from_unix_ms}")
    for value in spec.eligible_compute_classes:
        if value not in validate.CLASS_NAMES:
            raise invalid(f"spec.eligible_compute_classes has {value}, unknown; expected general (1), ai (2), hpc (3), "
                          "or none for every class")
    if len(set(spec.eligible_compute_classes)) != len(spec.eligible_compute_classes):
        raise invalid("spec.eligible_compute_classes names a class twice; list each at most once")
    if len(spec.eligible_sites) > _MAX_SITES or len(set(spec.eligible_sites)) != len(spec.eligible_sites):
        raise invalid(f"spec.eligible_sites has duplicates or more than {_MAX_SITES} sites; list each site once")
    for site in spec.eligible_sites:
        validate.site(site, "spec.eligible_sites")
    if spec.programme and not _PROGRAMME.match(spec.programme):
        raise invalid(f"spec.programme {spec.programme!r} is malformed; expected 1-64 characters of a-z, 0-9, '.', "
                      "'_' or '-' (it names the subsidy account, e.g. subsidy:<programme>), or empty for the exchange's")
    return out


async def _org_vouchers(client, org_id: str) -> list[tuple[ledger_pb2.Voucher, int]]:
    """(record, remaining fen) of every voucher the organisation was issued, oldest expiry first."""
    ids = await client.zrange(org_key(org_id), 0, -1)
    return await _records(client, ids)


async def _records(client, ids: list) -> list[tuple[ledger_pb2.Voucher, int]]:
    if not ids:
        return []
    records = await client.hmget(RECORDS_KEY, ids)
    remaining = await client.hmget(REMAINING_KEY, ids)
    return [(ledger_pb2.Voucher.FromString(raw), int(left or 0)) for raw, left in zip(records, remaining) if raw is not None]


async def _cap(client, org_id: str) -> int | None:
    raw = await client.hget(CAPS_KEY, org_id)
    return None if raw is None else int(raw)


class VoucherService(ledger_pb2_grpc.VoucherServiceServicer):
    def __init__(self, client: aioredis.Redis, request_id_ttl_s: int) -> None:
        self.redis = client
        self.request_id_ttl_s = request_id_ttl_s

    async def _idempotent(self, rpc: str, request, watch: list[str], plan) -> bytes:
        fp = fingerprint(rpc, request.SerializeToString(deterministic=True))
        raw, _ = await run_idempotent(self.redis, request.request_id, fp, watch, plan, self.request_id_ttl_s)
        return raw

    @refusals
    async def IssueVoucher(self, request: ledger_pb2.IssueVoucherRequest, context) -> ledger_pb2.IssueVoucherResponse:
        validate.request_id(request.request_id)
        if not request.HasField("spec"):
            raise invalid("spec is missing; expected org_id, amount_fen and valid_until_unix_ms at least")
        now_ms = _now_ms()
        spec = checked_spec(request.spec, now_ms)
        actor = current_actor()

        async def plan(pipe):
            held = await _org_vouchers(pipe, spec.org_id)
            cap_fen = await _cap(pipe, spec.org_id)
            refusal = cap_refusal(spec.org_id, cap_fen, outstanding_fen(held, now_ms), spec.amount_fen)
            if refusal:
                raise (failed_precondition if cap_fen is None else exhausted)(refusal)
            voucher = ledger_pb2.Voucher(voucher_id=f"v-{now_ms:012x}-{secrets.token_hex(4)}", spec=spec,
                                         issued_by=actor, issued_unix_ms=now_ms)
            response = ledger_pb2.IssueVoucherResponse(voucher=shown(voucher, spec.amount_fen, now_ms))
            return (lambda p: queue_issue(p, voucher, actor)), response.SerializeToString()

        raw = await self._idempotent("IssueVoucher", request, [org_key(spec.org_id), CAPS_KEY, REMAINING_KEY], plan)
        return ledger_pb2.IssueVoucherResponse.FromString(raw)

    @refusals
    async def SetVoucherCap(self, request: ledger_pb2.SetVoucherCapRequest, context) -> ledger_pb2.SetVoucherCapResponse:
        validate.request_id(request.request_id)
        _org(request.org_id)
        if not 0 <= request.cap_fen < MAX_AMOUNT_FEN:
            raise invalid(f"cap_fen {request.cap_fen} out of range; expected 0..{MAX_AMOUNT_FEN - 1} fen")
        now_ms = _now_ms()
        actor = current_actor()

        async def plan(pipe):
            # A cap below what is outstanding is allowed: it stops new vouchers, the issued ones stay valid.
            outstanding = outstanding_fen(await _org_vouchers(pipe, request.org_id), now_ms)
            response = ledger_pb2.SetVoucherCapResponse(org_id=request.org_id, cap_fen=request.cap_fen,
                                                        outstanding_fen=outstanding)
            return (lambda p: queue_cap(p, request.org_id, request.cap_fen, actor, now_ms)), response.SerializeToString()

        raw = await self._idempotent("SetVoucherCap", request, [org_key(request.org_id), CAPS_KEY, REMAINING_KEY], plan)
        return ledger_pb2.SetVoucherCapResponse.FromString(raw)

    @refusals
    async def ListVouchers(self, request: ledger_pb2.ListVouchersRequest, context) -> ledger_pb2.ListVouchersResponse:
        for value in request.states:
            if value not in ledger_pb2.VoucherState.values() or value == ledger_pb2.VOUCHER_STATE_UNSPECIFIED:
                raise invalid(f"states has {value}, unknown; expected some of {_STATE_NAMES}")
        now_ms = _now_ms()
        cap_fen = outstanding = 0
        if request.org_id:
            _org(request.org_id)
            async with self.redis.pipeline(transaction=True) as pipe:  # one snapshot: records, amounts, cap
                pipe.zrange(org_key(request.org_id), 0, -1)
                pipe.hget(CAPS_KEY, request.org_id)
                ids, cap = await pipe.execute()
            held = await _records(self.redis, ids)
            cap_fen, outstanding = int(cap or 0), outstanding_fen(held, now_ms)
        else:
            held = await _records(self.redis, sorted(await self.redis.hkeys(RECORDS_KEY)))
            held.sort(key=lambda pair: (pair[0].spec.valid_until_unix_ms, pair[0].voucher_id))
        vouchers = [shown(v, left, now_ms) for v, left in held]
        if request.states:
            vouchers = [v for v in vouchers if v.state in request.states]
        page, token = offset_page(vouchers, request.page_size, request.page_token)
        return ledger_pb2.ListVouchersResponse(vouchers=page, next_page_token=token, total=len(vouchers),
                                               cap_fen=cap_fen, outstanding_fen=outstanding)
