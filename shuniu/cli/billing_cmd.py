"""`shuniu biller` (the long-running biller) and `shuniu usage send` (a node's spool to the usage stream)."""

from __future__ import annotations

import logging
import signal
import threading

import redis
import typer

from shuniu.cli._app import app, err_console, fail, state_dir
from shuniu.stack.redis_server import bulk_client

usage_app = typer.Typer(help="Usage records on a node: spool and send.", no_args_is_help=True)
app.add_typer(usage_app, name="usage")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _redis(redis_url: str | None) -> redis.Redis:
    if not redis_url:
        fail("no Redis given; pass --redis-url or set REDIS_URL")
    client = bulk_client(redis_url, socket_timeout=30)  # the biller posts, and `usage send` sends, megabytes a batch
    try:
        client.ping()
    except redis.ConnectionError as err:
        fail(f"Redis at {redis_url} unreachable: {err}")
    return client


def _tier_factors(text: str) -> tuple[int, int, int, int]:
    try:
        pairs = dict(item.split("=") for item in text.split(","))
        return tuple(int(pairs[f"T{t}"]) for t in (1, 2, 3, 4))
    except (KeyError, ValueError):
        fail(f"tier factors {text!r} malformed; expected T1=10000,T2=10500,T3=11000,T4=12000 (basis points)")


def _serve_metrics(client: redis.Redis, config, port: int) -> None:
    """The biller's metrics, with billing lag, ledger balance, the exchange's events and the audit log's lag read
    from Redis on each scrape (any process with Redis could serve the last two; the biller does, so they are
    exported once)."""
    from shuniu.market.ledger import ledger_key  # noqa: PLC0415
    from shuniu.monitoring import collectors, exporter, metrics  # noqa: PLC0415
    from shuniu.scheduler.control_plane.audit_chainer import SOURCES  # noqa: PLC0415
    from shuniu.scheduler.control_plane.audit_store import HEAD_KEY  # noqa: PLC0415
    from shuniu.security.audit_chain import AUDIT_CURSORS_KEY  # noqa: PLC0415

    metrics.BILLER.register(collectors.BillingCollector(client, config.stream, config.group,
                                                        ledger_key("debits"), ledger_key("credits")))
    streams = {s.name: s.key for s in SOURCES if s.mapper is not None}  # the ledger's order is a list, not a stream
    metrics.BILLER.register(collectors.AuditCollector(client, streams, AUDIT_CURSORS_KEY, HEAD_KEY))
    _, bound = exporter.serve_metrics(metrics.BILLER, port)
    print(f"biller metrics on 127.0.0.1:{bound}/metrics", flush=True)


@app.command("biller")
def biller(
    redis_url: str = typer.Option(None, envvar="REDIS_URL", help="Redis holding the usage stream and the ledger."),
    group: str = typer.Option("billers", help="Consumer group on the usage stream."),
    consumer: str = typer.Option("", help="Consumer name (default: host-pid)."),
    claim_idle: float = typer.Option(30.0, help="Claim entries pending this long from a dead consumer, s."),
    data_fee_bp: int = typer.Option(300, min=0, max=10_000, help="Exchange fee on data revenue, bp."),
    compute_fee_bp: int = typer.Option(200, min=0, max=10_000, help="Exchange fee on compute revenue, bp."),
    tier_factors: str = typer.Option("T1=10000,T2=10500,T3=11000,T4=12000", help="Compute price factor per latency tier, bp."),
    metrics_port: int = typer.Option(0, help="Serve Prometheus metrics on 127.0.0.1:PORT (0: off)."),
    archive_dir: str = typer.Option("", help="Archive billed entries here and trim them from the stream "
                                             "(default: usage-archive in the state directory)."),
    keep_stream: bool = typer.Option(False, help="Neither archive nor trim: billed entries stay on the stream."),
) -> None:
    """Bills the usage stream (rate, split, post) until SIGTERM or Ctrl-C; a batch in flight finishes first."""
    client = _redis(redis_url)
    # Imported here: the biller loads Numba, which would slow every other command's start.
    from shuniu.market.billing import Biller, BillerConfig, BillingPolicy  # noqa: PLC0415

    policy = BillingPolicy(data_fee_bp=data_fee_bp, compute_fee_bp=compute_fee_bp, tier_factor_bp=_tier_factors(tier_factors))
    config = BillerConfig(group=group, claim_idle_ms=int(claim_idle * 1000), policy=policy,
                          **({"consumer": consumer} if consumer else {}))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # One kernel thread: a batch of tens of thousands of records rates in well under a
    # millisecond on one core, and a parallel launch measured several times slower than that
    # here, with the sender and Redis busy on the other core.
    import numba

    numba.set_num_threads(1)
    if metrics_port:
        _serve_metrics(client, config, metrics_port)
    stop = _stop_on_signals()
    from shuniu.market.billing.archive import UsageArchive  # noqa: PLC0415

    archive = None if keep_stream else UsageArchive(archive_dir or state_dir() / "usage-archive")
    worker = Biller(client, config, archive)
    print(f"biller {config.consumer} reading {config.stream} as group {group}", flush=True)
    worker.run(stop)
    err_console.print(f"biller stopped: {worker.outcomes}")


@usage_app.command("send")
def send(
    spool: str = typer.Option(..., help="Spool directory of the node."),
    node_id: str = typer.Option(..., help="Node whose batches these are."),
    redis_url: str = typer.Option(None, envvar="REDIS_URL", help="Redis holding the usage stream."),
    follow: bool = typer.Option(False, help="Keep sending new batches until SIGTERM (default: send what is there, exit)."),
    key: str = typer.Option("", help="The node's usage-signing key (default: keys/node-ID.ed25519 in the state directory)."),
) -> None:
    """Sends spooled usage batches, one signed stream entry each; a batch is deleted only once appended."""
    from shuniu.nodes.usage import UsageSender, UsageSpool  # noqa: PLC0415
    from shuniu.security import signing  # noqa: PLC0415

    try:
        signer = signing.load_or_create(key or signing.node_key_path(state_dir(), node_id))
    except (ValueError, OSError) as err:
        fail(f"cannot load the usage-signing key: {err}")
    sender = UsageSender(UsageSpool(spool, node_id), _redis(redis_url), key=signer)
    if follow:
        sender.run(_stop_on_signals())
    else:
        sender.send_pending()
    err_console.print(f"sent {sender.sent_batches} batches, {sender.sent_records:,} records")
