"""`shuniu up` keeps itself up: a killed biller comes back and bills again, the rest keeps running, Ctrl-C stops all.

One real local stack (Redis, Ray, control plane, biller, two simulated nodes) in a state directory of
its own; its processes are found by that directory in their environment, as every one inherits it.
"""

from __future__ import annotations

import os
import pathlib
import signal

import pytest
import redis
from local_stack import local_stack

from shuniu.bench.billing import seed_market, signed_sender, synthetic_usage
from shuniu.market.ledger import LedgerStore
from shuniu.nodes.usage import UsageSpool

COMPONENTS = ("biller", "control-plane", "node")  # `shuniu <command>` of the biller, the plane, the fleet


def _stack_pids(state: pathlib.Path) -> dict[int, list[str]]:
    """pid -> argv of every live process carrying this stack's state directory in its environment."""
    marker = f"SHUNIU_STATE_DIR={state}\0".encode()
    found = {}
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes() and (entry / "stat").read_text().split()[2] != "Z":
                found[int(entry.name)] = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
    return found


def _component(state: pathlib.Path, command: str) -> int | None:
    """The pid of `python -m shuniu.cli <command>` of this stack (None when it is not running)."""
    for pid, argv in _stack_pids(state).items():
        if "shuniu.cli" in argv and argv[argv.index("shuniu.cli") + 1:argv.index("shuniu.cli") + 2] == [command]:
            return pid
    return None


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    state = tmp_path_factory.mktemp("stack")
    with local_stack(state, nodes=2, duration_s=600, up_within_s=180,
                     ready=lambda: all(_component(state, c) for c in COMPONENTS)) as (info, proc):
        yield state, info, proc


def _up_log(state: pathlib.Path) -> str:
    return (state / "up.log").read_text(errors="replace")


def test_a_killed_biller_is_restarted_bills_again_and_the_rest_keeps_running(stack, tmp_path, eventually):
    state, info, up = stack
    before = {c: _component(state, c) for c in COMPONENTS}
    os.kill(before["biller"], signal.SIGKILL)
    restarted = eventually(lambda: (pid := _component(state, "biller")) not in (None, before["biller"]) and pid,
                           timeout_s=120, interval_s=0.2, what="a new biller")
    assert restarted != before["biller"]
    assert up.poll() is None, _up_log(state)[-3000:]
    assert {c: _component(state, c) for c in ("control-plane", "node")} == {
        c: before[c] for c in ("control-plane", "node")}
    log = _up_log(state)
    assert "biller exited with signal 9" in log and "restarting in" in log and "biller restarted (pid" in log, log[-3000:]
    # Usage sent after the restart is billed by the new biller.
    client = redis.Redis.from_url(info["redis_url"])
    try:
        assert client.ping()
        market = seed_market(client, nodes=1, products=2, buyers=2)
        node = market.nodes[0]
        spool = UsageSpool(tmp_path / "spool", node)
        batch_id = spool.append(synthetic_usage(market, node, 50, seed=3))
        assert signed_sender(market, spool, client).send_pending() == 1
        ledger = LedgerStore(client)
        summary = eventually(lambda: ledger.batch_summary(batch_id), timeout_s=60, interval_s=0.2,
                             what="the batch billed by the restarted biller")
        assert summary["records"] == 50 and summary["charged_fen"] > 0
        assert ledger.check().ok
    finally:
        client.close()


def test_sigterm_stops_the_whole_stack_and_leaves_no_process_behind(stack, eventually):
    state, _, up = stack
    assert up.poll() is None, _up_log(state)[-3000:]
    os.kill(up.pid, signal.SIGTERM)  # what Ctrl-C does: the components run in sessions of their own
    assert up.wait(120) == 0, _up_log(state)[-3000:]
    assert "stack stopped" in _up_log(state)
    eventually(lambda: not _stack_pids(state), timeout_s=60, interval_s=0.5, what="every process of the stack gone")
    assert not (state / "stack.json").exists()
