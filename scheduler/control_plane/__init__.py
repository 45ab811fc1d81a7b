"""The control plane: NodeService over gRPC, the fleet's liveness, pools."""

from shuniu.scheduler.control_plane.config import ControlPlaneConfig, LivenessConfig
from shuniu.scheduler.control_plane.server import ControlPlane, serve

__all__ = ["ControlPlane", "ControlPlaneConfig", "LivenessConfig", "serve"]
