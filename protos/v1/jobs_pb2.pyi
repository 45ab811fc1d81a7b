from shuniu.protos.v1 import analyses_pb2 as _analyses_pb2
from shuniu.protos.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_PENDING: _ClassVar[JobState]
    JOB_STATE_ADMITTED: _ClassVar[JobState]
    JOB_STATE_SCHEDULED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]
    JOB_STATE_EGRESS_DENIED: _ClassVar[JobState]

class AggregateFunction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGGREGATE_FUNCTION_UNSPECIFIED: _ClassVar[AggregateFunction]
    AGGREGATE_FUNCTION_COUNT: _ClassVar[AggregateFunction]
    AGGREGATE_FUNCTION_SUM: _ClassVar[AggregateFunction]
    AGGREGATE_FUNCTION_MEAN: _ClassVar[AggregateFunction]
    AGGREGATE_FUNCTION_QUANTILE: _ClassVar[AggregateFunction]

class ClaimOperator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CLAIM_OPERATOR_UNSPECIFIED: _ClassVar[ClaimOperator]
    CLAIM_OPERATOR_EQUALS: _ClassVar[ClaimOperator]
    CLAIM_OPERATOR_IN_RANGE: _ClassVar[ClaimOperator]
    CLAIM_OPERATOR_IN_SET: _ClassVar[ClaimOperator]
    CLAIM_OPERATOR_EXISTS: _ClassVar[ClaimOperator]

class ModelType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_TYPE_UNSPECIFIED: _ClassVar[ModelType]
    MODEL_TYPE_LINEAR_REGRESSION: _ClassVar[ModelType]
    MODEL_TYPE_LOGISTIC_REGRESSION: _ClassVar[ModelType]

