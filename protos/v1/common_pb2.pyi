from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ComputeClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPUTE_CLASS_UNSPECIFIED: _ClassVar[ComputeClass]
    COMPUTE_CLASS_GENERAL: _ClassVar[ComputeClass]
    COMPUTE_CLASS_AI: _ClassVar[ComputeClass]
    COMPUTE_CLASS_HPC: _ClassVar[ComputeClass]

class Tier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIER_UNSPECIFIED: _ClassVar[Tier]
    TIER_T1: _ClassVar[Tier]
    TIER_T2: _ClassVar[Tier]
    TIER_T3: _ClassVar[Tier]
    TIER_T4: _ClassVar[Tier]

class JobKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_KIND_UNSPECIFIED: _ClassVar[JobKind]
    JOB_KIND_AGGREGATE: _ClassVar[JobKind]
    JOB_KIND_VERIFY: _ClassVar[JobKind]
    JOB_KIND_MODEL: _ClassVar[JobKind]
    JOB_KIND_CUSTOM: _ClassVar[JobKind]

class ClassificationGrade(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CLASSIFICATION_GRADE_UNSPECIFIED: _ClassVar[ClassificationGrade]
    CLASSIFICATION_GRADE_PUBLIC: _ClassVar[ClassificationGrade]
    CLASSIFICATION_GRADE_INTERNAL: _ClassVar[ClassificationGrade]
    CLASSIFICATION_GRADE_SENSITIVE: _ClassVar[ClassificationGrade]
    CLASSIFICATION_GRADE_CORE: _ClassVar[ClassificationGrade]

class PurposeCategory(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PURPOSE_CATEGORY_UNSPECIFIED: _ClassVar[PurposeCategory]
    PURPOSE_CATEGORY_PUBLIC_GOVERNANCE: _ClassVar[PurposeCategory]
    PURPOSE_CATEGORY_PUBLIC_INTEREST: _ClassVar[PurposeCategory]
    PURPOSE_CATEGORY_COMMERCIAL: _ClassVar[PurposeCategory]
COMPUTE_CLASS_UNSPECIFIED: ComputeClass
COMPUTE_CLASS_GENERAL: ComputeClass
COMPUTE_CLASS_AI: ComputeClass
COMPUTE_CLASS_HPC: ComputeClass
TIER_UNSPECIFIED: Tier
TIER_T1: Tier
TIER_T2: Tier
TIER_T3: Tier
TIER_T4: Tier
JOB_KIND_UNSPECIFIED: JobKind
JOB_KIND_AGGREGATE: JobKind
JOB_KIND_VERIFY: JobKind
JOB_KIND_MODEL: JobKind
JOB_KIND_CUSTOM: JobKind
CLASSIFICATION_GRADE_UNSPECIFIED: ClassificationGrade
CLASSIFICATION_GRADE_PUBLIC: ClassificationGrade
CLASSIFICATION_GRADE_INTERNAL: ClassificationGrade
CLASSIFICATION_GRADE_SENSITIVE: ClassificationGrade
CLASSIFICATION_GRADE_CORE: ClassificationGrade
PURPOSE_CATEGORY_UNSPECIFIED: PurposeCategory
PURPOSE_CATEGORY_PUBLIC_GOVERNANCE: PurposeCategory
PURPOSE_CATEGORY_PUBLIC_INTEREST: PurposeCategory
PURPOSE_CATEGORY_COMMERCIAL: PurposeCategory

class Capacity(_message.Message):
    __slots__ = ("cpu_milli", "memory_mb", "gpu")
    CPU_MILLI_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    GPU_FIELD_NUMBER: _ClassVar[int]
    cpu_milli: int
    memory_mb: int
    gpu: int
    def __init__(self, cpu_milli: _Optional[int] = ..., memory_mb: _Optional[int] = ..., gpu: _Optional[int] = ...) -> None: ...

class TimeOfUseBand(_message.Message):
    __slots__ = ("start_hour", "end_hour", "multiplier_bp")
    START_HOUR_FIELD_NUMBER: _ClassVar[int]
    END_HOUR_FIELD_NUMBER: _ClassVar[int]
    MULTIPLIER_BP_FIELD_NUMBER: _ClassVar[int]
    start_hour: int
    end_hour: int
    multiplier_bp: int
    def __init__(self, start_hour: _Optional[int] = ..., end_hour: _Optional[int] = ..., multiplier_bp: _Optional[int] = ...) -> None: ...

class PriceCard(_message.Message):
    __slots__ = ("cpu_core_hour_fen", "memory_gb_hour_fen", "gpu_hour_fen", "bands")
    CPU_CORE_HOUR_FEN_FIELD_NUMBER: _ClassVar[int]
    MEMORY_GB_HOUR_FEN_FIELD_NUMBER: _ClassVar[int]
    GPU_HOUR_FEN_FIELD_NUMBER: _ClassVar[int]
    BANDS_FIELD_NUMBER: _ClassVar[int]
    cpu_core_hour_fen: int
    memory_gb_hour_fen: int
    gpu_hour_fen: int
    bands: _containers.RepeatedCompositeFieldContainer[TimeOfUseBand]
    def __init__(self, cpu_core_hour_fen: _Optional[int] = ..., memory_gb_hour_fen: _Optional[int] = ..., gpu_hour_fen: _Optional[int] = ..., bands: _Optional[_Iterable[_Union[TimeOfUseBand, _Mapping]]] = ...) -> None: ...

class ProductColumns(_message.Message):
    __slots__ = ("product_id", "columns")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    columns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, product_id: _Optional[str] = ..., columns: _Optional[_Iterable[str]] = ...) -> None: ...

class ProductPriceVersion(_message.Message):
    __slots__ = ("product_id", "price_version")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    price_version: int
    def __init__(self, product_id: _Optional[str] = ..., price_version: _Optional[int] = ...) -> None: ...
