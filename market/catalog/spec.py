"""Checks of a ProductSpec before registration: pure; each refusal names the field and what is accepted."""

from __future__ import annotations

import re
from collections.abc import Collection

import pyarrow as pa

from shuniu.market._names import GRADE_NAMES, JOB_KIND_NAMES, expected
from shuniu.market.catalog.errors import CatalogError
from shuniu.market.catalog.pricing import check_pricing, operated_public_data
from shuniu.market.catalog.rights import check_rights
from shuniu.market.catalog.verification import check_privacy, check_verification
from shuniu.protos.v1 import catalog_pb2

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_NODE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_TOKEN = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MAX_NAME = 128
_MAX_DESCRIPTION = 4000
_MAX_DOMAIN = 64
_MAX_FILES = 1024
_MAX_COLUMNS = 512
_MAX_PURPOSES = 64
ARROW_TYPE_EXAMPLES = "int64, int32, double, float, bool, string, large_string, binary, date32, timestamp[ms], timestamp[us]"


def arrow_type(text: str) -> pa.DataType | None:
    """The Arrow type named by `text` ("int64", "timestamp[ms]", …), or None when it names none."""
    try:
        return pa.type_for_alias(text)
    except (ValueError, KeyError):
        return None


def _identifier(value: str, field: str, pattern: re.Pattern = _ID, what: str = "1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'") -> None:
    if not pattern.match(value):
        shown = repr(value) if value else "empty"
        raise CatalogError(f"{field} {shown} is malformed; expected {what}")


def check_spec(spec: catalog_pb2.ProductSpec, site_ids: Collection[str]) -> None:
    """Raises CatalogError on the first rule `spec` breaks; `site_ids` are the sites a product may be homed at."""
    _identifier(spec.holder_id, "spec.holder_id")
    if not spec.name.strip() or len(spec.name) > _MAX_NAME:
        raise CatalogError(f"spec.name is empty or has over {_MAX_NAME} characters; expected 1-{_MAX_NAME}")
    if len(spec.description) > _MAX_DESCRIPTION:
        raise CatalogError(f"spec.description has {len(spec.description)} characters; expected at most {_MAX_DESCRIPTION}")
    if spec.category:
        _identifier(spec.category, "spec.category", _TOKEN, "a lowercase code such as energy, logistics, health")
    if spec.grade not in GRADE_NAMES:
        raise CatalogError(f"spec.grade {spec.grade} unknown or unset; expected one of {expected(GRADE_NAMES)}")
    if spec.home_site not in site_ids:
        shown = repr(spec.home_site) if spec.home_site else "empty"
        raise CatalogError(f"spec.home_site {shown} unknown; expected one of {', '.join(sorted(site_ids))}")
    _check_domain_and_files(spec)
    columns = _check_schema(spec)
    for field in ("sensitive_columns", "identifier_columns"):
        _check_column_refs(getattr(spec, field), columns, f"spec.{field}")
    check_privacy(spec, columns)
    check_verification(spec, columns)
    if spec.row_count <= 0:
        raise CatalogError(f"spec.row_count is {spec.row_count}; expected the declared total rows (> 0), "
                           "which verification checks")
    if not _SHA256.match(spec.content_sha256):
        raise CatalogError("spec.content_sha256 is not 64 lowercase hex digits; expected the hex SHA-256 over the "
                           "files' contents in path order, which verification checks")
    check_rights(spec.rights)
    check_pricing(spec.pricing, spec.grade, public_data=operated_public_data(spec))
    _check_uses(spec)
    _check_public_data(spec)