class FailureCategory(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FAILURE_CATEGORY_UNSPECIFIED: _ClassVar[FailureCategory]
    FAILURE_CATEGORY_NODE_DOWN: _ClassVar[FailureCategory]
    FAILURE_CATEGORY_TIMEOUT: _ClassVar[FailureCategory]
    FAILURE_CATEGORY_RESOURCE_LIMIT: _ClassVar[FailureCategory]
    FAILURE_CATEGORY_USER_ERROR: _ClassVar[FailureCategory]
    FAILURE_CATEGORY_SYSTEM_ERROR: _ClassVar[FailureCategory]

class EgressRule(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EGRESS_RULE_UNSPECIFIED: _ClassVar[EgressRule]
    EGRESS_RULE_SENSITIVE_COLUMN: _ClassVar[EgressRule]
    EGRESS_RULE_IDENTIFIER_COLUMN: _ClassVar[EgressRule]
    EGRESS_RULE_ROW_CAP: _ClassVar[EgressRule]
    EGRESS_RULE_MIN_GROUP_SIZE: _ClassVar[EgressRule]
    EGRESS_RULE_SIZE_CAP: _ClassVar[EgressRule]
    EGRESS_RULE_RAW_VALUE_LEAK: _ClassVar[EgressRule]
    EGRESS_RULE_DP_BUDGET: _ClassVar[EgressRule]
    EGRESS_RULE_OUTPUT_TYPE: _ClassVar[EgressRule]
    EGRESS_RULE_OUTPUT_COLUMNS: _ClassVar[EgressRule]
    EGRESS_RULE_DISGUISED_VALUE_LEAK: _ClassVar[EgressRule]
    EGRESS_RULE_NOT_BOOLEAN: _ClassVar[EgressRule]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_PENDING: JobState
JOB_STATE_ADMITTED: JobState
JOB_STATE_SCHEDULED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
JOB_STATE_EGRESS_DENIED: JobState
AGGREGATE_FUNCTION_UNSPECIFIED: AggregateFunction
AGGREGATE_FUNCTION_COUNT: AggregateFunction
AGGREGATE_FUNCTION_SUM: AggregateFunction
AGGREGATE_FUNCTION_MEAN: AggregateFunction
AGGREGATE_FUNCTION_QUANTILE: AggregateFunction
CLAIM_OPERATOR_UNSPECIFIED: ClaimOperator
CLAIM_OPERATOR_EQUALS: ClaimOperator
CLAIM_OPERATOR_IN_RANGE: ClaimOperator
CLAIM_OPERATOR_IN_SET: ClaimOperator
CLAIM_OPERATOR_EXISTS: ClaimOperator
MODEL_TYPE_UNSPECIFIED: ModelType
MODEL_TYPE_LINEAR_REGRESSION: ModelType
MODEL_TYPE_LOGISTIC_REGRESSION: ModelType
FAILURE_CATEGORY_UNSPECIFIED: FailureCategory
FAILURE_CATEGORY_NODE_DOWN: FailureCategory
FAILURE_CATEGORY_TIMEOUT: FailureCategory
FAILURE_CATEGORY_RESOURCE_LIMIT: FailureCategory
FAILURE_CATEGORY_USER_ERROR: FailureCategory
FAILURE_CATEGORY_SYSTEM_ERROR: FailureCategory
EGRESS_RULE_UNSPECIFIED: EgressRule
EGRESS_RULE_SENSITIVE_COLUMN: EgressRule
EGRESS_RULE_IDENTIFIER_COLUMN: EgressRule
EGRESS_RULE_ROW_CAP: EgressRule
EGRESS_RULE_MIN_GROUP_SIZE: EgressRule
EGRESS_RULE_SIZE_CAP: EgressRule
EGRESS_RULE_RAW_VALUE_LEAK: EgressRule
EGRESS_RULE_DP_BUDGET: EgressRule
EGRESS_RULE_OUTPUT_TYPE: EgressRule
EGRESS_RULE_OUTPUT_COLUMNS: EgressRule
EGRESS_RULE_DISGUISED_VALUE_LEAK: EgressRule
EGRESS_RULE_NOT_BOOLEAN: EgressRule

class Aggregation(_message.Message):
    __slots__ = ("function", "column", "quantile_bp", "output_name")
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    QUANTILE_BP_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_NAME_FIELD_NUMBER: _ClassVar[int]
    function: AggregateFunction
    column: str
    quantile_bp: int
    output_name: str
    def __init__(self, function: _Optional[_Union[AggregateFunction, str]] = ..., column: _Optional[str] = ..., quantile_bp: _Optional[int] = ..., output_name: _Optional[str] = ...) -> None: ...

class AggregateArgs(_message.Message):
    __slots__ = ("group_by", "aggregations", "min_group_size", "dp_epsilon_milli")
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    AGGREGATIONS_FIELD_NUMBER: _ClassVar[int]
    MIN_GROUP_SIZE_FIELD_NUMBER: _ClassVar[int]
    DP_EPSILON_MILLI_FIELD_NUMBER: _ClassVar[int]
    group_by: _containers.RepeatedScalarFieldContainer[str]
    aggregations: _containers.RepeatedCompositeFieldContainer[Aggregation]
    min_group_size: int
    dp_epsilon_milli: int
    def __init__(self, group_by: _Optional[_Iterable[str]] = ..., aggregations: _Optional[_Iterable[_Union[Aggregation, _Mapping]]] = ..., min_group_size: _Optional[int] = ..., dp_epsilon_milli: _Optional[int] = ...) -> None: ...

class Claim(_message.Message):
    __slots__ = ("claim_id", "key_column", "key_value", "column", "operator", "value", "low", "high", "values")
    CLAIM_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_COLUMN_FIELD_NUMBER: _ClassVar[int]
    KEY_VALUE_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    claim_id: str
    key_column: str
    key_value: str
    column: str
    operator: ClaimOperator
    value: str
    low: str
    high: str
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, claim_id: _Optional[str] = ..., key_column: _Optional[str] = ..., key_value: _Optional[str] = ..., column: _Optional[str] = ..., operator: _Optional[_Union[ClaimOperator, str]] = ..., value: _Optional[str] = ..., low: _Optional[str] = ..., high: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class VerifyArgs(_message.Message):
    __slots__ = ("claims",)
    CLAIMS_FIELD_NUMBER: _ClassVar[int]
    claims: _containers.RepeatedCompositeFieldContainer[Claim]
    def __init__(self, claims: _Optional[_Iterable[_Union[Claim, _Mapping]]] = ...) -> None: ...

class ModelArgs(_message.Message):
    __slots__ = ("model_type", "feature_columns", "label_column", "l2_penalty", "max_iterations")
    MODEL_TYPE_FIELD_NUMBER: _ClassVar[int]
    FEATURE_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    LABEL_COLUMN_FIELD_NUMBER: _ClassVar[int]
    L2_PENALTY_FIELD_NUMBER: _ClassVar[int]
    MAX_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    model_type: ModelType
    feature_columns: _containers.RepeatedScalarFieldContainer[str]
    label_column: str
    l2_penalty: float
    max_iterations: int
    def __init__(self, model_type: _Optional[_Union[ModelType, str]] = ..., feature_columns: _Optional[_Iterable[str]] = ..., label_column: _Optional[str] = ..., l2_penalty: _Optional[float] = ..., max_iterations: _Optional[int] = ...) -> None: ...

class CustomArgs(_message.Message):
    __slots__ = ("source", "entrypoint", "analysis_id", "parameters", "code_sha256", "output_schema", "parameter_values")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINT_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_ID_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    CODE_SHA256_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_VALUES_FIELD_NUMBER: _ClassVar[int]
    source: str
    entrypoint: str
    analysis_id: str
    parameters: _containers.ScalarMap[str, str]
    code_sha256: str
    output_schema: _containers.RepeatedCompositeFieldContainer[_analyses_pb2.OutputColumn]
    parameter_values: _containers.RepeatedCompositeFieldContainer[_analyses_pb2.ParameterValue]
    def __init__(self, source: _Optional[str] = ..., entrypoint: _Optional[str] = ..., analysis_id: _Optional[str] = ..., parameters: _Optional[_Mapping[str, str]] = ..., code_sha256: _Optional[str] = ..., output_schema: _Optional[_Iterable[_Union[_analyses_pb2.OutputColumn, _Mapping]]] = ..., parameter_values: _Optional[_Iterable[_Union[_analyses_pb2.ParameterValue, _Mapping]]] = ...) -> None: ...

class JobSpec(_message.Message):
    __slots__ = ("grant_id", "kind", "aggregate", "verify", "model", "custom", "products", "resources", "compute_class", "anchor_site", "max_tier", "preferred_tier", "relax_after_s", "price_cap_fen", "priority", "max_runtime_s", "gang_size")
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AGGREGATE_FIELD_NUMBER: _ClassVar[int]
    VERIFY_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELD_NUMBER: _ClassVar[int]
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_CLASS_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_SITE_FIELD_NUMBER: _ClassVar[int]
    MAX_TIER_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_TIER_FIELD_NUMBER: _ClassVar[int]
    RELAX_AFTER_S_FIELD_NUMBER: _ClassVar[int]
    PRICE_CAP_FEN_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    MAX_RUNTIME_S_FIELD_NUMBER: _ClassVar[int]
    GANG_SIZE_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    kind: _common_pb2.JobKind
    aggregate: AggregateArgs
    verify: VerifyArgs
    model: ModelArgs
    custom: CustomArgs
    products: _containers.RepeatedCompositeFieldContainer[_common_pb2.ProductColumns]
    resources: _common_pb2.Capacity
    compute_class: _common_pb2.ComputeClass
    anchor_site: str
    max_tier: _common_pb2.Tier
    preferred_tier: _common_pb2.Tier
    relax_after_s: int
    price_cap_fen: int
    priority: int
    max_runtime_s: int
    gang_size: int
    def __init__(self, grant_id: _Optional[str] = ..., kind: _Optional[_Union[_common_pb2.JobKind, str]] = ..., aggregate: _Optional[_Union[AggregateArgs, _Mapping]] = ..., verify: _Optional[_Union[VerifyArgs, _Mapping]] = ..., model: _Optional[_Union[ModelArgs, _Mapping]] = ..., custom: _Optional[_Union[CustomArgs, _Mapping]] = ..., products: _Optional[_Iterable[_Union[_common_pb2.ProductColumns, _Mapping]]] = ..., resources: _Optional[_Union[_common_pb2.Capacity, _Mapping]] = ..., compute_class: _Optional[_Union[_common_pb2.ComputeClass, str]] = ..., anchor_site: _Optional[str] = ..., max_tier: _Optional[_Union[_common_pb2.Tier, str]] = ..., preferred_tier: _Optional[_Union[_common_pb2.Tier, str]] = ..., relax_after_s: _Optional[int] = ..., price_cap_fen: _Optional[int] = ..., priority: _Optional[int] = ..., max_runtime_s: _Optional[int] = ..., gang_size: _Optional[int] = ...) -> None: ...

class PriceQuote(_message.Message):
    __slots__ = ("quote_id", "product_prices", "estimated_max_fen", "locked_unix_ms")
    QUOTE_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_PRICES_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_MAX_FEN_FIELD_NUMBER: _ClassVar[int]
    LOCKED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    quote_id: str
    product_prices: _containers.RepeatedCompositeFieldContainer[_common_pb2.ProductPriceVersion]
    estimated_max_fen: int
    locked_unix_ms: int
    def __init__(self, quote_id: _Optional[str] = ..., product_prices: _Optional[_Iterable[_Union[_common_pb2.ProductPriceVersion, _Mapping]]] = ..., estimated_max_fen: _Optional[int] = ..., locked_unix_ms: _Optional[int] = ...) -> None: ...

class JobFailure(_message.Message):
    __slots__ = ("attempt", "category", "message", "node_id", "failed_unix_ms")
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    FAILED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    attempt: int
    category: FailureCategory
    message: str
    node_id: str
    failed_unix_ms: int
    def __init__(self, attempt: _Optional[int] = ..., category: _Optional[_Union[FailureCategory, str]] = ..., message: _Optional[str] = ..., node_id: _Optional[str] = ..., failed_unix_ms: _Optional[int] = ...) -> None: ...

class JobResult(_message.Message):
    __slots__ = ("result_ref", "rows", "bytes", "content_sha256", "released_unix_ms")
    RESULT_REF_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    RELEASED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    result_ref: str
    rows: int
    bytes: int
    content_sha256: str
    released_unix_ms: int
    def __init__(self, result_ref: _Optional[str] = ..., rows: _Optional[int] = ..., bytes: _Optional[int] = ..., content_sha256: _Optional[str] = ..., released_unix_ms: _Optional[int] = ...) -> None: ...

class EgressViolation(_message.Message):
    __slots__ = ("rule", "column", "detail")
    RULE_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    rule: EgressRule
    column: str
    detail: str
    def __init__(self, rule: _Optional[_Union[EgressRule, str]] = ..., column: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class EgressOutcome(_message.Message):
    __slots__ = ("released", "violations", "output_rows", "output_bytes", "dp_epsilon_spent_milli", "checked_unix_ms")
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_ROWS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    DP_EPSILON_SPENT_MILLI_FIELD_NUMBER: _ClassVar[int]
    CHECKED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    released: bool
    violations: _containers.RepeatedCompositeFieldContainer[EgressViolation]
    output_rows: int
    output_bytes: int
    dp_epsilon_spent_milli: int
    checked_unix_ms: int
    def __init__(self, released: _Optional[bool] = ..., violations: _Optional[_Iterable[_Union[EgressViolation, _Mapping]]] = ..., output_rows: _Optional[int] = ..., output_bytes: _Optional[int] = ..., dp_epsilon_spent_milli: _Optional[int] = ..., checked_unix_ms: _Optional[int] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("job_id", "buyer_id", "spec", "state", "state_reason", "state_message", "assigned_node_ids", "placed_tier", "quote", "result", "egress", "failures", "attempt", "charged_fen", "submitted_unix_ms", "admitted_unix_ms", "scheduled_unix_ms", "started_unix_ms", "finished_unix_ms", "request_id", "seq", "usage_batch_ids")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    STATE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    PLACED_TIER_FIELD_NUMBER: _ClassVar[int]
    QUOTE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    EGRESS_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    CHARGED_FEN_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    ADMITTED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    STARTED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    USAGE_BATCH_IDS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    buyer_id: str
    spec: JobSpec
    state: JobState
    state_reason: str
    state_message: str
    assigned_node_ids: _containers.RepeatedScalarFieldContainer[str]
    placed_tier: _common_pb2.Tier
    quote: PriceQuote
    result: JobResult
    egress: EgressOutcome
    failures: _containers.RepeatedCompositeFieldContainer[JobFailure]
    attempt: int
    charged_fen: int
    submitted_unix_ms: int
    admitted_unix_ms: int
    scheduled_unix_ms: int
    started_unix_ms: int
    finished_unix_ms: int
    request_id: str
    seq: int
    usage_batch_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, job_id: _Optional[str] = ..., buyer_id: _Optional[str] = ..., spec: _Optional[_Union[JobSpec, _Mapping]] = ..., state: _Optional[_Union[JobState, str]] = ..., state_reason: _Optional[str] = ..., state_message: _Optional[str] = ..., assigned_node_ids: _Optional[_Iterable[str]] = ..., placed_tier: _Optional[_Union[_common_pb2.Tier, str]] = ..., quote: _Optional[_Union[PriceQuote, _Mapping]] = ..., result: _Optional[_Union[JobResult, _Mapping]] = ..., egress: _Optional[_Union[EgressOutcome, _Mapping]] = ..., failures: _Optional[_Iterable[_Union[JobFailure, _Mapping]]] = ..., attempt: _Optional[int] = ..., charged_fen: _Optional[int] = ..., submitted_unix_ms: _Optional[int] = ..., admitted_unix_ms: _Optional[int] = ..., scheduled_unix_ms: _Optional[int] = ..., started_unix_ms: _Optional[int] = ..., finished_unix_ms: _Optional[int] = ..., request_id: _Optional[str] = ..., seq: _Optional[int] = ..., usage_batch_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class SubmitJobRequest(_message.Message):
    __slots__ = ("request_id", "spec")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    spec: JobSpec
    def __init__(self, request_id: _Optional[str] = ..., spec: _Optional[_Union[JobSpec, _Mapping]] = ...) -> None: ...

class SubmitJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("buyer_id", "states", "grant_id", "page_size", "page_token")
    BUYER_ID_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    buyer_id: str
    states: _containers.RepeatedScalarFieldContainer[JobState]
    grant_id: str
    page_size: int
    page_token: str
    def __init__(self, buyer_id: _Optional[str] = ..., states: _Optional[_Iterable[_Union[JobState, str]]] = ..., grant_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token", "total")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    total: int
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("request_id", "job_id", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    job_id: str
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., job_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class WatchJobResponse(_message.Message):
    __slots__ = ("job", "from_state", "to_state", "seq", "changed_unix_ms")
    JOB_FIELD_NUMBER: _ClassVar[int]
    FROM_STATE_FIELD_NUMBER: _ClassVar[int]
    TO_STATE_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    CHANGED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    job: Job
    from_state: JobState
    to_state: JobState
    seq: int
    changed_unix_ms: int
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., from_state: _Optional[_Union[JobState, str]] = ..., to_state: _Optional[_Union[JobState, str]] = ..., seq: _Optional[int] = ..., changed_unix_ms: _Optional[int] = ...) -> None: ...

class FilterRejection(_message.Message):
    __slots__ = ("filter", "nodes_removed", "reason")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    NODES_REMOVED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    filter: str
    nodes_removed: int
    reason: str
    def __init__(self, filter: _Optional[str] = ..., nodes_removed: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class NearestNode(_message.Message):
    __slots__ = ("node_id", "site", "tier", "rtt_ms", "failed_filters", "shortfall", "over_price_cap_fen")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    RTT_MS_FIELD_NUMBER: _ClassVar[int]
    FAILED_FILTERS_FIELD_NUMBER: _ClassVar[int]
    SHORTFALL_FIELD_NUMBER: _ClassVar[int]
    OVER_PRICE_CAP_FEN_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    site: str
    tier: _common_pb2.Tier
    rtt_ms: float
    failed_filters: _containers.RepeatedScalarFieldContainer[str]
    shortfall: _common_pb2.Capacity
    over_price_cap_fen: int
    def __init__(self, node_id: _Optional[str] = ..., site: _Optional[str] = ..., tier: _Optional[_Union[_common_pb2.Tier, str]] = ..., rtt_ms: _Optional[float] = ..., failed_filters: _Optional[_Iterable[str]] = ..., shortfall: _Optional[_Union[_common_pb2.Capacity, _Mapping]] = ..., over_price_cap_fen: _Optional[int] = ...) -> None: ...

class Explanation(_message.Message):
    __slots__ = ("nodes_considered", "rejections", "nodes_feasible", "nearest", "effective_tier")
    NODES_CONSIDERED_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    NODES_FEASIBLE_FIELD_NUMBER: _ClassVar[int]
    NEAREST_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIER_FIELD_NUMBER: _ClassVar[int]
    nodes_considered: int
    rejections: _containers.RepeatedCompositeFieldContainer[FilterRejection]
    nodes_feasible: int
    nearest: NearestNode
    effective_tier: _common_pb2.Tier
    def __init__(self, nodes_considered: _Optional[int] = ..., rejections: _Optional[_Iterable[_Union[FilterRejection, _Mapping]]] = ..., nodes_feasible: _Optional[int] = ..., nearest: _Optional[_Union[NearestNode, _Mapping]] = ..., effective_tier: _Optional[_Union[_common_pb2.Tier, str]] = ...) -> None: ...

class ExplainJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ExplainJobResponse(_message.Message):
    __slots__ = ("job_id", "state", "state_reason", "explanation", "queue_position")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    QUEUE_POSITION_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: JobState
    state_reason: str
    explanation: Explanation
    queue_position: int
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., state_reason: _Optional[str] = ..., explanation: _Optional[_Union[Explanation, _Mapping]] = ..., queue_position: _Optional[int] = ...) -> None: ...

class ScoreTerm(_message.Message):
    __slots__ = ("scorer", "score")
    SCORER_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    scorer: str
    score: float
    def __init__(self, scorer: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class Placement(_message.Message):
    __slots__ = ("node_ids", "sites", "tier", "scores", "estimated_compute_fen", "estimated_data_fen")
    NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_COMPUTE_FEN_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_DATA_FEN_FIELD_NUMBER: _ClassVar[int]
    node_ids: _containers.RepeatedScalarFieldContainer[str]
    sites: _containers.RepeatedScalarFieldContainer[str]
    tier: _common_pb2.Tier
    scores: _containers.RepeatedCompositeFieldContainer[ScoreTerm]
    estimated_compute_fen: int
    estimated_data_fen: int
    def __init__(self, node_ids: _Optional[_Iterable[str]] = ..., sites: _Optional[_Iterable[str]] = ..., tier: _Optional[_Union[_common_pb2.Tier, str]] = ..., scores: _Optional[_Iterable[_Union[ScoreTerm, _Mapping]]] = ..., estimated_compute_fen: _Optional[int] = ..., estimated_data_fen: _Optional[int] = ...) -> None: ...

class PlanJobRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: JobSpec
    def __init__(self, spec: _Optional[_Union[JobSpec, _Mapping]] = ...) -> None: ...

class PlanJobResponse(_message.Message):
    __slots__ = ("admissible", "admission_reason", "placement", "explanation", "quote")
    ADMISSIBLE_FIELD_NUMBER: _ClassVar[int]
    ADMISSION_REASON_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    QUOTE_FIELD_NUMBER: _ClassVar[int]
    admissible: bool
    admission_reason: str
    placement: Placement
    explanation: Explanation
    quote: PriceQuote
    def __init__(self, admissible: _Optional[bool] = ..., admission_reason: _Optional[str] = ..., placement: _Optional[_Union[Placement, _Mapping]] = ..., explanation: _Optional[_Union[Explanation, _Mapping]] = ..., quote: _Optional[_Union[PriceQuote, _Mapping]] = ...) -> None: ...

class GetJobResultRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetJobResultResponse(_message.Message):
    __slots__ = ("job_id", "result", "arrow_ipc")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ARROW_IPC_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    result: JobResult
    arrow_ipc: bytes
    def __init__(self, job_id: _Optional[str] = ..., result: _Optional[_Union[JobResult, _Mapping]] = ..., arrow_ipc: _Optional[bytes] = ...) -> None: ...
