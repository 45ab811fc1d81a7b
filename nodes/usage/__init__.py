"""Usage emission on the node: records spooled as Arrow IPC batches, sent to the usage stream."""

from shuniu.nodes.usage.sender import USAGE_STREAM, UsageSender, stream_fields
from shuniu.nodes.usage.spool import BatchTooLargeError, SpoolFullError, SpooledBatch, UsageSpool, new_batch_id

__all__ = ["USAGE_STREAM", "BatchTooLargeError", "SpoolFullError", "SpooledBatch", "UsageSender", "UsageSpool", "new_batch_id", "stream_fields"]
