"""The local stack's CA: made once under its state directory, so that `shuniu up` runs with mTLS by default."""

from __future__ import annotations

import pathlib

from shuniu.security import pki

OPERATOR = "operator"


def fleet_identity(prefix: str) -> pki.Identity:
    """The one certificate the simulated fleet presents: every node id the simulator makes starts with `prefix-`."""
    return pki.node_identity(f"{prefix}-*")


def ensure_stack_ca(directory: pathlib.Path, fleet_prefix: str = "sim") -> pathlib.Path:
    """Makes what is missing of: the CA, the server certificate, the operator's and the fleet's certificates."""
    directory = pathlib.Path(directory)
    # A new CA invalidates every certificate left beside it by an earlier one.
    fresh = not (directory / pki.CA_CERT).exists()
    if fresh:
        pki.init_ca(directory, force=True)
    if fresh or not (directory / f"{pki.SERVER_STEM}.pem").exists():
        pki.issue_server(directory, force=True)
    for identity in (pki.user_identity(OPERATOR, "operator"), fleet_identity(fleet_prefix)):
        if fresh or not (directory / f"{identity.file_stem()}.pem").exists():
            pki.issue_identity(directory, identity, force=True)
    return directory
