from shuniu.protos.v1 import ledger_pb2 as _ledger_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PeriodState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PERIOD_STATE_UNSPECIFIED: _ClassVar[PeriodState]
    PERIOD_STATE_OPEN: _ClassVar[PeriodState]
    PERIOD_STATE_CLOSING: _ClassVar[PeriodState]
    PERIOD_STATE_CLOSED: _ClassVar[PeriodState]

class FeeBasis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEE_BASIS_UNSPECIFIED: _ClassVar[FeeBasis]
    FEE_BASIS_PER_PRODUCT: _ClassVar[FeeBasis]
    FEE_BASIS_PER_CALL: _ClassVar[FeeBasis]
    FEE_BASIS_PER_TIME: _ClassVar[FeeBasis]
    FEE_BASIS_PER_VOLUME: _ClassVar[FeeBasis]
PERIOD_STATE_UNSPECIFIED: PeriodState
PERIOD_STATE_OPEN: PeriodState
PERIOD_STATE_CLOSING: PeriodState
PERIOD_STATE_CLOSED: PeriodState
FEE_BASIS_UNSPECIFIED: FeeBasis
FEE_BASIS_PER_PRODUCT: FeeBasis
FEE_BASIS_PER_CALL: FeeBasis
FEE_BASIS_PER_TIME: FeeBasis
FEE_BASIS_PER_VOLUME: FeeBasis

class Period(_message.Message):
    __slots__ = ("period", "state", "closed_unix_ms", "statements", "late_records", "total_charged_fen", "manifest_sha256")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CLOSED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    LATE_RECORDS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CHARGED_FEN_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_SHA256_FIELD_NUMBER: _ClassVar[int]
    period: str
    state: PeriodState
    closed_unix_ms: int
    statements: int
    late_records: int
    total_charged_fen: int
    manifest_sha256: str
    def __init__(self, period: _Optional[str] = ..., state: _Optional[_Union[PeriodState, str]] = ..., closed_unix_ms: _Optional[int] = ..., statements: _Optional[int] = ..., late_records: _Optional[int] = ..., total_charged_fen: _Optional[int] = ..., manifest_sha256: _Optional[str] = ...) -> None: ...

class StatementLine(_message.Message):
    __slots__ = ("line_id", "kind", "amount_fen", "job_id", "grant_id", "product_id", "price_version", "record_ids", "quantity", "guided_cap_reduction_fen", "voucher_fen", "original_period")
    LINE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    RECORD_IDS_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    GUIDED_CAP_REDUCTION_FEN_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_FEN_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_PERIOD_FIELD_NUMBER: _ClassVar[int]
    line_id: str
    kind: _ledger_pb2.PostingKind
    amount_fen: int
    job_id: str
    grant_id: str
    product_id: str
    price_version: int
    record_ids: _containers.RepeatedScalarFieldContainer[str]
    quantity: int
    guided_cap_reduction_fen: int
    voucher_fen: int
    original_period: str
    def __init__(self, line_id: _Optional[str] = ..., kind: _Optional[_Union[_ledger_pb2.PostingKind, str]] = ..., amount_fen: _Optional[int] = ..., job_id: _Optional[str] = ..., grant_id: _Optional[str] = ..., product_id: _Optional[str] = ..., price_version: _Optional[int] = ..., record_ids: _Optional[_Iterable[str]] = ..., quantity: _Optional[int] = ..., guided_cap_reduction_fen: _Optional[int] = ..., voucher_fen: _Optional[int] = ..., original_period: _Optional[str] = ...) -> None: ...

class Statement(_message.Message):
    __slots__ = ("statement_id", "period", "account_id", "account_kind", "owner_id", "opening_balance_fen", "closing_balance_fen", "charges_fen", "revenue_fen", "voucher_used_fen", "late_adjustment_fen", "true_up_fen", "line_count", "parquet_path", "parquet_sha256", "summary")
    STATEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_KIND_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    OPENING_BALANCE_FEN_FIELD_NUMBER: _ClassVar[int]
    CLOSING_BALANCE_FEN_FIELD_NUMBER: _ClassVar[int]
    CHARGES_FEN_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FEN_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_USED_FEN_FIELD_NUMBER: _ClassVar[int]
    LATE_ADJUSTMENT_FEN_FIELD_NUMBER: _ClassVar[int]
    TRUE_UP_FEN_FIELD_NUMBER: _ClassVar[int]
    LINE_COUNT_FIELD_NUMBER: _ClassVar[int]
    PARQUET_PATH_FIELD_NUMBER: _ClassVar[int]
    PARQUET_SHA256_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    statement_id: str
    period: str
    account_id: str
    account_kind: _ledger_pb2.AccountKind
    owner_id: str
    opening_balance_fen: int
    closing_balance_fen: int
    charges_fen: int
    revenue_fen: int
    voucher_used_fen: int
    late_adjustment_fen: int
    true_up_fen: int
    line_count: int
    parquet_path: str
    parquet_sha256: str
    summary: str
    def __init__(self, statement_id: _Optional[str] = ..., period: _Optional[str] = ..., account_id: _Optional[str] = ..., account_kind: _Optional[_Union[_ledger_pb2.AccountKind, str]] = ..., owner_id: _Optional[str] = ..., opening_balance_fen: _Optional[int] = ..., closing_balance_fen: _Optional[int] = ..., charges_fen: _Optional[int] = ..., revenue_fen: _Optional[int] = ..., voucher_used_fen: _Optional[int] = ..., late_adjustment_fen: _Optional[int] = ..., true_up_fen: _Optional[int] = ..., line_count: _Optional[int] = ..., parquet_path: _Optional[str] = ..., parquet_sha256: _Optional[str] = ..., summary: _Optional[str] = ...) -> None: ...

