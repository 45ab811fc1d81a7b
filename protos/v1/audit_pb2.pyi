from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuditKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIT_KIND_UNSPECIFIED: _ClassVar[AuditKind]
    AUDIT_KIND_NODE: _ClassVar[AuditKind]
    AUDIT_KIND_PRODUCT: _ClassVar[AuditKind]
    AUDIT_KIND_GRANT: _ClassVar[AuditKind]
    AUDIT_KIND_JOB: _ClassVar[AuditKind]
    AUDIT_KIND_DATA_ACCESS: _ClassVar[AuditKind]
    AUDIT_KIND_EGRESS: _ClassVar[AuditKind]
    AUDIT_KIND_USAGE_BATCH: _ClassVar[AuditKind]
    AUDIT_KIND_POSTING: _ClassVar[AuditKind]
    AUDIT_KIND_SETTLEMENT: _ClassVar[AuditKind]
    AUDIT_KIND_NEGATIVE_LIST: _ClassVar[AuditKind]
    AUDIT_KIND_CREDIT: _ClassVar[AuditKind]
    AUDIT_KIND_QUOTA: _ClassVar[AuditKind]

class ChainProblem(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHAIN_PROBLEM_UNSPECIFIED: _ClassVar[ChainProblem]
    CHAIN_PROBLEM_CHANGED: _ClassVar[ChainProblem]
    CHAIN_PROBLEM_REMOVED: _ClassVar[ChainProblem]
    CHAIN_PROBLEM_REORDERED: _ClassVar[ChainProblem]
    CHAIN_PROBLEM_BAD_CHECKPOINT: _ClassVar[ChainProblem]
AUDIT_KIND_UNSPECIFIED: AuditKind
AUDIT_KIND_NODE: AuditKind
AUDIT_KIND_PRODUCT: AuditKind
AUDIT_KIND_GRANT: AuditKind
AUDIT_KIND_JOB: AuditKind
AUDIT_KIND_DATA_ACCESS: AuditKind
AUDIT_KIND_EGRESS: AuditKind
AUDIT_KIND_USAGE_BATCH: AuditKind
AUDIT_KIND_POSTING: AuditKind
AUDIT_KIND_SETTLEMENT: AuditKind
AUDIT_KIND_NEGATIVE_LIST: AuditKind
AUDIT_KIND_CREDIT: AuditKind
AUDIT_KIND_QUOTA: AuditKind
CHAIN_PROBLEM_UNSPECIFIED: ChainProblem
CHAIN_PROBLEM_CHANGED: ChainProblem
CHAIN_PROBLEM_REMOVED: ChainProblem
CHAIN_PROBLEM_REORDERED: ChainProblem
CHAIN_PROBLEM_BAD_CHECKPOINT: ChainProblem

class AuditEntry(_message.Message):
    __slots__ = ("seq", "kind", "action", "subject_id", "actor", "request_id", "recorded_unix_ms", "details_json", "prev_hash", "hash")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    seq: int
    kind: AuditKind
    action: str
    subject_id: str
    actor: str
    request_id: str
    recorded_unix_ms: int
    details_json: str
    prev_hash: bytes
    hash: bytes
    def __init__(self, seq: _Optional[int] = ..., kind: _Optional[_Union[AuditKind, str]] = ..., action: _Optional[str] = ..., subject_id: _Optional[str] = ..., actor: _Optional[str] = ..., request_id: _Optional[str] = ..., recorded_unix_ms: _Optional[int] = ..., details_json: _Optional[str] = ..., prev_hash: _Optional[bytes] = ..., hash: _Optional[bytes] = ...) -> None: ...

class AuditCheckpoint(_message.Message):
    __slots__ = ("seq", "hash", "signing_key_id", "signature", "signed_unix_ms")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    SIGNED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    seq: int
    hash: bytes
    signing_key_id: str
    signature: bytes
    signed_unix_ms: int
    def __init__(self, seq: _Optional[int] = ..., hash: _Optional[bytes] = ..., signing_key_id: _Optional[str] = ..., signature: _Optional[bytes] = ..., signed_unix_ms: _Optional[int] = ...) -> None: ...

class AuditServiceListEntriesRequest(_message.Message):
    __slots__ = ("kind", "subject_id", "actor", "from_seq", "page_size", "page_token")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    kind: AuditKind
    subject_id: str
    actor: str
    from_seq: int
    page_size: int
    page_token: str
    def __init__(self, kind: _Optional[_Union[AuditKind, str]] = ..., subject_id: _Optional[str] = ..., actor: _Optional[str] = ..., from_seq: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class AuditServiceListEntriesResponse(_message.Message):
    __slots__ = ("entries", "next_page_token", "head_seq")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    HEAD_SEQ_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    next_page_token: str
    head_seq: int
    def __init__(self, entries: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., head_seq: _Optional[int] = ...) -> None: ...

class VerifyChainRequest(_message.Message):
    __slots__ = ("from_seq", "to_seq")
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    TO_SEQ_FIELD_NUMBER: _ClassVar[int]
    from_seq: int
    to_seq: int
    def __init__(self, from_seq: _Optional[int] = ..., to_seq: _Optional[int] = ...) -> None: ...

class VerifyChainResponse(_message.Message):
    __slots__ = ("ok", "entries_checked", "checkpoints_checked", "first_bad_seq", "problem", "detail", "last_checkpoint")
    OK_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_CHECKED_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    FIRST_BAD_SEQ_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    entries_checked: int
    checkpoints_checked: int
    first_bad_seq: int
    problem: ChainProblem
    detail: str
    last_checkpoint: AuditCheckpoint
    def __init__(self, ok: _Optional[bool] = ..., entries_checked: _Optional[int] = ..., checkpoints_checked: _Optional[int] = ..., first_bad_seq: _Optional[int] = ..., problem: _Optional[_Union[ChainProblem, str]] = ..., detail: _Optional[str] = ..., last_checkpoint: _Optional[_Union[AuditCheckpoint, _Mapping]] = ...) -> None: ...

class TraceJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class TraceJobResponse(_message.Message):
    __slots__ = ("job_id", "entries")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    entries: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    def __init__(self, job_id: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ...) -> None: ...
