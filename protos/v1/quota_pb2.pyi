from shuniu.protos.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Quota(_message.Message):
    __slots__ = ("buyer_id", "max_pending_jobs", "max_running_jobs", "max_resources", "fair_share_weight")
    BUYER_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_PENDING_JOBS_FIELD_NUMBER: _ClassVar[int]
    MAX_RUNNING_JOBS_FIELD_NUMBER: _ClassVar[int]
    MAX_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    FAIR_SHARE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    buyer_id: str
    max_pending_jobs: int
    max_running_jobs: int
    max_resources: _common_pb2.Capacity
    fair_share_weight: int
    def __init__(self, buyer_id: _Optional[str] = ..., max_pending_jobs: _Optional[int] = ..., max_running_jobs: _Optional[int] = ..., max_resources: _Optional[_Union[_common_pb2.Capacity, _Mapping]] = ..., fair_share_weight: _Optional[int] = ...) -> None: ...

class QuotaUsage(_message.Message):
    __slots__ = ("pending_jobs", "running_jobs", "resources", "decayed_usage")
    PENDING_JOBS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_JOBS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    DECAYED_USAGE_FIELD_NUMBER: _ClassVar[int]
    pending_jobs: int
    running_jobs: int
    resources: _common_pb2.Capacity
    decayed_usage: int
    def __init__(self, pending_jobs: _Optional[int] = ..., running_jobs: _Optional[int] = ..., resources: _Optional[_Union[_common_pb2.Capacity, _Mapping]] = ..., decayed_usage: _Optional[int] = ...) -> None: ...

class SetQuotaRequest(_message.Message):
    __slots__ = ("request_id", "quota")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    quota: Quota
    def __init__(self, request_id: _Optional[str] = ..., quota: _Optional[_Union[Quota, _Mapping]] = ...) -> None: ...

class SetQuotaResponse(_message.Message):
    __slots__ = ("quota",)
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    quota: Quota
    def __init__(self, quota: _Optional[_Union[Quota, _Mapping]] = ...) -> None: ...

class GetQuotaRequest(_message.Message):
    __slots__ = ("buyer_id",)
    BUYER_ID_FIELD_NUMBER: _ClassVar[int]
    buyer_id: str
    def __init__(self, buyer_id: _Optional[str] = ...) -> None: ...

class GetQuotaResponse(_message.Message):
    __slots__ = ("quota", "usage")
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    quota: Quota
    usage: QuotaUsage
    def __init__(self, quota: _Optional[_Union[Quota, _Mapping]] = ..., usage: _Optional[_Union[QuotaUsage, _Mapping]] = ...) -> None: ...

class ListQuotasRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListQuotasResponse(_message.Message):
    __slots__ = ("quotas", "next_page_token", "total")
    QUOTAS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    quotas: _containers.RepeatedCompositeFieldContainer[Quota]
    next_page_token: str
    total: int
    def __init__(self, quotas: _Optional[_Iterable[_Union[Quota, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...