class ClosePeriodRequest(_message.Message):
    __slots__ = ("request_id", "period")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    period: str
    def __init__(self, request_id: _Optional[str] = ..., period: _Optional[str] = ...) -> None: ...

class ClosePeriodResponse(_message.Message):
    __slots__ = ("period", "statements")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    period: Period
    statements: _containers.RepeatedCompositeFieldContainer[Statement]
    def __init__(self, period: _Optional[_Union[Period, _Mapping]] = ..., statements: _Optional[_Iterable[_Union[Statement, _Mapping]]] = ...) -> None: ...

class GetStatementRequest(_message.Message):
    __slots__ = ("statement_id", "period", "account_id", "page_size", "page_token")
    STATEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    statement_id: str
    period: str
    account_id: str
    page_size: int
    page_token: str
    def __init__(self, statement_id: _Optional[str] = ..., period: _Optional[str] = ..., account_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetStatementResponse(_message.Message):
    __slots__ = ("statement", "lines", "next_page_token")
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    statement: Statement
    lines: _containers.RepeatedCompositeFieldContainer[StatementLine]
    next_page_token: str
    def __init__(self, statement: _Optional[_Union[Statement, _Mapping]] = ..., lines: _Optional[_Iterable[_Union[StatementLine, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListStatementsRequest(_message.Message):
    __slots__ = ("period", "account_id", "account_kind", "page_size", "page_token")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_KIND_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    period: str
    account_id: str
    account_kind: _ledger_pb2.AccountKind
    page_size: int
    page_token: str
    def __init__(self, period: _Optional[str] = ..., account_id: _Optional[str] = ..., account_kind: _Optional[_Union[_ledger_pb2.AccountKind, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListStatementsResponse(_message.Message):
    __slots__ = ("statements", "next_page_token", "total")
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    statements: _containers.RepeatedCompositeFieldContainer[Statement]
    next_page_token: str
    total: int
    def __init__(self, statements: _Optional[_Iterable[_Union[Statement, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class PriceIndexPoint(_message.Message):
    __slots__ = ("category", "period", "index_value", "transactions", "distinct_parties", "turnover_fen", "suppressed")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    INDEX_VALUE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_PARTIES_FIELD_NUMBER: _ClassVar[int]
    TURNOVER_FEN_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    category: str
    period: str
    index_value: float
    transactions: int
    distinct_parties: int
    turnover_fen: int
    suppressed: bool
    def __init__(self, category: _Optional[str] = ..., period: _Optional[str] = ..., index_value: _Optional[float] = ..., transactions: _Optional[int] = ..., distinct_parties: _Optional[int] = ..., turnover_fen: _Optional[int] = ..., suppressed: _Optional[bool] = ...) -> None: ...

class GetPriceIndexRequest(_message.Message):
    __slots__ = ("category", "from_period", "to_period")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    FROM_PERIOD_FIELD_NUMBER: _ClassVar[int]
    TO_PERIOD_FIELD_NUMBER: _ClassVar[int]
    category: str
    from_period: str
    to_period: str
    def __init__(self, category: _Optional[str] = ..., from_period: _Optional[str] = ..., to_period: _Optional[str] = ...) -> None: ...

class GetPriceIndexResponse(_message.Message):
    __slots__ = ("base_period", "points", "min_transactions", "min_distinct_parties")
    BASE_PERIOD_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    MIN_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    MIN_DISTINCT_PARTIES_FIELD_NUMBER: _ClassVar[int]
    base_period: str
    points: _containers.RepeatedCompositeFieldContainer[PriceIndexPoint]
    min_transactions: int
    min_distinct_parties: int
    def __init__(self, base_period: _Optional[str] = ..., points: _Optional[_Iterable[_Union[PriceIndexPoint, _Mapping]]] = ..., min_transactions: _Optional[int] = ..., min_distinct_parties: _Optional[int] = ...) -> None: ...

class FeeItem(_message.Message):
    __slots__ = ("product_id", "basis", "fee_fen", "unit_size", "ceiling_fen")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    BASIS_FIELD_NUMBER: _ClassVar[int]
    FEE_FEN_FIELD_NUMBER: _ClassVar[int]
    UNIT_SIZE_FIELD_NUMBER: _ClassVar[int]
    CEILING_FEN_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    basis: FeeBasis
    fee_fen: int
    unit_size: int
    ceiling_fen: int
    def __init__(self, product_id: _Optional[str] = ..., basis: _Optional[_Union[FeeBasis, str]] = ..., fee_fen: _Optional[int] = ..., unit_size: _Optional[int] = ..., ceiling_fen: _Optional[int] = ...) -> None: ...

class FeeSchedule(_message.Message):
    __slots__ = ("fee_schedule_id", "version", "operator_id", "authorizing_department_id", "items", "allowed_cost_fen", "allowed_profit_fen", "allowed_tax_fen", "effective_unix_ms", "published_unix_ms")
    FEE_SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZING_DEPARTMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_COST_FEN_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_PROFIT_FEN_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_TAX_FEN_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    fee_schedule_id: str
    version: int
    operator_id: str
    authorizing_department_id: str
    items: _containers.RepeatedCompositeFieldContainer[FeeItem]
    allowed_cost_fen: int
    allowed_profit_fen: int
    allowed_tax_fen: int
    effective_unix_ms: int
    published_unix_ms: int
    def __init__(self, fee_schedule_id: _Optional[str] = ..., version: _Optional[int] = ..., operator_id: _Optional[str] = ..., authorizing_department_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[FeeItem, _Mapping]]] = ..., allowed_cost_fen: _Optional[int] = ..., allowed_profit_fen: _Optional[int] = ..., allowed_tax_fen: _Optional[int] = ..., effective_unix_ms: _Optional[int] = ..., published_unix_ms: _Optional[int] = ...) -> None: ...

class PublishFeeScheduleRequest(_message.Message):
    __slots__ = ("request_id", "schedule")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    schedule: FeeSchedule
    def __init__(self, request_id: _Optional[str] = ..., schedule: _Optional[_Union[FeeSchedule, _Mapping]] = ...) -> None: ...

class PublishFeeScheduleResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: FeeSchedule
    def __init__(self, schedule: _Optional[_Union[FeeSchedule, _Mapping]] = ...) -> None: ...

class ListFeeSchedulesRequest(_message.Message):
    __slots__ = ("operator_id", "product_id", "include_history")
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_HISTORY_FIELD_NUMBER: _ClassVar[int]
    operator_id: str
    product_id: str
    include_history: bool
    def __init__(self, operator_id: _Optional[str] = ..., product_id: _Optional[str] = ..., include_history: _Optional[bool] = ...) -> None: ...

class ListFeeSchedulesResponse(_message.Message):
    __slots__ = ("schedules",)
    SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    schedules: _containers.RepeatedCompositeFieldContainer[FeeSchedule]
    def __init__(self, schedules: _Optional[_Iterable[_Union[FeeSchedule, _Mapping]]] = ...) -> None: ...

class GetOperatorReportRequest(_message.Message):
    __slots__ = ("operator_id", "year")
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    operator_id: str
    year: int
    def __init__(self, operator_id: _Optional[str] = ..., year: _Optional[int] = ...) -> None: ...

class OperatorMonth(_message.Message):
    __slots__ = ("period", "revenue_fen", "calls", "public_interest_calls_free", "true_up_fen")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FEN_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_INTEREST_CALLS_FREE_FIELD_NUMBER: _ClassVar[int]
    TRUE_UP_FEN_FIELD_NUMBER: _ClassVar[int]
    period: str
    revenue_fen: int
    calls: int
    public_interest_calls_free: int
    true_up_fen: int
    def __init__(self, period: _Optional[str] = ..., revenue_fen: _Optional[int] = ..., calls: _Optional[int] = ..., public_interest_calls_free: _Optional[int] = ..., true_up_fen: _Optional[int] = ...) -> None: ...

class GetOperatorReportResponse(_message.Message):
    __slots__ = ("operator_id", "year", "revenue_fen", "calls", "public_interest_calls_free", "allowance_fen", "true_up_fen", "months", "parquet_path", "summary")
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FEN_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_INTEREST_CALLS_FREE_FIELD_NUMBER: _ClassVar[int]
    ALLOWANCE_FEN_FIELD_NUMBER: _ClassVar[int]
    TRUE_UP_FEN_FIELD_NUMBER: _ClassVar[int]
    MONTHS_FIELD_NUMBER: _ClassVar[int]
    PARQUET_PATH_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    operator_id: str
    year: int
    revenue_fen: int
    calls: int
    public_interest_calls_free: int
    allowance_fen: int
    true_up_fen: int
    months: _containers.RepeatedCompositeFieldContainer[OperatorMonth]
    parquet_path: str
    summary: str
    def __init__(self, operator_id: _Optional[str] = ..., year: _Optional[int] = ..., revenue_fen: _Optional[int] = ..., calls: _Optional[int] = ..., public_interest_calls_free: _Optional[int] = ..., allowance_fen: _Optional[int] = ..., true_up_fen: _Optional[int] = ..., months: _Optional[_Iterable[_Union[OperatorMonth, _Mapping]]] = ..., parquet_path: _Optional[str] = ..., summary: _Optional[str] = ...) -> None: ...
