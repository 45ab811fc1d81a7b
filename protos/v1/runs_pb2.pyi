from shuniu.protos.v1 import catalog_pb2 as _catalog_pb2
from shuniu.protos.v1 import common_pb2 as _common_pb2
from shuniu.protos.v1 import grants_pb2 as _grants_pb2
from shuniu.protos.v1 import jobs_pb2 as _jobs_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunInput(_message.Message):
    __slots__ = ("product_id", "paths", "columns", "sensitive_columns", "identifier_columns", "price_version", "bounds")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    SENSITIVE_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    PRICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    BOUNDS_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    paths: _containers.RepeatedScalarFieldContainer[str]
    columns: _containers.RepeatedScalarFieldContainer[str]
    sensitive_columns: _containers.RepeatedScalarFieldContainer[str]
    identifier_columns: _containers.RepeatedScalarFieldContainer[str]
    price_version: int
    bounds: _containers.RepeatedCompositeFieldContainer[_catalog_pb2.ColumnBounds]
    def __init__(self, product_id: _Optional[str] = ..., paths: _Optional[_Iterable[str]] = ..., columns: _Optional[_Iterable[str]] = ..., sensitive_columns: _Optional[_Iterable[str]] = ..., identifier_columns: _Optional[_Iterable[str]] = ..., price_version: _Optional[int] = ..., bounds: _Optional[_Iterable[_Union[_catalog_pb2.ColumnBounds, _Mapping]]] = ...) -> None: ...

class NodeRunRequest(_message.Message):
    __slots__ = ("job_id", "attempt", "node_id", "buyer_id", "spec", "inputs", "egress", "purpose", "purpose_category", "tier", "site", "compute_center", "compute_class", "dp_epsilon_milli")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    EGRESS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_CENTER_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_CLASS_FIELD_NUMBER: _ClassVar[int]
    DP_EPSILON_MILLI_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    attempt: int
    node_id: str
    buyer_id: str
    spec: _jobs_pb2.JobSpec
    inputs: _containers.RepeatedCompositeFieldContainer[RunInput]
    egress: _grants_pb2.EgressProfile
    purpose: str
    purpose_category: _common_pb2.PurposeCategory
    tier: _common_pb2.Tier
    site: str
    compute_center: str
    compute_class: _common_pb2.ComputeClass
    dp_epsilon_milli: int
    def __init__(self, job_id: _Optional[str] = ..., attempt: _Optional[int] = ..., node_id: _Optional[str] = ..., buyer_id: _Optional[str] = ..., spec: _Optional[_Union[_jobs_pb2.JobSpec, _Mapping]] = ..., inputs: _Optional[_Iterable[_Union[RunInput, _Mapping]]] = ..., egress: _Optional[_Union[_grants_pb2.EgressProfile, _Mapping]] = ..., purpose: _Optional[str] = ..., purpose_category: _Optional[_Union[_common_pb2.PurposeCategory, str]] = ..., tier: _Optional[_Union[_common_pb2.Tier, str]] = ..., site: _Optional[str] = ..., compute_center: _Optional[str] = ..., compute_class: _Optional[_Union[_common_pb2.ComputeClass, str]] = ..., dp_epsilon_milli: _Optional[int] = ...) -> None: ...

class RunMetrics(_message.Message):
    __slots__ = ("rows_in", "bytes_in", "rows_out", "bytes_out", "cpu_ms", "peak_memory_mb", "wall_ms", "startup_ms")
    ROWS_IN_FIELD_NUMBER: _ClassVar[int]
    BYTES_IN_FIELD_NUMBER: _ClassVar[int]
    ROWS_OUT_FIELD_NUMBER: _ClassVar[int]
    BYTES_OUT_FIELD_NUMBER: _ClassVar[int]
    CPU_MS_FIELD_NUMBER: _ClassVar[int]
    PEAK_MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    WALL_MS_FIELD_NUMBER: _ClassVar[int]
    STARTUP_MS_FIELD_NUMBER: _ClassVar[int]
    rows_in: int
    bytes_in: int
    rows_out: int
    bytes_out: int
    cpu_ms: int
    peak_memory_mb: int
    wall_ms: int
    startup_ms: int
    def __init__(self, rows_in: _Optional[int] = ..., bytes_in: _Optional[int] = ..., rows_out: _Optional[int] = ..., bytes_out: _Optional[int] = ..., cpu_ms: _Optional[int] = ..., peak_memory_mb: _Optional[int] = ..., wall_ms: _Optional[int] = ..., startup_ms: _Optional[int] = ...) -> None: ...

class NodeRunResult(_message.Message):
    __slots__ = ("job_id", "attempt", "state", "reason", "failure_category", "egress", "output_ipc", "metrics", "usage_batch_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FAILURE_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    EGRESS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_IPC_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    USAGE_BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    attempt: int
    state: _jobs_pb2.JobState
    reason: str
    failure_category: _jobs_pb2.FailureCategory
    egress: _jobs_pb2.EgressOutcome
    output_ipc: bytes
    metrics: RunMetrics
    usage_batch_id: str
    def __init__(self, job_id: _Optional[str] = ..., attempt: _Optional[int] = ..., state: _Optional[_Union[_jobs_pb2.JobState, str]] = ..., reason: _Optional[str] = ..., failure_category: _Optional[_Union[_jobs_pb2.FailureCategory, str]] = ..., egress: _Optional[_Union[_jobs_pb2.EgressOutcome, _Mapping]] = ..., output_ipc: _Optional[bytes] = ..., metrics: _Optional[_Union[RunMetrics, _Mapping]] = ..., usage_batch_id: _Optional[str] = ...) -> None: ...
