"""The control plane: NodeService over gRPC, the fleet's liveness, pools.

Names load on first use: importing one servicer's module, or the CLI, must not start-up the whole
server with everything it serves.
"""

from shuniu.market._lazy import lazy_exports

_HOMES = {"ControlPlaneConfig": "config", "LivenessConfig": "config", "ControlPlane": "server", "serve": "server"}
__all__ = sorted(_HOMES)
__getattr__ = lazy_exports(__name__, _HOMES)
