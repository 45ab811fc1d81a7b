"""Verification of a data product's files on the node that holds them: schema, row count, content hash.

A node verifies only the product's own declaration against what it holds; it reads Parquet
metadata for the schema and row counts and streams the bytes once for the hash, so verifying
never loads a product into memory.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from shuniu.protos.v1 import catalog_pb2

_HASH_CHUNK_BYTES = 1 << 20


def content_sha256(paths: Iterable[str]) -> str:
    """Hex SHA-256 over the files' contents, in path order: what a product declares and a node checks."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        with open(path, "rb") as f:
            while chunk := f.read(_HASH_CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()


def product_paths(spec: catalog_pb2.ProductSpec) -> list[str]:
    """The product's distinct file paths, in path order (a file may be replicated on several domain nodes)."""
    return sorted({f.path for f in spec.files})


def holds_all_files(spec: catalog_pb2.ProductSpec, node_id: str) -> bool:
    """Whether the product lists every one of its files on `node_id`, so that this node can verify it alone."""
    return node_id in spec.domain_node_ids and {f.path for f in spec.files if f.node_id == node_id} == set(product_paths(spec))


def _declared_type(text: str) -> pa.DataType | None:
    try:
        return pa.type_for_alias(text)
    except (ValueError, KeyError):
        return None


def schema_mismatches(declared: Sequence[catalog_pb2.Column], found: pa.Schema, path: str) -> list[str]:
    """How a file's Arrow schema differs from the declared columns, one finding per column."""
    out = []
    names = set()
    for column in declared:
        names.add(column.name)
        index = found.get_field_index(column.name)
        if index < 0:
            out.append(f"schema: column {column.name!r} missing in {path}")
            continue
        want, got = _declared_type(column.arrow_type), found.field(index).type
        if want != got:
            out.append(f"schema: column {column.name!r} declared {column.arrow_type}, found {got} in {path}")
    for name in found.names:
        if name not in names:
            out.append(f"schema: column {name!r} in {path} is not declared")
    return out


def _null_counts(meta: pq.FileMetaData) -> dict[str, int | None]:
    """Nulls per top-level column from the row-group statistics; None where a writer left them out."""
    counts: dict[str, int | None] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            name = chunk.path_in_schema.split(".")[0]
            stats = chunk.statistics
            known = stats is not None and stats.has_null_count
            prior = counts.get(name, 0)
            counts[name] = None if prior is None or not known else prior + stats.null_count
    return counts


def verify_product(spec: catalog_pb2.ProductSpec, node_id: str, now_ms: int | None = None) -> catalog_pb2.ProductVerification:
    """Checks the product's files held on `node_id` against its declaration; mismatches are findings, not errors."""
    findings: list[str] = []
    schema_ok = True
    rows = 0
    present: list[str] = []
    declared_file = {f.path: f for f in spec.files if f.node_id == node_id}
    for path in product_paths(spec):
        if path not in declared_file or not os.path.isfile(path):
            findings.append(f"files: {path} missing on {node_id}")
            continue
        present.append(path)
        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as err:
            findings.append(f"files: {path} is not a readable Parquet file ({err})")
            schema_ok = False
            continue
        file_rows = parquet.metadata.num_rows
        rows += file_rows
        mismatched = schema_mismatches(spec.schema, parquet.schema_arrow, path)
        nulls = _null_counts(parquet.metadata)
        for column in spec.schema:
            if not column.nullable and nulls.get(column.name):
                mismatched.append(f"schema: column {column.name!r} declared not nullable, has {nulls[column.name]} nulls "
                                  f"in {path}")
        schema_ok &= not mismatched
        findings += mismatched
        declared = declared_file[path]
        if declared.rows and declared.rows != file_rows:
            findings.append(f"files: {path} rows declared {declared.rows}, found {file_rows}")
        size = os.path.getsize(path)
        if declared.bytes and declared.bytes != size:
            findings.append(f"files: {path} bytes declared {declared.bytes}, found {size}")
    if rows != spec.row_count:
        findings.append(f"row_count: declared {spec.row_count}, found {rows}")
    digest = content_sha256(present)
    if digest != spec.content_sha256:
        findings.append(f"content_sha256: declared {spec.content_sha256[:12]}…, found {digest[:12]}…")
    return catalog_pb2.ProductVerification(
        node_id=node_id, schema_matches=schema_ok, row_count=rows, content_sha256=digest, ok=not findings,
        mismatch="; ".join(findings), verified_unix_ms=int(time.time() * 1000) if now_ms is None else now_ms,
    )
