"""Red team, what an answer may be: custom code in a real sandbox that hides raw values in the answer's
shape (nested types, names, metadata), in transforms (reversed, encoded, split, shifted, scaled), and in
how a refusal reads (its text, the exit status, a row count). Each must be refused, or released clean,
and nothing the buyer is handed may hold a raw value.
"""

from __future__ import annotations

import dataclasses

import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from test_sandbox_redteam import IDENTIFIERS, LABEL_PREFIX, LIMITS, SENSITIVE, TABLE, _attack

from shuniu.nodes import job_runner
from shuniu.nodes.sandbox import SandboxRunner, SandboxStatus, sandbox_available, wait_sandboxes_gone
from shuniu.nodes.sandbox.runner import CUSTOM_FAILURE
from shuniu.protos.v1 import common_pb2, grants_pb2, jobs_pb2, runs_pb2

pytestmark = pytest.mark.skipif(not sandbox_available(), reason="bubblewrap cannot run here")

IDS = "t.column('enterprise_id')"


@pytest.fixture(autouse=True)
def runner():
    """These attacks are about what leaves, not time: a wall clock long enough for a loaded machine's cold start."""
    yield SandboxRunner(dataclasses.replace(LIMITS, wall_timeout_s=40.0))
    survivors = wait_sandboxes_gone(LABEL_PREFIX, timeout_s=2.0)
    assert survivors == [], f"sandbox processes outlived the test: {survivors}"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (f"return pa.table({{'v': pa.array([{IDS}.to_pylist()])}})", "OUTPUT_TYPE"),
        (f"return pa.table({{'v': pc.make_struct({IDS}, t.column('kwh'), field_names=['a', 'b'])}})", "OUTPUT_TYPE"),
        (f"return pa.table({{'v': pc.dictionary_encode({IDS})}})", "OUTPUT_TYPE"),
        (f"return pa.table({{'v': {IDS}.cast(pa.binary())}})", "OUTPUT_TYPE"),
        ("return pa.table({'v': pa.array([[('k', 1)]], pa.map_(pa.string(), pa.int64()))})", "OUTPUT_TYPE"),
        (f"return pa.table({{{IDS}[3].as_py(): [1.5]}})", "RAW_VALUE_LEAK"),
        (f"return pa.table({{'c_' + {IDS}[3].as_py(): [1.5]}})", "DISGUISED_VALUE_LEAK"),
        (f"return pa.Table.from_arrays([pa.array([1.5])] * 80, names=['c' + v for v in {IDS}.to_pylist()[:80]])",
         "OUTPUT_COLUMNS"),
        (f"return pa.table({{'v': pc.utf8_reverse({IDS})}})", "DISGUISED_VALUE_LEAK"),
        (f"return pa.table({{'v': [base64.b64encode(v.encode()).decode() for v in {IDS}.to_pylist()]}})",
         "DISGUISED_VALUE_LEAK"),
        (f"return pa.table({{'v': [v.encode().hex() for v in {IDS}.to_pylist()]}})", "DISGUISED_VALUE_LEAK"),
        ("return pa.table({'v': [hex(v) for v in t.column('id_number').to_pylist()]})", "DISGUISED_VALUE_LEAK"),
        (f"return pa.table({{'a': pc.utf8_slice_codeunits({IDS}, 0, 5), 'k': t.column('kwh'), "
         f"'b': pc.utf8_slice_codeunits({IDS}, 5)}})", "DISGUISED_VALUE_LEAK"),
        ("return pa.table({'hi': pc.divide(t.column('id_number'), 10**9), 'lo': pc.subtract(t.column('id_number'), "
         "pc.multiply(pc.divide(t.column('id_number'), 10**9), 10**9))})", "DISGUISED_VALUE_LEAK"),
        (f"return pa.table({{'v': [str({IDS}.to_pylist())]}})", "DISGUISED_VALUE_LEAK"),
        ("return pa.table({'v': pc.add(t.column('id_number'), 12345)})", "DISGUISED_VALUE_LEAK"),
        ("return pa.table({'v': pc.add(t.column('amount_fen'), 1)})", "DISGUISED_VALUE_LEAK"),
        ("return pa.table({'v': pc.multiply(t.column('amount_fen'), 3)})", "DISGUISED_VALUE_LEAK"),
        ("return pa.table({'v': pc.divide(t.column('amount_fen').cast(pa.float64()), 100.0)})", "DISGUISED_VALUE_LEAK"),
        ("return pa.table({'v': pc.subtract(10**10, t.column('amount_fen')).cast(pa.string())})", "DISGUISED_VALUE_LEAK"),
    ],
    ids=["ids-in-a-list-column", "ids-in-a-struct-column", "ids-in-a-dictionary", "ids-as-binary", "a-map-column",
         "id-as-a-column-name", "id-inside-a-column-name", "eighty-columns-named-by-ids", "ids-reversed",
         "ids-base64", "ids-hex", "id-numbers-in-base-16", "ids-split-across-two-columns", "id-numbers-split-in-two",
         "every-id-in-one-cell", "id-numbers-shifted", "amounts-shifted", "amounts-scaled", "amounts-in-yuan",
         "amounts-negated-as-text"],
)  # fmt: skip
def test_an_answer_shaped_to_carry_raw_values_is_refused(runner, body, code):
    outcome = _attack(runner, "import base64\nimport pyarrow.compute as pc\ndef run(t):\n    " + body)
    assert outcome.status is SandboxStatus.EGRESS_DENIED, outcome.reason
    assert outcome.verdict.code == code, outcome.reason
    assert outcome.table is None


