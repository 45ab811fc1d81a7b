"""The control plane: NodeService over gRPC, the fleet's liveness, pools.

Names load on first use: importing one servicer's module, or the CLI, must not load the whole
server with everything it serves.
"""

from shuniu.market._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {"config": ("ControlPlaneConfig", "LivenessConfig"),
                                               "server": ("ControlPlane", "serve")})
