"""Who is calling: the identity the control plane's interceptor read from the client certificate.

Set once per RPC by the interceptor; read by whatever records who did something (the audit log,
ownership checks). Code running outside an RPC (the scheduler's loop, the biller) acts as "system".
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

SYSTEM = "system"


@dataclass(frozen=True)
class Caller:
    """An authenticated party: `name` is the node id or user name its certificate binds."""

    name: str
    role: str


_CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("shuniu_caller", default=None)


def set_caller(caller: Caller | None) -> contextvars.Token:
    return _CALLER.set(caller)


def reset_caller(token: contextvars.Token) -> None:
    _CALLER.reset(token)


def current_caller() -> Caller | None:
    return _CALLER.get()


def current_actor() -> str:
    """The caller's name for records of who did what; "system" outside an authenticated call."""
    caller = _CALLER.get()
    return caller.name if caller else SYSTEM
