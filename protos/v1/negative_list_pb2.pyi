from shuniu.protos.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NegativeListEntry(_message.Message):
    __slots__ = ("entry_id", "column_tag", "job_kind", "purpose", "purpose_category", "grade", "reason", "legal_basis", "added_by", "added_unix_ms")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    COLUMN_TAG_FIELD_NUMBER: _ClassVar[int]
    JOB_KIND_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    ADDED_BY_FIELD_NUMBER: _ClassVar[int]
    ADDED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    column_tag: str
    job_kind: _common_pb2.JobKind
    purpose: str
    purpose_category: _common_pb2.PurposeCategory
    grade: _common_pb2.ClassificationGrade
    reason: str
    legal_basis: str
    added_by: str
    added_unix_ms: int
    def __init__(self, entry_id: _Optional[str] = ..., column_tag: _Optional[str] = ..., job_kind: _Optional[_Union[_common_pb2.JobKind, str]] = ..., purpose: _Optional[str] = ..., purpose_category: _Optional[_Union[_common_pb2.PurposeCategory, str]] = ..., grade: _Optional[_Union[_common_pb2.ClassificationGrade, str]] = ..., reason: _Optional[str] = ..., legal_basis: _Optional[str] = ..., added_by: _Optional[str] = ..., added_unix_ms: _Optional[int] = ...) -> None: ...

class NegativeListServiceAddEntryRequest(_message.Message):
    __slots__ = ("request_id", "entry")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    entry: NegativeListEntry
    def __init__(self, request_id: _Optional[str] = ..., entry: _Optional[_Union[NegativeListEntry, _Mapping]] = ...) -> None: ...

class NegativeListServiceAddEntryResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: NegativeListEntry
    def __init__(self, entry: _Optional[_Union[NegativeListEntry, _Mapping]] = ...) -> None: ...

class NegativeListServiceRemoveEntryRequest(_message.Message):
    __slots__ = ("request_id", "entry_id", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    entry_id: str
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., entry_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class NegativeListServiceRemoveEntryResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: NegativeListEntry
    def __init__(self, entry: _Optional[_Union[NegativeListEntry, _Mapping]] = ...) -> None: ...

class NegativeListServiceListEntriesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class NegativeListServiceListEntriesResponse(_message.Message):
    __slots__ = ("entries", "next_page_token", "total")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[NegativeListEntry]
    next_page_token: str
    total: int
    def __init__(self, entries: _Optional[_Iterable[_Union[NegativeListEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...
