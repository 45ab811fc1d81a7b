"""Dispatch of placed jobs to the node chosen, through Ray."""

from shuniu.scheduler.dispatch.ray_dispatcher import DispatchFailure, RayDispatcher

__all__ = ["DispatchFailure", "RayDispatcher"]
