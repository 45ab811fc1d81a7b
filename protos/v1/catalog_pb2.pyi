from shuniu.protos.v1 import analyses_pb2 as _analyses_pb2
from shuniu.protos.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProductState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRODUCT_STATE_UNSPECIFIED: _ClassVar[ProductState]
    PRODUCT_STATE_REGISTERED: _ClassVar[ProductState]
    PRODUCT_STATE_UNDER_REVIEW: _ClassVar[ProductState]
    PRODUCT_STATE_LISTED: _ClassVar[ProductState]
    PRODUCT_STATE_REJECTED: _ClassVar[ProductState]
    PRODUCT_STATE_DELISTED: _ClassVar[ProductState]

class PricingUnit(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRICING_UNIT_UNSPECIFIED: _ClassVar[PricingUnit]
    PRICING_UNIT_PER_ROW: _ClassVar[PricingUnit]
    PRICING_UNIT_PER_CALL: _ClassVar[PricingUnit]
    PRICING_UNIT_PER_QUERY: _ClassVar[PricingUnit]
    PRICING_UNIT_PER_GIB: _ClassVar[PricingUnit]
    PRICING_UNIT_PER_GRANT: _ClassVar[PricingUnit]
    PRICING_UNIT_PER_PERIOD: _ClassVar[PricingUnit]

class RightsChangeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RIGHTS_CHANGE_KIND_UNSPECIFIED: _ClassVar[RightsChangeKind]
    RIGHTS_CHANGE_KIND_TRANSFER: _ClassVar[RightsChangeKind]
    RIGHTS_CHANGE_KIND_NEW_HOLDER: _ClassVar[RightsChangeKind]
    RIGHTS_CHANGE_KIND_SHARE_CHANGE: _ClassVar[RightsChangeKind]

class CertificateState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CERTIFICATE_STATE_UNSPECIFIED: _ClassVar[CertificateState]
    CERTIFICATE_STATE_VALID: _ClassVar[CertificateState]
    CERTIFICATE_STATE_SUPERSEDED: _ClassVar[CertificateState]
    CERTIFICATE_STATE_REVOKED: _ClassVar[CertificateState]
    CERTIFICATE_STATE_EXPIRED: _ClassVar[CertificateState]
PRODUCT_STATE_UNSPECIFIED: ProductState
PRODUCT_STATE_REGISTERED: ProductState
PRODUCT_STATE_UNDER_REVIEW: ProductState
PRODUCT_STATE_LISTED: ProductState
PRODUCT_STATE_REJECTED: ProductState
PRODUCT_STATE_DELISTED: ProductState
PRICING_UNIT_UNSPECIFIED: PricingUnit
PRICING_UNIT_PER_ROW: PricingUnit
PRICING_UNIT_PER_CALL: PricingUnit
PRICING_UNIT_PER_QUERY: PricingUnit
PRICING_UNIT_PER_GIB: PricingUnit
PRICING_UNIT_PER_GRANT: PricingUnit
PRICING_UNIT_PER_PERIOD: PricingUnit
RIGHTS_CHANGE_KIND_UNSPECIFIED: RightsChangeKind
RIGHTS_CHANGE_KIND_TRANSFER: RightsChangeKind
RIGHTS_CHANGE_KIND_NEW_HOLDER: RightsChangeKind
RIGHTS_CHANGE_KIND_SHARE_CHANGE: RightsChangeKind
CERTIFICATE_STATE_UNSPECIFIED: CertificateState
CERTIFICATE_STATE_VALID: CertificateState
CERTIFICATE_STATE_SUPERSEDED: CertificateState
CERTIFICATE_STATE_REVOKED: CertificateState
CERTIFICATE_STATE_EXPIRED: CertificateState

class Column(_message.Message):
    __slots__ = ("name", "arrow_type", "nullable", "tags", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARROW_TYPE_FIELD_NUMBER: _ClassVar[int]
    NULLABLE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    arrow_type: str
    nullable: bool
    tags: _containers.RepeatedScalarFieldContainer[str]
    description: str
    def __init__(self, name: _Optional[str] = ..., arrow_type: _Optional[str] = ..., nullable: _Optional[bool] = ..., tags: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ...) -> None: ...

class ProductFile(_message.Message):
    __slots__ = ("node_id", "path", "bytes", "rows")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    path: str
    bytes: int
    rows: int
    def __init__(self, node_id: _Optional[str] = ..., path: _Optional[str] = ..., bytes: _Optional[int] = ..., rows: _Optional[int] = ...) -> None: ...

class RightShare(_message.Message):
    __slots__ = ("holder_id", "share_bp")
    HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    SHARE_BP_FIELD_NUMBER: _ClassVar[int]
    holder_id: str
    share_bp: int
    def __init__(self, holder_id: _Optional[str] = ..., share_bp: _Optional[int] = ...) -> None: ...

class Right(_message.Message):
    __slots__ = ("holders",)
    HOLDERS_FIELD_NUMBER: _ClassVar[int]
    holders: _containers.RepeatedCompositeFieldContainer[RightShare]
    def __init__(self, holders: _Optional[_Iterable[_Union[RightShare, _Mapping]]] = ...) -> None: ...

class Rights(_message.Message):
    __slots__ = ("holding", "processing_use", "product_operation")
    HOLDING_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_USE_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_OPERATION_FIELD_NUMBER: _ClassVar[int]
    holding: Right
    processing_use: Right
    product_operation: Right
    def __init__(self, holding: _Optional[_Union[Right, _Mapping]] = ..., processing_use: _Optional[_Union[Right, _Mapping]] = ..., product_operation: _Optional[_Union[Right, _Mapping]] = ...) -> None: ...

class VolumeTier(_message.Message):
    __slots__ = ("from_units", "unit_price_fen")
    FROM_UNITS_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FEN_FIELD_NUMBER: _ClassVar[int]
    from_units: int
    unit_price_fen: int
    def __init__(self, from_units: _Optional[int] = ..., unit_price_fen: _Optional[int] = ...) -> None: ...

class CostBasis(_message.Message):
    __slots__ = ("collection_cost_fen", "processing_cost_fen", "operating_cost_fen", "markup_bp", "expected_units")
    COLLECTION_COST_FEN_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_COST_FEN_FIELD_NUMBER: _ClassVar[int]
    OPERATING_COST_FEN_FIELD_NUMBER: _ClassVar[int]
    MARKUP_BP_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_UNITS_FIELD_NUMBER: _ClassVar[int]
    collection_cost_fen: int
    processing_cost_fen: int
    operating_cost_fen: int
    markup_bp: int
    expected_units: int
    def __init__(self, collection_cost_fen: _Optional[int] = ..., processing_cost_fen: _Optional[int] = ..., operating_cost_fen: _Optional[int] = ..., markup_bp: _Optional[int] = ..., expected_units: _Optional[int] = ...) -> None: ...

class RevenueBasis(_message.Message):
    __slots__ = ("expected_buyer_revenue_fen", "revenue_share_bp", "expected_units")
    EXPECTED_BUYER_REVENUE_FEN_FIELD_NUMBER: _ClassVar[int]
    REVENUE_SHARE_BP_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_UNITS_FIELD_NUMBER: _ClassVar[int]
    expected_buyer_revenue_fen: int
    revenue_share_bp: int
    expected_units: int
    def __init__(self, expected_buyer_revenue_fen: _Optional[int] = ..., revenue_share_bp: _Optional[int] = ..., expected_units: _Optional[int] = ...) -> None: ...

class NegotiatedBasis(_message.Message):
    __slots__ = ("agreement_ref", "party_ids", "agreed_unix_ms")
    AGREEMENT_REF_FIELD_NUMBER: _ClassVar[int]
    PARTY_IDS_FIELD_NUMBER: _ClassVar[int]
    AGREED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    agreement_ref: str
    party_ids: _containers.RepeatedScalarFieldContainer[str]
    agreed_unix_ms: int
    def __init__(self, agreement_ref: _Optional[str] = ..., party_ids: _Optional[_Iterable[str]] = ..., agreed_unix_ms: _Optional[int] = ...) -> None: ...

class PriceBasis(_message.Message):
    __slots__ = ("cost", "revenue", "negotiated")
    COST_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    NEGOTIATED_FIELD_NUMBER: _ClassVar[int]
    cost: CostBasis
    revenue: RevenueBasis
    negotiated: NegotiatedBasis
    def __init__(self, cost: _Optional[_Union[CostBasis, _Mapping]] = ..., revenue: _Optional[_Union[RevenueBasis, _Mapping]] = ..., negotiated: _Optional[_Union[NegotiatedBasis, _Mapping]] = ...) -> None: ...

class Pricing(_message.Message):
    __slots__ = ("unit", "unit_price_fen", "unit_size", "volume_tiers", "public_interest_free", "guided_cap_fen", "basis", "price_version", "effective_unix_ms")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FEN_FIELD_NUMBER: _ClassVar[int]
    UNIT_SIZE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_TIERS_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_INTEREST_FREE_FIELD_NUMBER: _ClassVar[int]
    GUIDED_CAP_FEN_FIELD_NUMBER: _ClassVar[int]
    BASIS_FIELD_NUMBER: _ClassVar[int]
    PRICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    unit: PricingUnit
    unit_price_fen: int
    unit_size: int
    volume_tiers: _containers.RepeatedCompositeFieldContainer[VolumeTier]
    public_interest_free: bool
    guided_cap_fen: int
    basis: PriceBasis
    price_version: int
    effective_unix_ms: int
    def __init__(self, unit: _Optional[_Union[PricingUnit, str]] = ..., unit_price_fen: _Optional[int] = ..., unit_size: _Optional[int] = ..., volume_tiers: _Optional[_Iterable[_Union[VolumeTier, _Mapping]]] = ..., public_interest_free: _Optional[bool] = ..., guided_cap_fen: _Optional[int] = ..., basis: _Optional[_Union[PriceBasis, _Mapping]] = ..., price_version: _Optional[int] = ..., effective_unix_ms: _Optional[int] = ...) -> None: ...

class PublicDataOperation(_message.Message):
    __slots__ = ("source_department_id", "operator_id", "feedback_share_bp", "fee_schedule_id")
    SOURCE_DEPARTMENT_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_SHARE_BP_FIELD_NUMBER: _ClassVar[int]
    FEE_SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    source_department_id: str
    operator_id: str
    feedback_share_bp: int
    fee_schedule_id: str
    def __init__(self, source_department_id: _Optional[str] = ..., operator_id: _Optional[str] = ..., feedback_share_bp: _Optional[int] = ..., fee_schedule_id: _Optional[str] = ...) -> None: ...

class ProductSpec(_message.Message):
    __slots__ = ("holder_id", "name", "description", "category", "grade", "home_site", "domain_node_ids", "files", "schema", "sensitive_columns", "identifier_columns", "row_count", "content_sha256", "rights", "pricing", "allowed_purposes", "allowed_job_kinds", "public_data", "analysis_approver", "privacy", "verification")
    HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    HOME_SITE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    SENSITIVE_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    RIGHTS_FIELD_NUMBER: _ClassVar[int]
    PRICING_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_PURPOSES_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_JOB_KINDS_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_DATA_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_APPROVER_FIELD_NUMBER: _ClassVar[int]
    PRIVACY_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    holder_id: str
    name: str
    description: str
    category: str
    grade: _common_pb2.ClassificationGrade
    home_site: str
    domain_node_ids: _containers.RepeatedScalarFieldContainer[str]
    files: _containers.RepeatedCompositeFieldContainer[ProductFile]
    schema: _containers.RepeatedCompositeFieldContainer[Column]
    sensitive_columns: _containers.RepeatedScalarFieldContainer[str]
    identifier_columns: _containers.RepeatedScalarFieldContainer[str]
    row_count: int
    content_sha256: str
    rights: Rights
    pricing: Pricing
    allowed_purposes: _containers.RepeatedScalarFieldContainer[str]
    allowed_job_kinds: _containers.RepeatedScalarFieldContainer[_common_pb2.JobKind]
    public_data: PublicDataOperation
    analysis_approver: _analyses_pb2.AnalysisApprover
    privacy: PrivacyDefaults
    verification: VerificationPolicy
    def __init__(self, holder_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., category: _Optional[str] = ..., grade: _Optional[_Union[_common_pb2.ClassificationGrade, str]] = ..., home_site: _Optional[str] = ..., domain_node_ids: _Optional[_Iterable[str]] = ..., files: _Optional[_Iterable[_Union[ProductFile, _Mapping]]] = ..., schema: _Optional[_Iterable[_Union[Column, _Mapping]]] = ..., sensitive_columns: _Optional[_Iterable[str]] = ..., identifier_columns: _Optional[_Iterable[str]] = ..., row_count: _Optional[int] = ..., content_sha256: _Optional[str] = ..., rights: _Optional[_Union[Rights, _Mapping]] = ..., pricing: _Optional[_Union[Pricing, _Mapping]] = ..., allowed_purposes: _Optional[_Iterable[str]] = ..., allowed_job_kinds: _Optional[_Iterable[_Union[_common_pb2.JobKind, str]]] = ..., public_data: _Optional[_Union[PublicDataOperation, _Mapping]] = ..., analysis_approver: _Optional[_Union[_analyses_pb2.AnalysisApprover, str]] = ..., privacy: _Optional[_Union[PrivacyDefaults, _Mapping]] = ..., verification: _Optional[_Union[VerificationPolicy, _Mapping]] = ...) -> None: ...

class ColumnBounds(_message.Message):
    __slots__ = ("column", "lower", "upper")
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    LOWER_FIELD_NUMBER: _ClassVar[int]
    UPPER_FIELD_NUMBER: _ClassVar[int]
    column: str
    lower: float
    upper: float
    def __init__(self, column: _Optional[str] = ..., lower: _Optional[float] = ..., upper: _Optional[float] = ...) -> None: ...

class PrivacyDefaults(_message.Message):
    __slots__ = ("epsilon_per_release_milli", "grant_budget_milli", "bounds")
    EPSILON_PER_RELEASE_MILLI_FIELD_NUMBER: _ClassVar[int]
    GRANT_BUDGET_MILLI_FIELD_NUMBER: _ClassVar[int]
    BOUNDS_FIELD_NUMBER: _ClassVar[int]
    epsilon_per_release_milli: int
    grant_budget_milli: int
    bounds: _containers.RepeatedCompositeFieldContainer[ColumnBounds]
    def __init__(self, epsilon_per_release_milli: _Optional[int] = ..., grant_budget_milli: _Optional[int] = ..., bounds: _Optional[_Iterable[_Union[ColumnBounds, _Mapping]]] = ...) -> None: ...

class VerificationRule(_message.Message):
    __slots__ = ("column", "operators", "min_range_width")
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    OPERATORS_FIELD_NUMBER: _ClassVar[int]
    MIN_RANGE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    column: str
    operators: _containers.RepeatedScalarFieldContainer[str]
    min_range_width: float
    def __init__(self, column: _Optional[str] = ..., operators: _Optional[_Iterable[str]] = ..., min_range_width: _Optional[float] = ...) -> None: ...

class VerificationPolicy(_message.Message):
    __slots__ = ("key_columns", "rules", "max_claims_per_key", "period_s")
    KEY_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    MAX_CLAIMS_PER_KEY_FIELD_NUMBER: _ClassVar[int]
    PERIOD_S_FIELD_NUMBER: _ClassVar[int]
    key_columns: _containers.RepeatedScalarFieldContainer[str]
    rules: _containers.RepeatedCompositeFieldContainer[VerificationRule]
    max_claims_per_key: int
    period_s: int
    def __init__(self, key_columns: _Optional[_Iterable[str]] = ..., rules: _Optional[_Iterable[_Union[VerificationRule, _Mapping]]] = ..., max_claims_per_key: _Optional[int] = ..., period_s: _Optional[int] = ...) -> None: ...

class ProductVerification(_message.Message):
    __slots__ = ("node_id", "schema_matches", "row_count", "content_sha256", "ok", "mismatch", "verified_unix_ms")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_MATCHES_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    MISMATCH_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    schema_matches: bool
    row_count: int
    content_sha256: str
    ok: bool
    mismatch: str
    verified_unix_ms: int
    def __init__(self, node_id: _Optional[str] = ..., schema_matches: _Optional[bool] = ..., row_count: _Optional[int] = ..., content_sha256: _Optional[str] = ..., ok: _Optional[bool] = ..., mismatch: _Optional[str] = ..., verified_unix_ms: _Optional[int] = ...) -> None: ...

class Product(_message.Message):
    __slots__ = ("product_id", "spec", "state", "state_reason", "verification", "certificate_id", "certificate_version", "registered_unix_ms", "listed_unix_ms", "updated_unix_ms")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    LISTED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    spec: ProductSpec
    state: ProductState
    state_reason: str
    verification: ProductVerification
    certificate_id: str
    certificate_version: int
    registered_unix_ms: int
    listed_unix_ms: int
    updated_unix_ms: int
    def __init__(self, product_id: _Optional[str] = ..., spec: _Optional[_Union[ProductSpec, _Mapping]] = ..., state: _Optional[_Union[ProductState, str]] = ..., state_reason: _Optional[str] = ..., verification: _Optional[_Union[ProductVerification, _Mapping]] = ..., certificate_id: _Optional[str] = ..., certificate_version: _Optional[int] = ..., registered_unix_ms: _Optional[int] = ..., listed_unix_ms: _Optional[int] = ..., updated_unix_ms: _Optional[int] = ...) -> None: ...

class RegisterProductRequest(_message.Message):
    __slots__ = ("request_id", "spec")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    spec: ProductSpec
    def __init__(self, request_id: _Optional[str] = ..., spec: _Optional[_Union[ProductSpec, _Mapping]] = ...) -> None: ...

class RegisterProductResponse(_message.Message):
    __slots__ = ("product",)
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    product: Product
    def __init__(self, product: _Optional[_Union[Product, _Mapping]] = ...) -> None: ...

class GetProductRequest(_message.Message):
    __slots__ = ("product_id", "price_version")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    price_version: int
    def __init__(self, product_id: _Optional[str] = ..., price_version: _Optional[int] = ...) -> None: ...

class GetProductResponse(_message.Message):
    __slots__ = ("product",)
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    product: Product
    def __init__(self, product: _Optional[_Union[Product, _Mapping]] = ...) -> None: ...

class ListProductsRequest(_message.Message):
    __slots__ = ("holder_id", "states", "grade", "category", "page_size", "page_token")
    HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    holder_id: str
    states: _containers.RepeatedScalarFieldContainer[ProductState]
    grade: _common_pb2.ClassificationGrade
    category: str
    page_size: int
    page_token: str
    def __init__(self, holder_id: _Optional[str] = ..., states: _Optional[_Iterable[_Union[ProductState, str]]] = ..., grade: _Optional[_Union[_common_pb2.ClassificationGrade, str]] = ..., category: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListProductsResponse(_message.Message):
    __slots__ = ("products", "next_page_token", "total")
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    products: _containers.RepeatedCompositeFieldContainer[Product]
    next_page_token: str
    total: int
    def __init__(self, products: _Optional[_Iterable[_Union[Product, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class ReportVerificationRequest(_message.Message):
    __slots__ = ("request_id", "product_id", "verification")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    product_id: str
    verification: ProductVerification
    def __init__(self, request_id: _Optional[str] = ..., product_id: _Optional[str] = ..., verification: _Optional[_Union[ProductVerification, _Mapping]] = ...) -> None: ...

class ReportVerificationResponse(_message.Message):
    __slots__ = ("product",)
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    product: Product
    def __init__(self, product: _Optional[_Union[Product, _Mapping]] = ...) -> None: ...

class ReviewProductRequest(_message.Message):
    __slots__ = ("request_id", "product_id", "approve", "reason", "certificate_valid_until_unix_ms")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_VALID_UNTIL_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    product_id: str
    approve: bool
    reason: str
    certificate_valid_until_unix_ms: int
    def __init__(self, request_id: _Optional[str] = ..., product_id: _Optional[str] = ..., approve: _Optional[bool] = ..., reason: _Optional[str] = ..., certificate_valid_until_unix_ms: _Optional[int] = ...) -> None: ...

class ReviewProductResponse(_message.Message):
    __slots__ = ("product", "certificate")
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    product: Product
    certificate: Certificate
    def __init__(self, product: _Optional[_Union[Product, _Mapping]] = ..., certificate: _Optional[_Union[Certificate, _Mapping]] = ...) -> None: ...

class DelistProductRequest(_message.Message):
    __slots__ = ("request_id", "product_id", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    product_id: str
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., product_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DelistProductResponse(_message.Message):
    __slots__ = ("product",)
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    product: Product
    def __init__(self, product: _Optional[_Union[Product, _Mapping]] = ...) -> None: ...

class UpdateProductPriceRequest(_message.Message):
    __slots__ = ("request_id", "product_id", "pricing")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    PRICING_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    product_id: str
    pricing: Pricing
    def __init__(self, request_id: _Optional[str] = ..., product_id: _Optional[str] = ..., pricing: _Optional[_Union[Pricing, _Mapping]] = ...) -> None: ...

class UpdateProductPriceResponse(_message.Message):
    __slots__ = ("product",)
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    product: Product
    def __init__(self, product: _Optional[_Union[Product, _Mapping]] = ...) -> None: ...

class UpdateProductRightsRequest(_message.Message):
    __slots__ = ("request_id", "product_id", "kind", "rights", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RIGHTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    product_id: str
    kind: RightsChangeKind
    rights: Rights
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., product_id: _Optional[str] = ..., kind: _Optional[_Union[RightsChangeKind, str]] = ..., rights: _Optional[_Union[Rights, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class UpdateProductRightsResponse(_message.Message):
    __slots__ = ("product", "certificate")
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    product: Product
    certificate: Certificate
    def __init__(self, product: _Optional[_Union[Product, _Mapping]] = ..., certificate: _Optional[_Union[Certificate, _Mapping]] = ...) -> None: ...

class Certificate(_message.Message):
    __slots__ = ("certificate_id", "version", "previous_sha256", "product_id", "product_name", "holder_id", "content_sha256", "rights", "grade", "issued_unix_ms", "valid_from_unix_ms", "valid_until_unix_ms", "signing_key_id", "signature", "state", "compact")
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_SHA256_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_NAME_FIELD_NUMBER: _ClassVar[int]
    HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    RIGHTS_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    ISSUED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    COMPACT_FIELD_NUMBER: _ClassVar[int]
    certificate_id: str
    version: int
    previous_sha256: str
    product_id: str
    product_name: str
    holder_id: str
    content_sha256: str
    rights: Rights
    grade: _common_pb2.ClassificationGrade
    issued_unix_ms: int
    valid_from_unix_ms: int
    valid_until_unix_ms: int
    signing_key_id: str
    signature: bytes
    state: CertificateState
    compact: str
    def __init__(self, certificate_id: _Optional[str] = ..., version: _Optional[int] = ..., previous_sha256: _Optional[str] = ..., product_id: _Optional[str] = ..., product_name: _Optional[str] = ..., holder_id: _Optional[str] = ..., content_sha256: _Optional[str] = ..., rights: _Optional[_Union[Rights, _Mapping]] = ..., grade: _Optional[_Union[_common_pb2.ClassificationGrade, str]] = ..., issued_unix_ms: _Optional[int] = ..., valid_from_unix_ms: _Optional[int] = ..., valid_until_unix_ms: _Optional[int] = ..., signing_key_id: _Optional[str] = ..., signature: _Optional[bytes] = ..., state: _Optional[_Union[CertificateState, str]] = ..., compact: _Optional[str] = ...) -> None: ...

class GetCertificateRequest(_message.Message):
    __slots__ = ("certificate_id", "product_id", "version")
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    certificate_id: str
    product_id: str
    version: int
    def __init__(self, certificate_id: _Optional[str] = ..., product_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetCertificateResponse(_message.Message):
    __slots__ = ("certificate",)
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    certificate: Certificate
    def __init__(self, certificate: _Optional[_Union[Certificate, _Mapping]] = ...) -> None: ...

class ListCertificateVersionsRequest(_message.Message):
    __slots__ = ("certificate_id",)
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    certificate_id: str
    def __init__(self, certificate_id: _Optional[str] = ...) -> None: ...

class ListCertificateVersionsResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[Certificate]
    def __init__(self, versions: _Optional[_Iterable[_Union[Certificate, _Mapping]]] = ...) -> None: ...

class VerifyCertificateRequest(_message.Message):
    __slots__ = ("certificate", "compact")
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    COMPACT_FIELD_NUMBER: _ClassVar[int]
    certificate: Certificate
    compact: str
    def __init__(self, certificate: _Optional[_Union[Certificate, _Mapping]] = ..., compact: _Optional[str] = ...) -> None: ...

class VerifyCertificateResponse(_message.Message):
    __slots__ = ("valid", "reasons", "certificate")
    VALID_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    reasons: _containers.RepeatedScalarFieldContainer[str]
    certificate: Certificate
    def __init__(self, valid: _Optional[bool] = ..., reasons: _Optional[_Iterable[str]] = ..., certificate: _Optional[_Union[Certificate, _Mapping]] = ...) -> None: ...

class ExportCatalogRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExportCatalogResponse(_message.Message):
    __slots__ = ("json_ld", "products")
    JSON_LD_FIELD_NUMBER: _ClassVar[int]
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    json_ld: str
    products: int
    def __init__(self, json_ld: _Optional[str] = ..., products: _Optional[int] = ...) -> None: ...
