from shuniu.protos.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GrantState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANT_STATE_UNSPECIFIED: _ClassVar[GrantState]
    GRANT_STATE_PENDING: _ClassVar[GrantState]
    GRANT_STATE_APPROVED: _ClassVar[GrantState]
    GRANT_STATE_REJECTED: _ClassVar[GrantState]
    GRANT_STATE_REVOKED: _ClassVar[GrantState]
    GRANT_STATE_EXPIRED: _ClassVar[GrantState]

class ApprovalMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPROVAL_MODE_UNSPECIFIED: _ClassVar[ApprovalMode]
    APPROVAL_MODE_AUTO: _ClassVar[ApprovalMode]
    APPROVAL_MODE_OPERATOR: _ClassVar[ApprovalMode]
GRANT_STATE_UNSPECIFIED: GrantState
GRANT_STATE_PENDING: GrantState
GRANT_STATE_APPROVED: GrantState
GRANT_STATE_REJECTED: GrantState
GRANT_STATE_REVOKED: GrantState
GRANT_STATE_EXPIRED: GrantState
APPROVAL_MODE_UNSPECIFIED: ApprovalMode
APPROVAL_MODE_AUTO: ApprovalMode
APPROVAL_MODE_OPERATOR: ApprovalMode

class GrantLimits(_message.Message):
    __slots__ = ("max_rows", "max_calls", "max_budget_fen", "max_dp_epsilon_milli")
    MAX_ROWS_FIELD_NUMBER: _ClassVar[int]
    MAX_CALLS_FIELD_NUMBER: _ClassVar[int]
    MAX_BUDGET_FEN_FIELD_NUMBER: _ClassVar[int]
    MAX_DP_EPSILON_MILLI_FIELD_NUMBER: _ClassVar[int]
    max_rows: int
    max_calls: int
    max_budget_fen: int
    max_dp_epsilon_milli: int
    def __init__(self, max_rows: _Optional[int] = ..., max_calls: _Optional[int] = ..., max_budget_fen: _Optional[int] = ..., max_dp_epsilon_milli: _Optional[int] = ...) -> None: ...

class GrantUsage(_message.Message):
    __slots__ = ("rows", "calls", "spent_fen", "dp_epsilon_spent_milli", "updated_unix_ms", "claims_refused")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    SPENT_FEN_FIELD_NUMBER: _ClassVar[int]
    DP_EPSILON_SPENT_MILLI_FIELD_NUMBER: _ClassVar[int]
    UPDATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CLAIMS_REFUSED_FIELD_NUMBER: _ClassVar[int]
    rows: int
    calls: int
    spent_fen: int
    dp_epsilon_spent_milli: int
    updated_unix_ms: int
    claims_refused: int
    def __init__(self, rows: _Optional[int] = ..., calls: _Optional[int] = ..., spent_fen: _Optional[int] = ..., dp_epsilon_spent_milli: _Optional[int] = ..., updated_unix_ms: _Optional[int] = ..., claims_refused: _Optional[int] = ...) -> None: ...

class EgressProfile(_message.Message):
    __slots__ = ("max_output_rows", "max_output_bytes", "min_group_size", "require_dp_noise", "dp_epsilon_per_job_milli")
    MAX_OUTPUT_ROWS_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    MIN_GROUP_SIZE_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_DP_NOISE_FIELD_NUMBER: _ClassVar[int]
    DP_EPSILON_PER_JOB_MILLI_FIELD_NUMBER: _ClassVar[int]
    max_output_rows: int
    max_output_bytes: int
    min_group_size: int
    require_dp_noise: bool
    dp_epsilon_per_job_milli: int
    def __init__(self, max_output_rows: _Optional[int] = ..., max_output_bytes: _Optional[int] = ..., min_group_size: _Optional[int] = ..., require_dp_noise: _Optional[bool] = ..., dp_epsilon_per_job_milli: _Optional[int] = ...) -> None: ...

