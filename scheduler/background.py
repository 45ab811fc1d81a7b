"""Background loops (audit chainer, sweeps, the scheduler's tick) that stop when their task is cancelled."""

from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Raise CancelledError if this task was asked to stop.

    A loop calls this at the top of each round. An await deep in a client library can swallow the
    CancelledError a cancel() throws in (the task's cancel count stays raised, nothing is thrown
    again); without this check the loop would run on, and the shutdown awaiting it would hang.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
