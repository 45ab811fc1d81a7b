from shuniu.protos.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UsageRecord(_message.Message):
    __slots__ = ("record_id", "job_id", "grant_id", "buyer_id", "node_id", "compute_center", "product_id", "site", "tier", "start_unix_ms", "end_unix_ms", "cpu_ms", "memory_mb_s", "gpu_ms", "rows", "bytes", "calls", "kind", "purpose", "price_version", "purpose_category", "compute_class", "attempt", "peak_memory_mb", "output_bytes", "queries")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_CENTER_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    START_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    END_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CPU_MS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_S_FIELD_NUMBER: _ClassVar[int]
    GPU_MS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    PRICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_CLASS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    PEAK_MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    job_id: str
    grant_id: str
    buyer_id: str
    node_id: str
    compute_center: str
    product_id: str
    site: str
    tier: _common_pb2.Tier
    start_unix_ms: int
    end_unix_ms: int
    cpu_ms: int
    memory_mb_s: int
    gpu_ms: int
    rows: int
    bytes: int
    calls: int
    kind: _common_pb2.JobKind
    purpose: str
    price_version: int
    purpose_category: _common_pb2.PurposeCategory
    compute_class: _common_pb2.ComputeClass
    attempt: int
    peak_memory_mb: int
    output_bytes: int
    queries: int
    def __init__(self, record_id: _Optional[str] = ..., job_id: _Optional[str] = ..., grant_id: _Optional[str] = ..., buyer_id: _Optional[str] = ..., node_id: _Optional[str] = ..., compute_center: _Optional[str] = ..., product_id: _Optional[str] = ..., site: _Optional[str] = ..., tier: _Optional[_Union[_common_pb2.Tier, str]] = ..., start_unix_ms: _Optional[int] = ..., end_unix_ms: _Optional[int] = ..., cpu_ms: _Optional[int] = ..., memory_mb_s: _Optional[int] = ..., gpu_ms: _Optional[int] = ..., rows: _Optional[int] = ..., bytes: _Optional[int] = ..., calls: _Optional[int] = ..., kind: _Optional[_Union[_common_pb2.JobKind, str]] = ..., purpose: _Optional[str] = ..., price_version: _Optional[int] = ..., purpose_category: _Optional[_Union[_common_pb2.PurposeCategory, str]] = ..., compute_class: _Optional[_Union[_common_pb2.ComputeClass, str]] = ..., attempt: _Optional[int] = ..., peak_memory_mb: _Optional[int] = ..., output_bytes: _Optional[int] = ..., queries: _Optional[int] = ...) -> None: ...

class UsageBatch(_message.Message):
    __slots__ = ("batch_id", "node_id", "arrow_ipc", "record_count", "signature", "signing_key_id", "created_unix_ms")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ARROW_IPC_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    node_id: str
    arrow_ipc: bytes
    record_count: int
    signature: bytes
    signing_key_id: str
    created_unix_ms: int
    def __init__(self, batch_id: _Optional[str] = ..., node_id: _Optional[str] = ..., arrow_ipc: _Optional[bytes] = ..., record_count: _Optional[int] = ..., signature: _Optional[bytes] = ..., signing_key_id: _Optional[str] = ..., created_unix_ms: _Optional[int] = ...) -> None: ...

class ReportUsageRequest(_message.Message):
    __slots__ = ("request_id", "batch")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    batch: UsageBatch
    def __init__(self, request_id: _Optional[str] = ..., batch: _Optional[_Union[UsageBatch, _Mapping]] = ...) -> None: ...

class RejectedBatch(_message.Message):
    __slots__ = ("batch_id", "reason")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    reason: str
    def __init__(self, batch_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReportUsageResponse(_message.Message):
    __slots__ = ("accepted_batch_ids", "duplicate_batch_ids", "rejected")
    ACCEPTED_BATCH_IDS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_BATCH_IDS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    accepted_batch_ids: _containers.RepeatedScalarFieldContainer[str]
    duplicate_batch_ids: _containers.RepeatedScalarFieldContainer[str]
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedBatch]
    def __init__(self, accepted_batch_ids: _Optional[_Iterable[str]] = ..., duplicate_batch_ids: _Optional[_Iterable[str]] = ..., rejected: _Optional[_Iterable[_Union[RejectedBatch, _Mapping]]] = ...) -> None: ...

class ListHolderUsageRequest(_message.Message):
    __slots__ = ("holder_id", "product_id", "from_unix_ms", "to_unix_ms", "page_size", "page_token")
    HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    TO_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    holder_id: str
    product_id: str
    from_unix_ms: int
    to_unix_ms: int
    page_size: int
    page_token: str
    def __init__(self, holder_id: _Optional[str] = ..., product_id: _Optional[str] = ..., from_unix_ms: _Optional[int] = ..., to_unix_ms: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class HolderUsageRow(_message.Message):
    __slots__ = ("product_id", "buyer_id", "grant_id", "purpose", "purpose_category", "jobs", "rows", "calls", "revenue_due_fen", "last_used_unix_ms")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_ID_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_DUE_FEN_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    buyer_id: str
    grant_id: str
    purpose: str
    purpose_category: _common_pb2.PurposeCategory
    jobs: int
    rows: int
    calls: int
    revenue_due_fen: int
    last_used_unix_ms: int
    def __init__(self, product_id: _Optional[str] = ..., buyer_id: _Optional[str] = ..., grant_id: _Optional[str] = ..., purpose: _Optional[str] = ..., purpose_category: _Optional[_Union[_common_pb2.PurposeCategory, str]] = ..., jobs: _Optional[int] = ..., rows: _Optional[int] = ..., calls: _Optional[int] = ..., revenue_due_fen: _Optional[int] = ..., last_used_unix_ms: _Optional[int] = ...) -> None: ...

class ListHolderUsageResponse(_message.Message):
    __slots__ = ("rows", "next_page_token", "total", "revenue_due_total_fen")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    REVENUE_DUE_TOTAL_FEN_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[HolderUsageRow]
    next_page_token: str
    total: int
    revenue_due_total_fen: int
    def __init__(self, rows: _Optional[_Iterable[_Union[HolderUsageRow, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ..., revenue_due_total_fen: _Optional[int] = ...) -> None: ...
