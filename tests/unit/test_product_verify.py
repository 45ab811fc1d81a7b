"""Verification of a product's files on a node: schema, row count, content hash, per-file declarations."""

from __future__ import annotations

import hashlib
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shuniu.nodes.product_verify import content_sha256, holds_all_files, verify_product
from shuniu.protos.v1 import catalog_pb2

NODE = "n-zz-1"


def _write(path: pathlib.Path, rows: int, kwh_type=pa.int64(), extra: dict | None = None) -> str:
    columns = {"credit_code": pa.array([f"c{i}" for i in range(rows)]), "kwh": pa.array(range(rows), kwh_type),
               **(extra or {})}
    pq.write_table(pa.table(columns), path)
    return str(path)


def _spec(paths: list[str], rows: int, declared_sha: str | None = None) -> catalog_pb2.ProductSpec:
    return catalog_pb2.ProductSpec(
        domain_node_ids=[NODE, "n-zz-2"], files=[catalog_pb2.ProductFile(node_id=NODE, path=p) for p in paths],
        schema=[catalog_pb2.Column(name="credit_code", arrow_type="string"),
                catalog_pb2.Column(name="kwh", arrow_type="int64", nullable=True)],
        row_count=rows, content_sha256=declared_sha or content_sha256(paths))


@pytest.fixture
def two_files(tmp_path) -> list[str]:
    return [_write(tmp_path / "b.parquet", 400), _write(tmp_path / "a.parquet", 600)]


def test_content_hash_is_over_the_files_in_path_order(two_files):
    a, b = sorted(two_files)
    expected = hashlib.sha256(pathlib.Path(a).read_bytes() + pathlib.Path(b).read_bytes()).hexdigest()
    assert content_sha256(two_files) == content_sha256(reversed(two_files)) == expected


def test_matching_files_verify(two_files):
    v = verify_product(_spec(two_files, 1000), NODE, now_ms=7)
    assert (v.ok, v.schema_matches, v.row_count, v.mismatch, v.node_id, v.verified_unix_ms) == (True, True, 1000, "", NODE, 7)


def test_row_count_mismatch_is_named(two_files):
    v = verify_product(_spec(two_files, 1002), NODE)
    assert not v.ok and v.mismatch == "row_count: declared 1002, found 1000"


def test_changed_content_is_caught_by_the_hash(two_files):
    spec = _spec(two_files, 1000)
    _write(pathlib.Path(two_files[0]), 400, extra={"kwh": pa.array(range(1, 401), pa.int64())})
    v = verify_product(spec, NODE)
    assert not v.ok and v.mismatch.startswith("content_sha256: declared ") and v.schema_matches


@pytest.mark.parametrize(("write", "finding"), [
    (lambda p: _write(p, 10, kwh_type=pa.float64()), "schema: column 'kwh' declared int64, found double"),
    (lambda p: pq.write_table(pa.table({"credit_code": ["x"] * 10}), p), "schema: column 'kwh' missing"),
    (lambda p: _write(p, 10, extra={"secret": pa.array([1] * 10)}), "schema: column 'secret' in"),
    (lambda p: pq.write_table(pa.table({"credit_code": ["x"] * 9 + [None], "kwh": list(range(10))}), p),
     "schema: column 'credit_code' declared not nullable, has 1 nulls"),
], ids=["type", "missing-column", "undeclared-column", "nulls-in-non-nullable"])
def test_schema_mismatches_are_named(tmp_path, write, finding):
    path = tmp_path / "x.parquet"
    write(path)
    v = verify_product(_spec([str(path)], 10), NODE)
    assert not v.ok and not v.schema_matches
    assert finding in v.mismatch


def test_missing_and_unreadable_files_are_findings(tmp_path):
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet")
    v = verify_product(_spec([str(tmp_path / "gone.parquet"), str(junk)], 1, declared_sha="00" * 32), NODE)
    assert not v.ok
    assert f"files: {tmp_path / 'gone.parquet'} missing on {NODE}" in v.mismatch
    assert f"files: {junk} is not a readable Parquet file" in v.mismatch


def test_declared_per_file_rows_and_bytes_are_checked(two_files):
    spec = _spec(two_files, 1000)
    spec.files[0].rows, spec.files[1].bytes = 399, 1
    v = verify_product(spec, NODE)
    assert f"files: {two_files[0]} rows declared 399, found 400" in v.mismatch
    assert f"files: {two_files[1]} bytes declared 1, found" in v.mismatch


def test_a_node_can_verify_only_when_it_holds_every_file(two_files):
    spec = _spec(two_files, 1000)
    assert holds_all_files(spec, NODE)
    assert not holds_all_files(spec, "n-zz-2")
    spec.files.add(node_id="n-zz-2", path=two_files[0])
    assert not holds_all_files(spec, "n-zz-2")
    spec.files.add(node_id="n-zz-2", path=two_files[1])
    assert holds_all_files(spec, "n-zz-2")
