"""Every gRPC service the control plane serves besides NodeService, wired in one place."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shuniu.scheduler.control_plane.server import ControlPlane


@dataclasses.dataclass(frozen=True)
class Binding:
    """A servicer, the generated `add_…Servicer_to_server` function and the service's full name."""

    servicer: Any
    add: Callable[[Any, Any], None]
    full_name: str


def bindings(plane: ControlPlane) -> list[Binding]:
    """The services to register on `plane`'s server; each line adds one service."""
    found: list[Binding] = []
    return found