def test_schema_and_field_metadata_built_from_rows_are_stripped(runner):
    outcome = _attack(runner, """
        def run(t):
            ids = ",".join(t.column("enterprise_id").to_pylist())
            field = pa.field("rows", pa.int64(), metadata={"ids": ids})
            return pa.table({"rows": [t.num_rows]}, schema=pa.schema([field], metadata={"ids": ids}))
    """)
    assert outcome.status is SandboxStatus.OK, outcome.reason
    schema = outcome.table.schema
    assert schema.metadata is None and schema.field("rows").metadata is None


@pytest.mark.parametrize("exit_call", ["os._exit(int(str(t.column('id_number')[3].as_py())[-2:]))",
                                       "os._exit(77)", "os._exit(12)", "os._exit(0)",
                                       "sys.exit(str(t.column('id_number')[1]))", "raise SystemExit(200)"],
                         ids=["exit-status-from-a-value", "exit-77", "exit-as-no-run", "exit-0-without-output",
                              "exit-with-a-value-as-text", "system-exit-200"])  # fmt: skip
def test_an_exit_status_says_nothing_but_that_the_code_failed(runner, exit_call):
    outcome = _attack(runner, f"import os, sys\ndef run(t):\n    {exit_call}\n")
    assert outcome.status is SandboxStatus.ERROR and outcome.reason == CUSTOM_FAILURE


def _request(tmp_path, source: str) -> runs_pb2.NodeRunRequest:
    path = tmp_path / "input.parquet"
    pq.write_table(TABLE, path)
    spec = jobs_pb2.JobSpec(grant_id="g-1", kind=common_pb2.JOB_KIND_CUSTOM, max_runtime_s=60,
                            custom=jobs_pb2.CustomArgs(source=source))
    data = runs_pb2.RunInput(product_id="p-1", paths=[str(path)], columns=TABLE.column_names,
                             sensitive_columns=SENSITIVE, identifier_columns=IDENTIFIERS)
    return runs_pb2.NodeRunRequest(job_id="job-1", attempt=1, node_id="n-1", buyer_id="b-1", spec=spec, inputs=[data],
                                   egress=grants_pb2.EgressProfile(min_group_size=5, max_output_rows=100))


@pytest.mark.parametrize(
    "source",
    [
        "import pyarrow as pa\ndef run(t):\n    n = int(str(t.column('id_number')[3].as_py())[-3:])\n"
        "    return pa.table({'v': pa.array([[1]] * n, pa.list_(pa.int64()))})\n",
        "import pyarrow as pa\ndef run(t):\n    n = int(str(t.column('amount_fen')[1].as_py())[-3:]) + 100\n"
        "    return pa.table({'v': [0.5] * n})\n",
        "import pyarrow as pa\ndef run(t):\n    return pa.table({t.column('enterprise_id')[5].as_py(): [1.5]})\n",
        "def run(t):\n    raise ValueError(str(t.column('id_number').to_pylist()))\n",
    ],
    ids=["nested-rows-counted-by-a-value", "too-many-rows-counted-by-a-value", "name-from-a-value", "exception-text"],
)  # fmt: skip
def test_what_the_node_hands_the_exchange_holds_no_value_name_or_count(tmp_path, source):
    try:
        result = job_runner.execute(_request(tmp_path, source))
    finally:
        job_runner.close_warm_sandbox()
    assert result.state in (jobs_pb2.JOB_STATE_EGRESS_DENIED, jobs_pb2.JOB_STATE_FAILED), result.reason
    assert result.egress.output_rows == 0 and result.egress.output_bytes == 0 and not result.output_ipc
    assert all(not v.column for v in result.egress.violations)
    text = str(result)  # every field: reason, violations, metrics
    raw = [str(v) for name in SENSITIVE + IDENTIFIERS for v in TABLE.column(name).to_pylist()]
    assert not [v for v in raw if v in text], "a raw value reached the node's result"
    counts = [str(int(str(TABLE.column("id_number")[3].as_py())[-3:])),  # 757 rows
              str(int(str(TABLE.column("amount_fen")[1].as_py())[-3:]) + 100)]  # 655 rows, over the cap of 100
    assert not any(f" {c} " in f" {result.reason} " or c in "".join(v.detail for v in result.egress.violations)
                   for c in counts)


def test_a_released_answer_is_stored_as_the_contract_shapes_it(tmp_path):
    source = ("import pyarrow as pa\ndef run(t):\n    g = t.group_by('city').aggregate([('kwh', 'sum')])\n"
              "    g = g.filter(pa.compute.not_equal(g.column('city'), 'Jiyuan'))\n"
              "    return g.replace_schema_metadata({'rows': str(t.column('id_number').to_pylist())})\n")
    try:
        result = job_runner.execute(_request(tmp_path, source))
    finally:
        job_runner.close_warm_sandbox()
    assert result.state == jobs_pb2.JOB_STATE_SUCCEEDED, result.reason
    released = ipc.open_stream(result.output_ipc).read_all()
    assert released.schema.metadata is None and sorted(released.column_names) == ["city", "kwh_sum"]
    assert b"410102" not in result.output_ipc
