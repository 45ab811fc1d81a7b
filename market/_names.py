"""Short names of the shared enums, for messages, the CLI and JSON specs: `sensitive`, `aggregate`, …"""

from __future__ import annotations

from shuniu.protos.v1 import common_pb2

GRADE_NAMES = {
    common_pb2.CLASSIFICATION_GRADE_PUBLIC: "public",
    common_pb2.CLASSIFICATION_GRADE_INTERNAL: "internal",
    common_pb2.CLASSIFICATION_GRADE_SENSITIVE: "sensitive",
    common_pb2.CLASSIFICATION_GRADE_CORE: "core",
}
JOB_KIND_NAMES = {
    common_pb2.JOB_KIND_AGGREGATE: "aggregate",
    common_pb2.JOB_KIND_VERIFY: "verify",
    common_pb2.JOB_KIND_MODEL: "model",
    common_pb2.JOB_KIND_CUSTOM: "custom",
}
PURPOSE_CATEGORY_NAMES = {
    common_pb2.PURPOSE_CATEGORY_PUBLIC_GOVERNANCE: "public_governance",
    common_pb2.PURPOSE_CATEGORY_PUBLIC_INTEREST: "public_interest",
    common_pb2.PURPOSE_CATEGORY_COMMERCIAL: "commercial",
}


def expected(names: dict[int, str]) -> str:
    """'public (1), internal (2), …': what a message lists as accepted."""
    return ", ".join(f"{name} ({value})" for value, name in names.items())


def name_of(names: dict[int, str], value: int) -> str:
    return names.get(value, f"unknown ({value})")


def value_of(names: dict[int, str], name: str, field: str) -> int:
    """The enum value of a short name (or its number); ValueError names the field and the accepted names."""
    text = name.strip().lower()
    for value, known in names.items():
        if text in (known, str(value)):
            return value
    raise ValueError(f"{field} {name!r} unknown; expected one of {', '.join(names.values())}")