class GrantSpec(_message.Message):
    __slots__ = ("buyer_id", "scenario", "purpose", "purpose_category", "products", "job_kinds", "expires_unix_ms", "limits", "egress", "justification", "analysis_ids")
    BUYER_ID_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    JOB_KINDS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    EGRESS_FIELD_NUMBER: _ClassVar[int]
    JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_IDS_FIELD_NUMBER: _ClassVar[int]
    buyer_id: str
    scenario: str
    purpose: str
    purpose_category: _common_pb2.PurposeCategory
    products: _containers.RepeatedCompositeFieldContainer[_common_pb2.ProductColumns]
    job_kinds: _containers.RepeatedScalarFieldContainer[_common_pb2.JobKind]
    expires_unix_ms: int
    limits: GrantLimits
    egress: EgressProfile
    justification: str
    analysis_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, buyer_id: _Optional[str] = ..., scenario: _Optional[str] = ..., purpose: _Optional[str] = ..., purpose_category: _Optional[_Union[_common_pb2.PurposeCategory, str]] = ..., products: _Optional[_Iterable[_Union[_common_pb2.ProductColumns, _Mapping]]] = ..., job_kinds: _Optional[_Iterable[_Union[_common_pb2.JobKind, str]]] = ..., expires_unix_ms: _Optional[int] = ..., limits: _Optional[_Union[GrantLimits, _Mapping]] = ..., egress: _Optional[_Union[EgressProfile, _Mapping]] = ..., justification: _Optional[str] = ..., analysis_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Grant(_message.Message):
    __slots__ = ("grant_id", "spec", "state", "state_reason", "approval_mode", "decided_by", "usage", "product_prices", "applied_unix_ms", "decided_unix_ms", "revoked_unix_ms", "request_id")
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_MODE_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_PRICES_FIELD_NUMBER: _ClassVar[int]
    APPLIED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    DECIDED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    spec: GrantSpec
    state: GrantState
    state_reason: str
    approval_mode: ApprovalMode
    decided_by: str
    usage: GrantUsage
    product_prices: _containers.RepeatedCompositeFieldContainer[_common_pb2.ProductPriceVersion]
    applied_unix_ms: int
    decided_unix_ms: int
    revoked_unix_ms: int
    request_id: str
    def __init__(self, grant_id: _Optional[str] = ..., spec: _Optional[_Union[GrantSpec, _Mapping]] = ..., state: _Optional[_Union[GrantState, str]] = ..., state_reason: _Optional[str] = ..., approval_mode: _Optional[_Union[ApprovalMode, str]] = ..., decided_by: _Optional[str] = ..., usage: _Optional[_Union[GrantUsage, _Mapping]] = ..., product_prices: _Optional[_Iterable[_Union[_common_pb2.ProductPriceVersion, _Mapping]]] = ..., applied_unix_ms: _Optional[int] = ..., decided_unix_ms: _Optional[int] = ..., revoked_unix_ms: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class ApplyGrantRequest(_message.Message):
    __slots__ = ("request_id", "spec")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    spec: GrantSpec
    def __init__(self, request_id: _Optional[str] = ..., spec: _Optional[_Union[GrantSpec, _Mapping]] = ...) -> None: ...

class ApplyGrantResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class ApproveGrantRequest(_message.Message):
    __slots__ = ("request_id", "grant_id", "note")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    grant_id: str
    note: str
    def __init__(self, request_id: _Optional[str] = ..., grant_id: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class ApproveGrantResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class RejectGrantRequest(_message.Message):
    __slots__ = ("request_id", "grant_id", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    grant_id: str
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., grant_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RejectGrantResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class RevokeGrantRequest(_message.Message):
    __slots__ = ("request_id", "grant_id", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    grant_id: str
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., grant_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeGrantResponse(_message.Message):
    __slots__ = ("grant", "cancelled_job_ids")
    GRANT_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    cancelled_job_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ..., cancelled_job_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetGrantRequest(_message.Message):
    __slots__ = ("grant_id",)
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    def __init__(self, grant_id: _Optional[str] = ...) -> None: ...

class GetGrantResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class ListGrantsRequest(_message.Message):
    __slots__ = ("buyer_id", "states", "product_id", "page_size", "page_token")
    BUYER_ID_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    buyer_id: str
    states: _containers.RepeatedScalarFieldContainer[GrantState]
    product_id: str
    page_size: int
    page_token: str
    def __init__(self, buyer_id: _Optional[str] = ..., states: _Optional[_Iterable[_Union[GrantState, str]]] = ..., product_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListGrantsResponse(_message.Message):
    __slots__ = ("grants", "next_page_token", "total")
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[Grant]
    next_page_token: str
    total: int
    def __init__(self, grants: _Optional[_Iterable[_Union[Grant, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...
