"""`shuniu analyses …`, `grants apply --analysis` and `plan --analysis` against a real control plane."""

from __future__ import annotations

import json

import pytest
import redis
from test_cli import shuniu

from shuniu.market.analyses import code_sha256
from shuniu.market.catalog import queue_product_write
from shuniu.protos.v1 import catalog_pb2, common_pb2

SOURCE = "import pyarrow as pa\n\ndef run(table, min_kwh, region):\n    return pa.table({'n': [table.num_rows]})\n"


@pytest.fixture
def plane(control_plane, redis_url):
    """A control plane with one listed sensitive product, written through the catalog's store."""
    product = catalog_pb2.Product(product_id="p-power", state=catalog_pb2.PRODUCT_STATE_LISTED, spec=catalog_pb2.ProductSpec(
        holder_id="state-grid-henan", name="power", grade=common_pb2.CLASSIFICATION_GRADE_SENSITIVE,
        schema=[catalog_pb2.Column(name="city", arrow_type="string"), catalog_pb2.Column(name="kwh", arrow_type="double")],
        allowed_purposes=["energy-planning"], allowed_job_kinds=[common_pb2.JOB_KIND_CUSTOM],
        pricing=catalog_pb2.Pricing(unit=catalog_pb2.PRICING_UNIT_PER_CALL, unit_price_fen=1, price_version=1)))
    store = redis.Redis.from_url(redis_url)
    with store.pipeline() as pipe:
        queue_product_write(pipe, product, new_price=True)
        pipe.execute()
    store.close()
    return control_plane


def test_an_analysis_is_proposed_listed_shown_and_approved_from_the_command_line(plane, tmp_path):
    code = tmp_path / "kwh.py"
    code.write_text(SOURCE)
    addr = ("--addr", plane.address)
    proposed = shuniu("analyses", "propose", "--product", "p-power", "--code", str(code), "--output", "n:int64",
                      "--param", "min_kwh:float64:0..5000", "--param", "region:string:north|south", "--json", *addr)
    assert proposed.returncode == 0, proposed.stderr
    analysis = json.loads(proposed.stdout)
    assert analysis["state"] == "ANALYSIS_STATE_PROPOSED" and analysis["spec"]["code_sha256"] == code_sha256(SOURCE)
    assert [p["choices"] for p in analysis["spec"]["parameters"]] == [[], ["north", "south"]]
    aid = analysis["analysis_id"]
    table = shuniu("analyses", "ls", "--product", "p-power", *addr)
    assert table.returncode == 0 and aid in table.stdout and "min_kwh:float64[0..5000]" in table.stdout, table.stdout
    approved = shuniu("analyses", "approve", aid, "--json", *addr)
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["state"] == "ANALYSIS_STATE_APPROVED"
    shown = shuniu("analyses", "show", aid, *addr)
    assert shown.returncode == 0 and "def run(table, min_kwh, region)" in shown.stdout
    listing = json.loads(shuniu("analyses", "ls", "--state", "approved", "--json", *addr).stdout)
    assert [a["analysis_id"] for a in listing["analyses"]] == [aid]
    grant = shuniu("grants", "apply", "--buyer", "zz-bank", "--scenario", "power", "--purpose", "energy-planning",
                   "--product", "p-power:city,kwh", "--kind", "custom", "--analysis", aid, "--max-rows", "1000",
                   "--max-calls", "10", "--json", *addr)
    assert grant.returncode == 0, grant.stderr
    assert json.loads(grant.stdout)["spec"]["analysis_ids"] == [aid]


@pytest.mark.parametrize("args, words", [
    (("analyses", "propose", "--product", "p-power", "--code", "CODE", "--output", "n", "--param", "x:int64"),
     "--output 'n' malformed"),
    (("analyses", "propose", "--product", "p-power", "--code", "CODE", "--output", "n:int64", "--param", "x:decimal"),
     "--param 'x:decimal' malformed"),
    (("analyses", "propose", "--product", "p-power", "--code", "CODE", "--output", "n:list<int64>"),
     "INVALID_ARGUMENT"),
    (("analyses", "approve", "an-000000000000-00000000"), "NOT_FOUND"),
    (("analyses", "ls", "--state", "pending"), "--state 'pending' unknown"),
    (("grants", "apply", "--buyer", "zz-bank", "--scenario", "power", "--purpose", "energy-planning", "--product",
      "p-power:city,kwh", "--kind", "custom", "--max-rows", "1000", "--max-calls", "10"), "rule approved-analysis"),
], ids=["output-without-type", "unknown-parameter-type", "nested-output", "unknown-analysis", "unknown-state",
        "custom-grant-without-analysis"])
def test_bad_input_is_refused_with_a_clear_error_and_a_nonzero_exit(plane, tmp_path, args, words):
    code = tmp_path / "kwh.py"
    code.write_text(SOURCE)
    result = shuniu(*[str(code) if a == "CODE" else a for a in args], "--addr", plane.address)
    assert result.returncode != 0 and words in " ".join(result.stderr.split()), result.stderr