def _check_domain_and_files(spec: catalog_pb2.ProductSpec) -> None:
    if not spec.domain_node_ids:
        raise CatalogError("spec.domain_node_ids is empty; expected the nodes allowed to hold the raw data (数据不出域)")
    if len(spec.domain_node_ids) > _MAX_DOMAIN:
        raise CatalogError(f"spec.domain_node_ids has {len(spec.domain_node_ids)} nodes; expected at most {_MAX_DOMAIN}")
    for i, node_id in enumerate(spec.domain_node_ids):
        _identifier(node_id, f"spec.domain_node_ids[{i}]", _NODE_ID, "a node id (a-z, 0-9, '.', '_', '-')")
    if len(set(spec.domain_node_ids)) != len(spec.domain_node_ids):
        raise CatalogError("spec.domain_node_ids names a node twice; expected each node once")
    if not spec.files:
        raise CatalogError("spec.files is empty; expected the product's Parquet files on nodes of its domain")
    if len(spec.files) > _MAX_FILES:
        raise CatalogError(f"spec.files has {len(spec.files)} files; expected at most {_MAX_FILES}")
    domain = set(spec.domain_node_ids)
    seen: set[tuple[str, str]] = set()
    for i, f in enumerate(spec.files):
        where = f"spec.files[{i}]"
        if f.node_id not in domain:
            raise CatalogError(f"{where}.node_id {f.node_id!r} is outside the data domain; expected one of "
                               f"{', '.join(spec.domain_node_ids)} (raw data never leaves its domain)")
        if not f.path.startswith("/") or not f.path.endswith(".parquet") or "/../" in f.path:
            raise CatalogError(f"{where}.path {f.path!r} is not an absolute path to a .parquet file; "
                               "expected e.g. /data/products/claims-2025.parquet")
        if (f.node_id, f.path) in seen:
            raise CatalogError(f"{where}: {f.path} on {f.node_id} is listed twice; expected each file once per node")
        seen.add((f.node_id, f.path))
        if f.bytes < 0 or f.rows < 0:
            raise CatalogError(f"{where}: bytes {f.bytes} / rows {f.rows}; expected ≥ 0 (0 means not declared)")


def _check_schema(spec: catalog_pb2.ProductSpec) -> set[str]:
    if not spec.schema:
        raise CatalogError("spec.schema is empty; expected the product's columns with their Arrow types")
    if len(spec.schema) > _MAX_COLUMNS:
        raise CatalogError(f"spec.schema has {len(spec.schema)} columns; expected at most {_MAX_COLUMNS}")
    names: set[str] = set()
    for i, column in enumerate(spec.schema):
        where = f"spec.schema[{i}]"
        _identifier(column.name, f"{where}.name", _COLUMN, "a column name (letters, digits, '_'; not starting with a digit)")
        if column.name in names:
            raise CatalogError(f"{where}.name {column.name!r} appears twice; expected unique column names")
        names.add(column.name)
        if arrow_type(column.arrow_type) is None:
            raise CatalogError(f"{where}.arrow_type {column.arrow_type!r} of column {column.name!r} is not an Arrow "
                               f"type; expected one of {ARROW_TYPE_EXAMPLES}")
        for tag in column.tags:
            _identifier(tag, f"{where}.tags", _TOKEN, "a lowercase tag such as biometric, health, id_card_number")
    return names


def _check_column_refs(refs: Collection[str], columns: set[str], field: str) -> None:
    if len(set(refs)) != len(refs):
        raise CatalogError(f"{field} names a column twice; expected each column once")
    for name in refs:
        if name not in columns:
            raise CatalogError(f"{field}: column {name!r} is not in spec.schema; expected one of "
                               f"{', '.join(sorted(columns))}")


def _check_uses(spec: catalog_pb2.ProductSpec) -> None:
    if not spec.allowed_purposes:
        raise CatalogError("spec.allowed_purposes is empty; expected the purpose codes grants may name, "
                           "e.g. credit_assessment, urban_planning")
    if len(spec.allowed_purposes) > _MAX_PURPOSES:
        raise CatalogError(f"spec.allowed_purposes has {len(spec.allowed_purposes)}; expected at most {_MAX_PURPOSES}")
    for i, purpose in enumerate(spec.allowed_purposes):
        _identifier(purpose, f"spec.allowed_purposes[{i}]", _TOKEN, "a lowercase purpose code such as credit_assessment")
    if not spec.allowed_job_kinds:
        raise CatalogError(f"spec.allowed_job_kinds is empty; expected some of {expected(JOB_KIND_NAMES)}")
    for i, kind in enumerate(spec.allowed_job_kinds):
        if kind not in JOB_KIND_NAMES:
            raise CatalogError(f"spec.allowed_job_kinds[{i}] {kind} unknown; expected one of {expected(JOB_KIND_NAMES)}")
    if len(set(spec.allowed_job_kinds)) != len(spec.allowed_job_kinds):
        raise CatalogError("spec.allowed_job_kinds names a kind twice; expected each kind once")


def _check_public_data(spec: catalog_pb2.ProductSpec) -> None:
    if not spec.HasField("public_data"):
        return
    public = spec.public_data
    _identifier(public.source_department_id, "spec.public_data.source_department_id")
    _identifier(public.operator_id, "spec.public_data.operator_id")
    if not 0 <= public.feedback_share_bp <= 10_000:
        raise CatalogError(f"spec.public_data.feedback_share_bp is {public.feedback_share_bp}; expected 0 to 10,000 bp")
