"""Settings of the control plane, with the bounds each one must respect."""

from __future__ import annotations

from dataclasses import dataclass

from shuniu.nodes.topology import TierBounds


@dataclass(frozen=True)
class LivenessConfig:
    """When a silent node turns SUSPECT, then DOWN, and how long a restart waits for reconnects."""

    heartbeat_interval_s: float = 5.0
    suspect_after_s: float = 15.0
    down_after_s: float = 30.0
    # After a control-plane restart every known node gets this long to reconnect before it can be
    # marked SUSPECT, so a restart never marks the fleet down.
    restart_grace_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.heartbeat_interval_s <= 3600:
            raise ValueError(f"heartbeat_interval_s {self.heartbeat_interval_s} out of range; expected (0, 3600]")
        if not self.heartbeat_interval_s < self.suspect_after_s < self.down_after_s:
            raise ValueError(
                "expected heartbeat_interval_s < suspect_after_s < down_after_s; got "
                f"{self.heartbeat_interval_s} / {self.suspect_after_s} / {self.down_after_s}"
            )
        if self.restart_grace_s < 0:
            raise ValueError(f"restart_grace_s {self.restart_grace_s} is negative; expected ≥ 0")


@dataclass(frozen=True)
class ControlPlaneConfig:
    listen: str = "127.0.0.1:7070"
    redis_url: str = "redis://127.0.0.1:6379/0"
    liveness: LivenessConfig = LivenessConfig()
    tiers: TierBounds = TierBounds()
    # Live heartbeat data (free capacity, load) is written to Redis in batches this often;
    # registrations and state changes are written before they are acknowledged.
    flush_interval_s: float = 0.5
    # Bound on idempotency records: a request id is remembered this long.
    request_id_ttl_s: int = 24 * 3600
    max_nodes: int = 200_000
    # Ray cluster jobs are dispatched to; empty means jobs are admitted and queued but not run.
    ray_address: str = ""
    # Prometheus /metrics on 127.0.0.1:metrics_port; 0 serves none.
    metrics_port: int = 0
    # CA directory (security/tls.py) holding server.pem/server.key and ca.pem: when set, the server
    # requires client certificates of that CA and enforces roles (auth_interceptor.py); empty serves plaintext.
    tls_dir: str = ""
    # Hot/cold retention (scheduler/retention): a finished job, a checkpointed audit prefix and a ledger
    # batch's rated lines older than this leave Redis for the cold store in the state directory; 0 keeps
    # everything in Redis.
    retention_s: float = 600.0

    def __post_init__(self) -> None:
        if self.retention_s < 0:
            raise ValueError(f"retention {self.retention_s} s is negative; expected ≥ 0 (0 keeps everything in Redis)")
