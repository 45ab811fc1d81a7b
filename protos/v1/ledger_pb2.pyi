from shuniu.protos.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AccountKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCOUNT_KIND_UNSPECIFIED: _ClassVar[AccountKind]
    ACCOUNT_KIND_BUYER: _ClassVar[AccountKind]
    ACCOUNT_KIND_HOLDER: _ClassVar[AccountKind]
    ACCOUNT_KIND_COMPUTE_CENTER: _ClassVar[AccountKind]
    ACCOUNT_KIND_EXCHANGE: _ClassVar[AccountKind]
    ACCOUNT_KIND_FEEDBACK_FUND: _ClassVar[AccountKind]
    ACCOUNT_KIND_SUBSIDY: _ClassVar[AccountKind]
    ACCOUNT_KIND_EXTERNAL: _ClassVar[AccountKind]

class PostingKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POSTING_KIND_UNSPECIFIED: _ClassVar[PostingKind]
    POSTING_KIND_COMPUTE: _ClassVar[PostingKind]
    POSTING_KIND_DATA: _ClassVar[PostingKind]
    POSTING_KIND_EXCHANGE_FEE: _ClassVar[PostingKind]
    POSTING_KIND_FEEDBACK: _ClassVar[PostingKind]
    POSTING_KIND_VOUCHER: _ClassVar[PostingKind]
    POSTING_KIND_PAYMENT: _ClassVar[PostingKind]
    POSTING_KIND_LATE_ADJUSTMENT: _ClassVar[PostingKind]
    POSTING_KIND_TRUE_UP: _ClassVar[PostingKind]

class VoucherState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VOUCHER_STATE_UNSPECIFIED: _ClassVar[VoucherState]
    VOUCHER_STATE_ACTIVE: _ClassVar[VoucherState]
    VOUCHER_STATE_EXHAUSTED: _ClassVar[VoucherState]
    VOUCHER_STATE_LAPSED: _ClassVar[VoucherState]
ACCOUNT_KIND_UNSPECIFIED: AccountKind
ACCOUNT_KIND_BUYER: AccountKind
ACCOUNT_KIND_HOLDER: AccountKind
ACCOUNT_KIND_COMPUTE_CENTER: AccountKind
ACCOUNT_KIND_EXCHANGE: AccountKind
ACCOUNT_KIND_FEEDBACK_FUND: AccountKind
ACCOUNT_KIND_SUBSIDY: AccountKind
ACCOUNT_KIND_EXTERNAL: AccountKind
POSTING_KIND_UNSPECIFIED: PostingKind
POSTING_KIND_COMPUTE: PostingKind
POSTING_KIND_DATA: PostingKind
POSTING_KIND_EXCHANGE_FEE: PostingKind
POSTING_KIND_FEEDBACK: PostingKind
POSTING_KIND_VOUCHER: PostingKind
POSTING_KIND_PAYMENT: PostingKind
POSTING_KIND_LATE_ADJUSTMENT: PostingKind
POSTING_KIND_TRUE_UP: PostingKind
VOUCHER_STATE_UNSPECIFIED: VoucherState
VOUCHER_STATE_ACTIVE: VoucherState
VOUCHER_STATE_EXHAUSTED: VoucherState
VOUCHER_STATE_LAPSED: VoucherState

class Account(_message.Message):
    __slots__ = ("account_id", "kind", "owner_id", "balance_fen", "debits_fen", "credits_fen", "updated_unix_ms")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FEN_FIELD_NUMBER: _ClassVar[int]
    DEBITS_FEN_FIELD_NUMBER: _ClassVar[int]
    CREDITS_FEN_FIELD_NUMBER: _ClassVar[int]
    UPDATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    kind: AccountKind
    owner_id: str
    balance_fen: int
    debits_fen: int
    credits_fen: int
    updated_unix_ms: int
    def __init__(self, account_id: _Optional[str] = ..., kind: _Optional[_Union[AccountKind, str]] = ..., owner_id: _Optional[str] = ..., balance_fen: _Optional[int] = ..., debits_fen: _Optional[int] = ..., credits_fen: _Optional[int] = ..., updated_unix_ms: _Optional[int] = ...) -> None: ...

