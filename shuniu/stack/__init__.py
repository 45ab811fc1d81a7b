"""Processes of the local stack: a Redis server, the control plane, simulated node agents."""

from shuniu.stack.redis_server import LocalRedis, bulk_client, free_port
from shuniu.stack.processes import ManagedProcess

__all__ = ["LocalRedis", "ManagedProcess", "bulk_client", "free_port"]
