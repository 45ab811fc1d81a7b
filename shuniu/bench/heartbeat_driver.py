"""The load side of `shuniu bench heartbeats`: runs in driver processes, one slice of the fleet each.

Every phase starts at a wall-clock instant shared by all drivers, warms up, then counts
only heartbeats sent inside the measured window.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import random
import time
from dataclasses import dataclass

import grpc
import numpy as np

from shuniu.protos.v1 import common_pb2, nodes_pb2, nodes_pb2_grpc
from shuniu.security.tls import ClientTls, aio_channel

# As the node agent does: every sixth heartbeat of a stream asks for an acknowledgement.
ACK_EVERY = 6
_NODES_PER_CHANNEL = 1000
# Acknowledged groups a saturating stream may have in flight.
_WINDOW = 8
# Each channel gets its own connection; otherwise gRPC shares one between identical channels.
CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1)]


@dataclass(frozen=True)
class Phase:
    address: str
    nodes: list[tuple[str, int]]  # (node id, epoch)
    streaming: bool
    saturated: bool
    interval_s: float
    start_unix_s: float
    warmup_s: float
    duration_s: float
    open_spread_s: float
    # The fleet's client certificate under mTLS; None drives plaintext.
    tls: ClientTls | None = None


@dataclass
class Tally:
    """Heartbeats known processed (acknowledged, directly or by a later ack on the same stream)."""

    sent: int = 0
    confirmed: int = 0
    errors: int = 0
    latencies_ms: np.ndarray | None = None
    error_codes: dict[str, int] = dataclasses.field(default_factory=dict)

    def error(self, code: str, in_window: bool = True) -> None:
        """Counts a failure; `errors` holds only those inside the measured window, the codes all."""
        self.errors += in_window
        self.error_codes[code] = self.error_codes.get(code, 0) + 1


def _heartbeat(node_id: str, epoch: int, seq: int, ack: bool) -> nodes_pb2.HeartbeatRequest:
    return nodes_pb2.HeartbeatRequest(node_id=node_id, epoch=epoch, seq=seq, load=0.3, ack_requested=ack,
                                      free=common_pb2.Capacity(cpu_milli=16000, memory_mb=65536))


class _Window:
    def __init__(self, phase: Phase) -> None:
        self.start = time.perf_counter() + (phase.start_unix_s - time.time())
        self.measure_from = self.start + phase.warmup_s
        self.end = self.measure_from + phase.duration_s
        self.tally = Tally()
        self.latencies: list[float] = []

    def inside(self, t: float) -> bool:
        return self.measure_from <= t < self.end

    def confirm(self, sent_at: float, count: int, ok: bool) -> None:
        self.tally.sent += count
        if ok:
            self.tally.confirmed += count
            self.latencies.append((time.perf_counter() - sent_at) * 1000.0)
        else:
            self.tally.error("no answer")


def _first_due(w: _Window, phase: Phase, i: int) -> float:
    """Nodes join spread over `open_spread_s`, as a fleet connects, then keep their own cadence."""
    return w.start + phase.open_spread_s * i / len(phase.nodes)


async def _stream_paced(w: _Window, phase: Phase, stub, i: int, node_id: str, epoch: int) -> None:
    due = _first_due(w, phase, i)
    seq = 0
    rng = random.Random(i)
    while due < w.end:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        call = stub.Heartbeat()  # opened right before its first message, as an agent does
        pending, fresh = 0, True
        try:
            while due < w.end:
                sent_at = time.perf_counter()
                ask = fresh or seq % ACK_EVERY == 0 or due + phase.interval_s >= w.end
                fresh = False
                await call.write(_heartbeat(node_id, epoch, seq, ask))
                pending += w.inside(sent_at)
                if ask:
                    ack = await call.read()
                    if pending:
                        # In-order delivery: this answer confirms every earlier heartbeat of the stream.
                        w.confirm(sent_at, pending, ack is not grpc.aio.EOF and ack.seq == seq)
                    pending = 0
                seq += 1
                due += phase.interval_s
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            await call.done_writing()
        except grpc.aio.AioRpcError as err:
            w.tally.error(err.code().name, w.inside(time.perf_counter()))
        except asyncio.InvalidStateError:
            w.tally.error("stream ended", w.inside(time.perf_counter()))
        finally:
            call.cancel()
        # Unconfirmed heartbeats of a broken stream count as lost; the agent reopens after a backoff.
        w.tally.sent += pending
        due = max(due, time.perf_counter() + rng.uniform(0.1, 1.0))


async def _unary_paced(w: _Window, phase: Phase, stub, i: int, node_id: str, epoch: int) -> None:
    due = _first_due(w, phase, i)
    seq = 0
    while due < w.end:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        sent_at = time.perf_counter()
        try:
            await stub.HeartbeatOnce(nodes_pb2.HeartbeatOnceRequest(heartbeat=_heartbeat(node_id, epoch, seq, True)),
                                     timeout=30)
            ok = True
        except grpc.aio.AioRpcError as err:
            ok = False
            w.tally.error_codes[err.code().name] = w.tally.error_codes.get(err.code().name, 0) + 1
        if w.inside(sent_at):
            w.confirm(sent_at, 1, ok)
        seq += 1
        due += phase.interval_s


async def _stream_saturated(w: _Window, phase: Phase, stub, i: int, node_id: str, epoch: int) -> None:
    """Writes as fast as flow control allows, with up to `_WINDOW` acknowledgements outstanding."""
    await asyncio.sleep(max(0.0, w.start - time.perf_counter()))
    call = stub.Heartbeat()
    outstanding: dict[int, float] = {}  # seq of an acknowledged heartbeat -> when it was sent
    window = asyncio.Semaphore(_WINDOW)

    async def read_acks() -> None:
        while True:
            ack = await call.read()
            if ack is grpc.aio.EOF:
                return
            sent_at = outstanding.pop(ack.seq, None)
            if sent_at is None:
                continue  # the control plane telling the node its state, not an acknowledgement
            if w.inside(sent_at):
                w.confirm(sent_at, ACK_EVERY, True)
            window.release()

    reader = asyncio.create_task(read_acks())
    seq = 0
    while time.perf_counter() < w.end:
        await window.acquire()
        for k in range(ACK_EVERY):
            if k == ACK_EVERY - 1:
                outstanding[seq] = time.perf_counter()
            await call.write(_heartbeat(node_id, epoch, seq, k == ACK_EVERY - 1))
            seq += 1
    await call.done_writing()
    await reader
    call.cancel()


async def _unary_saturated(w: _Window, phase: Phase, stub, i: int, node_id: str, epoch: int) -> None:
    await asyncio.sleep(max(0.0, w.start - time.perf_counter()))
    seq = 0
    while time.perf_counter() < w.end:
        sent_at = time.perf_counter()
        await stub.HeartbeatOnce(nodes_pb2.HeartbeatOnceRequest(heartbeat=_heartbeat(node_id, epoch, seq, True)),
                                 timeout=30)
        if w.inside(sent_at):
            w.confirm(sent_at, 1, True)
        seq += 1


async def _run(phase: Phase) -> Tally:
    w = _Window(phase)
    channels = [aio_channel(phase.address, phase.tls, CHANNEL_OPTIONS)
                for _ in range(max(1, -(-len(phase.nodes) // _NODES_PER_CHANNEL)))]
    runner = {(True, False): _stream_paced, (False, False): _unary_paced,
              (True, True): _stream_saturated, (False, True): _unary_saturated}[(phase.streaming, phase.saturated)]
    try:
        await asyncio.gather(*(
            runner(w, phase, nodes_pb2_grpc.NodeServiceStub(channels[i % len(channels)]), i, node_id, epoch)
            for i, (node_id, epoch) in enumerate(phase.nodes)
        ))
    finally:
        for channel in channels:
            await channel.close()
    w.tally.latencies_ms = np.array(w.latencies)
    return w.tally


def run_phase(phase: Phase) -> Tally:
    """Entry point of a driver process."""
    # As in the control plane: full collections over thousands of streams would stall the
    # simulated agents and show up as latency that is not the control plane's.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    return asyncio.run(_run(phase))