class Posting(_message.Message):
    __slots__ = ("posting_id", "batch_id", "kind", "debit_account_id", "credit_account_id", "amount_fen", "period", "job_id", "grant_id", "product_id", "price_version", "record_ids", "voucher_id", "posted_unix_ms", "original_period")
    POSTING_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DEBIT_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CREDIT_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    RECORD_IDS_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_ID_FIELD_NUMBER: _ClassVar[int]
    POSTED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_PERIOD_FIELD_NUMBER: _ClassVar[int]
    posting_id: str
    batch_id: str
    kind: PostingKind
    debit_account_id: str
    credit_account_id: str
    amount_fen: int
    period: str
    job_id: str
    grant_id: str
    product_id: str
    price_version: int
    record_ids: _containers.RepeatedScalarFieldContainer[str]
    voucher_id: str
    posted_unix_ms: int
    original_period: str
    def __init__(self, posting_id: _Optional[str] = ..., batch_id: _Optional[str] = ..., kind: _Optional[_Union[PostingKind, str]] = ..., debit_account_id: _Optional[str] = ..., credit_account_id: _Optional[str] = ..., amount_fen: _Optional[int] = ..., period: _Optional[str] = ..., job_id: _Optional[str] = ..., grant_id: _Optional[str] = ..., product_id: _Optional[str] = ..., price_version: _Optional[int] = ..., record_ids: _Optional[_Iterable[str]] = ..., voucher_id: _Optional[str] = ..., posted_unix_ms: _Optional[int] = ..., original_period: _Optional[str] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ("account_id", "kind", "owner_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    kind: AccountKind
    owner_id: str
    def __init__(self, account_id: _Optional[str] = ..., kind: _Optional[_Union[AccountKind, str]] = ..., owner_id: _Optional[str] = ...) -> None: ...

class GetBalanceResponse(_message.Message):
    __slots__ = ("account", "voucher_available_fen")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_AVAILABLE_FEN_FIELD_NUMBER: _ClassVar[int]
    account: Account
    voucher_available_fen: int
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ..., voucher_available_fen: _Optional[int] = ...) -> None: ...

class ListAccountsRequest(_message.Message):
    __slots__ = ("kind", "owner_id", "page_size", "page_token")
    KIND_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    kind: AccountKind
    owner_id: str
    page_size: int
    page_token: str
    def __init__(self, kind: _Optional[_Union[AccountKind, str]] = ..., owner_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAccountsResponse(_message.Message):
    __slots__ = ("accounts", "next_page_token", "total")
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    accounts: _containers.RepeatedCompositeFieldContainer[Account]
    next_page_token: str
    total: int
    def __init__(self, accounts: _Optional[_Iterable[_Union[Account, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class ListPostingsRequest(_message.Message):
    __slots__ = ("account_id", "job_id", "batch_id", "period", "page_size", "page_token")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    job_id: str
    batch_id: str
    period: str
    page_size: int
    page_token: str
    def __init__(self, account_id: _Optional[str] = ..., job_id: _Optional[str] = ..., batch_id: _Optional[str] = ..., period: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPostingsResponse(_message.Message):
    __slots__ = ("postings", "next_page_token", "total")
    POSTINGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    postings: _containers.RepeatedCompositeFieldContainer[Posting]
    next_page_token: str
    total: int
    def __init__(self, postings: _Optional[_Iterable[_Union[Posting, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class CheckLedgerRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AccountMismatch(_message.Message):
    __slots__ = ("account_id", "stored_fen", "recomputed_fen")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    STORED_FEN_FIELD_NUMBER: _ClassVar[int]
    RECOMPUTED_FEN_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    stored_fen: int
    recomputed_fen: int
    def __init__(self, account_id: _Optional[str] = ..., stored_fen: _Optional[int] = ..., recomputed_fen: _Optional[int] = ...) -> None: ...

class CheckLedgerResponse(_message.Message):
    __slots__ = ("ok", "total_debits_fen", "total_credits_fen", "accounts_checked", "postings_checked", "mismatches", "checked_unix_ms")
    OK_FIELD_NUMBER: _ClassVar[int]
    TOTAL_DEBITS_FEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CREDITS_FEN_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    POSTINGS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    MISMATCHES_FIELD_NUMBER: _ClassVar[int]
    CHECKED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    total_debits_fen: int
    total_credits_fen: int
    accounts_checked: int
    postings_checked: int
    mismatches: _containers.RepeatedCompositeFieldContainer[AccountMismatch]
    checked_unix_ms: int
    def __init__(self, ok: _Optional[bool] = ..., total_debits_fen: _Optional[int] = ..., total_credits_fen: _Optional[int] = ..., accounts_checked: _Optional[int] = ..., postings_checked: _Optional[int] = ..., mismatches: _Optional[_Iterable[_Union[AccountMismatch, _Mapping]]] = ..., checked_unix_ms: _Optional[int] = ...) -> None: ...

class RecordPaymentRequest(_message.Message):
    __slots__ = ("request_id", "account_id", "amount_fen", "reference")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    account_id: str
    amount_fen: int
    reference: str
    def __init__(self, request_id: _Optional[str] = ..., account_id: _Optional[str] = ..., amount_fen: _Optional[int] = ..., reference: _Optional[str] = ...) -> None: ...

class RecordPaymentResponse(_message.Message):
    __slots__ = ("posting", "account")
    POSTING_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    posting: Posting
    account: Account
    def __init__(self, posting: _Optional[_Union[Posting, _Mapping]] = ..., account: _Optional[_Union[Account, _Mapping]] = ...) -> None: ...

class VoucherSpec(_message.Message):
    __slots__ = ("org_id", "amount_fen", "valid_from_unix_ms", "valid_until_unix_ms", "eligible_compute_classes", "eligible_sites", "programme")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    ELIGIBLE_COMPUTE_CLASSES_FIELD_NUMBER: _ClassVar[int]
    ELIGIBLE_SITES_FIELD_NUMBER: _ClassVar[int]
    PROGRAMME_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    amount_fen: int
    valid_from_unix_ms: int
    valid_until_unix_ms: int
    eligible_compute_classes: _containers.RepeatedScalarFieldContainer[_common_pb2.ComputeClass]
    eligible_sites: _containers.RepeatedScalarFieldContainer[str]
    programme: str
    def __init__(self, org_id: _Optional[str] = ..., amount_fen: _Optional[int] = ..., valid_from_unix_ms: _Optional[int] = ..., valid_until_unix_ms: _Optional[int] = ..., eligible_compute_classes: _Optional[_Iterable[_Union[_common_pb2.ComputeClass, str]]] = ..., eligible_sites: _Optional[_Iterable[str]] = ..., programme: _Optional[str] = ...) -> None: ...

class Voucher(_message.Message):
    __slots__ = ("voucher_id", "spec", "state", "used_fen", "remaining_fen", "issued_by", "issued_unix_ms")
    VOUCHER_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    USED_FEN_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FEN_FIELD_NUMBER: _ClassVar[int]
    ISSUED_BY_FIELD_NUMBER: _ClassVar[int]
    ISSUED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    voucher_id: str
    spec: VoucherSpec
    state: VoucherState
    used_fen: int
    remaining_fen: int
    issued_by: str
    issued_unix_ms: int
    def __init__(self, voucher_id: _Optional[str] = ..., spec: _Optional[_Union[VoucherSpec, _Mapping]] = ..., state: _Optional[_Union[VoucherState, str]] = ..., used_fen: _Optional[int] = ..., remaining_fen: _Optional[int] = ..., issued_by: _Optional[str] = ..., issued_unix_ms: _Optional[int] = ...) -> None: ...

class IssueVoucherRequest(_message.Message):
    __slots__ = ("request_id", "spec")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    spec: VoucherSpec
    def __init__(self, request_id: _Optional[str] = ..., spec: _Optional[_Union[VoucherSpec, _Mapping]] = ...) -> None: ...

class IssueVoucherResponse(_message.Message):
    __slots__ = ("voucher",)
    VOUCHER_FIELD_NUMBER: _ClassVar[int]
    voucher: Voucher
    def __init__(self, voucher: _Optional[_Union[Voucher, _Mapping]] = ...) -> None: ...

class ListVouchersRequest(_message.Message):
    __slots__ = ("org_id", "states", "page_size", "page_token")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    states: _containers.RepeatedScalarFieldContainer[VoucherState]
    page_size: int
    page_token: str
    def __init__(self, org_id: _Optional[str] = ..., states: _Optional[_Iterable[_Union[VoucherState, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListVouchersResponse(_message.Message):
    __slots__ = ("vouchers", "next_page_token", "total", "cap_fen", "outstanding_fen")
    VOUCHERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    CAP_FEN_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_FEN_FIELD_NUMBER: _ClassVar[int]
    vouchers: _containers.RepeatedCompositeFieldContainer[Voucher]
    next_page_token: str
    total: int
    cap_fen: int
    outstanding_fen: int
    def __init__(self, vouchers: _Optional[_Iterable[_Union[Voucher, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ..., cap_fen: _Optional[int] = ..., outstanding_fen: _Optional[int] = ...) -> None: ...

class SetVoucherCapRequest(_message.Message):
    __slots__ = ("request_id", "org_id", "cap_fen")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    CAP_FEN_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    org_id: str
    cap_fen: int
    def __init__(self, request_id: _Optional[str] = ..., org_id: _Optional[str] = ..., cap_fen: _Optional[int] = ...) -> None: ...

class SetVoucherCapResponse(_message.Message):
    __slots__ = ("org_id", "cap_fen", "outstanding_fen")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    CAP_FEN_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_FEN_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    cap_fen: int
    outstanding_fen: int
    def __init__(self, org_id: _Optional[str] = ..., cap_fen: _Optional[int] = ..., outstanding_fen: _Optional[int] = ...) -> None: ...
