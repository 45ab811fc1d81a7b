from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreditEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDIT_EVENT_KIND_UNSPECIFIED: _ClassVar[CreditEventKind]
    CREDIT_EVENT_KIND_GRANT_VIOLATION: _ClassVar[CreditEventKind]
    CREDIT_EVENT_KIND_EGRESS_DENIAL: _ClassVar[CreditEventKind]
    CREDIT_EVENT_KIND_UNPAID_BALANCE: _ClassVar[CreditEventKind]
    CREDIT_EVENT_KIND_GRANT_REVOKED: _ClassVar[CreditEventKind]
    CREDIT_EVENT_KIND_ADJUSTMENT: _ClassVar[CreditEventKind]
CREDIT_EVENT_KIND_UNSPECIFIED: CreditEventKind
CREDIT_EVENT_KIND_GRANT_VIOLATION: CreditEventKind
CREDIT_EVENT_KIND_EGRESS_DENIAL: CreditEventKind
CREDIT_EVENT_KIND_UNPAID_BALANCE: CreditEventKind
CREDIT_EVENT_KIND_GRANT_REVOKED: CreditEventKind
CREDIT_EVENT_KIND_ADJUSTMENT: CreditEventKind

class CreditEvent(_message.Message):
    __slots__ = ("event_id", "org_id", "kind", "points", "subject_id", "note", "recorded_by", "recorded_unix_ms")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    RECORDED_BY_FIELD_NUMBER: _ClassVar[int]
    RECORDED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    org_id: str
    kind: CreditEventKind
    points: int
    subject_id: str
    note: str
    recorded_by: str
    recorded_unix_ms: int
    def __init__(self, event_id: _Optional[str] = ..., org_id: _Optional[str] = ..., kind: _Optional[_Union[CreditEventKind, str]] = ..., points: _Optional[int] = ..., subject_id: _Optional[str] = ..., note: _Optional[str] = ..., recorded_by: _Optional[str] = ..., recorded_unix_ms: _Optional[int] = ...) -> None: ...

class CreditRecord(_message.Message):
    __slots__ = ("org_id", "score", "needs_operator", "blocked", "events", "updated_unix_ms")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    NEEDS_OPERATOR_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    score: int
    needs_operator: bool
    blocked: bool
    events: int
    updated_unix_ms: int
    def __init__(self, org_id: _Optional[str] = ..., score: _Optional[int] = ..., needs_operator: _Optional[bool] = ..., blocked: _Optional[bool] = ..., events: _Optional[int] = ..., updated_unix_ms: _Optional[int] = ...) -> None: ...

class RecordCreditEventRequest(_message.Message):
    __slots__ = ("request_id", "event")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    event: CreditEvent
    def __init__(self, request_id: _Optional[str] = ..., event: _Optional[_Union[CreditEvent, _Mapping]] = ...) -> None: ...

class RecordCreditEventResponse(_message.Message):
    __slots__ = ("event", "record")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    event: CreditEvent
    record: CreditRecord
    def __init__(self, event: _Optional[_Union[CreditEvent, _Mapping]] = ..., record: _Optional[_Union[CreditRecord, _Mapping]] = ...) -> None: ...

class GetCreditRecordRequest(_message.Message):
    __slots__ = ("org_id",)
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    def __init__(self, org_id: _Optional[str] = ...) -> None: ...

class GetCreditRecordResponse(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: CreditRecord
    def __init__(self, record: _Optional[_Union[CreditRecord, _Mapping]] = ...) -> None: ...

class ListCreditRecordsRequest(_message.Message):
    __slots__ = ("blocked_only", "page_size", "page_token")
    BLOCKED_ONLY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    blocked_only: bool
    page_size: int
    page_token: str
    def __init__(self, blocked_only: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCreditRecordsResponse(_message.Message):
    __slots__ = ("records", "next_page_token", "total")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[CreditRecord]
    next_page_token: str
    total: int
    def __init__(self, records: _Optional[_Iterable[_Union[CreditRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class ListCreditEventsRequest(_message.Message):
    __slots__ = ("org_id", "page_size", "page_token")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    page_size: int
    page_token: str
    def __init__(self, org_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCreditEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token", "total")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[CreditEvent]
    next_page_token: str
    total: int
    def __init__(self, events: _Optional[_Iterable[_Union[CreditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...
