from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AnalysisState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ANALYSIS_STATE_UNSPECIFIED: _ClassVar[AnalysisState]
    ANALYSIS_STATE_PROPOSED: _ClassVar[AnalysisState]
    ANALYSIS_STATE_APPROVED: _ClassVar[AnalysisState]
    ANALYSIS_STATE_REJECTED: _ClassVar[AnalysisState]

class ParameterType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PARAMETER_TYPE_UNSPECIFIED: _ClassVar[ParameterType]
    PARAMETER_TYPE_BOOL: _ClassVar[ParameterType]
    PARAMETER_TYPE_INT64: _ClassVar[ParameterType]
    PARAMETER_TYPE_FLOAT64: _ClassVar[ParameterType]
    PARAMETER_TYPE_STRING: _ClassVar[ParameterType]

class AnalysisApprover(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ANALYSIS_APPROVER_UNSPECIFIED: _ClassVar[AnalysisApprover]
    ANALYSIS_APPROVER_HOLDER: _ClassVar[AnalysisApprover]
    ANALYSIS_APPROVER_OPERATOR: _ClassVar[AnalysisApprover]
ANALYSIS_STATE_UNSPECIFIED: AnalysisState
ANALYSIS_STATE_PROPOSED: AnalysisState
ANALYSIS_STATE_APPROVED: AnalysisState
ANALYSIS_STATE_REJECTED: AnalysisState
PARAMETER_TYPE_UNSPECIFIED: ParameterType
PARAMETER_TYPE_BOOL: ParameterType
PARAMETER_TYPE_INT64: ParameterType
PARAMETER_TYPE_FLOAT64: ParameterType
PARAMETER_TYPE_STRING: ParameterType
ANALYSIS_APPROVER_UNSPECIFIED: AnalysisApprover
ANALYSIS_APPROVER_HOLDER: AnalysisApprover
ANALYSIS_APPROVER_OPERATOR: AnalysisApprover

class OutputColumn(_message.Message):
    __slots__ = ("name", "arrow_type")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARROW_TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    arrow_type: str
    def __init__(self, name: _Optional[str] = ..., arrow_type: _Optional[str] = ...) -> None: ...

class ParameterDeclaration(_message.Message):
    __slots__ = ("name", "type", "min", "max", "choices")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: ParameterType
    min: str
    max: str
    choices: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[ParameterType, str]] = ..., min: _Optional[str] = ..., max: _Optional[str] = ..., choices: _Optional[_Iterable[str]] = ...) -> None: ...

class ParameterValue(_message.Message):
    __slots__ = ("name", "bool_value", "int64_value", "float64_value", "string_value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT64_VALUE_FIELD_NUMBER: _ClassVar[int]
    FLOAT64_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    bool_value: bool
    int64_value: int
    float64_value: float
    string_value: str
    def __init__(self, name: _Optional[str] = ..., bool_value: _Optional[bool] = ..., int64_value: _Optional[int] = ..., float64_value: _Optional[float] = ..., string_value: _Optional[str] = ...) -> None: ...

class AnalysisSpec(_message.Message):
    __slots__ = ("product_id", "name", "description", "source", "code_sha256", "output_schema", "parameters")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CODE_SHA256_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    name: str
    description: str
    source: str
    code_sha256: str
    output_schema: _containers.RepeatedCompositeFieldContainer[OutputColumn]
    parameters: _containers.RepeatedCompositeFieldContainer[ParameterDeclaration]
    def __init__(self, product_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., source: _Optional[str] = ..., code_sha256: _Optional[str] = ..., output_schema: _Optional[_Iterable[_Union[OutputColumn, _Mapping]]] = ..., parameters: _Optional[_Iterable[_Union[ParameterDeclaration, _Mapping]]] = ...) -> None: ...

class Analysis(_message.Message):
    __slots__ = ("analysis_id", "spec", "state", "state_reason", "proposed_by", "holder_id", "approver", "decided_by", "proposed_unix_ms", "decided_unix_ms", "request_id")
    ANALYSIS_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_BY_FIELD_NUMBER: _ClassVar[int]
    HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVER_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    DECIDED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    analysis_id: str
    spec: AnalysisSpec
    state: AnalysisState
    state_reason: str
    proposed_by: str
    holder_id: str
    approver: AnalysisApprover
    decided_by: str
    proposed_unix_ms: int
    decided_unix_ms: int
    request_id: str
    def __init__(self, analysis_id: _Optional[str] = ..., spec: _Optional[_Union[AnalysisSpec, _Mapping]] = ..., state: _Optional[_Union[AnalysisState, str]] = ..., state_reason: _Optional[str] = ..., proposed_by: _Optional[str] = ..., holder_id: _Optional[str] = ..., approver: _Optional[_Union[AnalysisApprover, str]] = ..., decided_by: _Optional[str] = ..., proposed_unix_ms: _Optional[int] = ..., decided_unix_ms: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class ProposeAnalysisRequest(_message.Message):
    __slots__ = ("request_id", "spec")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    spec: AnalysisSpec
    def __init__(self, request_id: _Optional[str] = ..., spec: _Optional[_Union[AnalysisSpec, _Mapping]] = ...) -> None: ...

class ProposeAnalysisResponse(_message.Message):
    __slots__ = ("analysis",)
    ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    analysis: Analysis
    def __init__(self, analysis: _Optional[_Union[Analysis, _Mapping]] = ...) -> None: ...

class ApproveAnalysisRequest(_message.Message):
    __slots__ = ("request_id", "analysis_id", "code_sha256", "note")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_SHA256_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    analysis_id: str
    code_sha256: str
    note: str
    def __init__(self, request_id: _Optional[str] = ..., analysis_id: _Optional[str] = ..., code_sha256: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class ApproveAnalysisResponse(_message.Message):
    __slots__ = ("analysis",)
    ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    analysis: Analysis
    def __init__(self, analysis: _Optional[_Union[Analysis, _Mapping]] = ...) -> None: ...

class RejectAnalysisRequest(_message.Message):
    __slots__ = ("request_id", "analysis_id", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    analysis_id: str
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., analysis_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RejectAnalysisResponse(_message.Message):
    __slots__ = ("analysis",)
    ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    analysis: Analysis
    def __init__(self, analysis: _Optional[_Union[Analysis, _Mapping]] = ...) -> None: ...

class GetAnalysisRequest(_message.Message):
    __slots__ = ("analysis_id",)
    ANALYSIS_ID_FIELD_NUMBER: _ClassVar[int]
    analysis_id: str
    def __init__(self, analysis_id: _Optional[str] = ...) -> None: ...

class GetAnalysisResponse(_message.Message):
    __slots__ = ("analysis",)
    ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    analysis: Analysis
    def __init__(self, analysis: _Optional[_Union[Analysis, _Mapping]] = ...) -> None: ...

class ListAnalysesRequest(_message.Message):
    __slots__ = ("product_id", "states", "page_size", "page_token")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    states: _containers.RepeatedScalarFieldContainer[AnalysisState]
    page_size: int
    page_token: str
    def __init__(self, product_id: _Optional[str] = ..., states: _Optional[_Iterable[_Union[AnalysisState, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAnalysesResponse(_message.Message):
    __slots__ = ("analyses", "next_page_token", "total")
    ANALYSES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    analyses: _containers.RepeatedCompositeFieldContainer[Analysis]
    next_page_token: str
    total: int
    def __init__(self, analyses: _Optional[_Iterable[_Union[Analysis, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...
