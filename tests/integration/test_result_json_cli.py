"""`shuniu run --json` and `shuniu jobs result --json` end to end, with every type an answer can hold."""

from __future__ import annotations

import json

from test_jobs import _shuniu, market  # noqa: F401  (the listed public product, its grant, the plane)

CODE = '''
import datetime, decimal
import pyarrow as pa

def run(table):
    n = table.num_rows
    return pa.table({
        "rows": pa.array([n], pa.int32()),
        "share": pa.array([0.25], pa.float32()),
        "nothing": pa.array([float("nan")]),
        "ok": [n > 0],
        "label": ["all cities"],
        "fen": pa.array([decimal.Decimal("1234.56")], pa.decimal128(10, 2)),
        "day": pa.array([datetime.date(2026, 12, 7)]),
        "at": pa.array([datetime.datetime(2026, 12, 7, 8, 30, 0, 250000)], pa.timestamp("ms")),
        "none": pa.array([None], pa.string()),
    })
'''
EXPECTED = {"rows": 600, "share": 0.25, "nothing": "nan", "ok": True, "label": "all cities", "fen": "1234.56",
            "day": "2026-12-07", "at": "2026-12-07T08:30:00.250000+00:00", "none": None}


def test_run_and_jobs_result_print_every_answer_type_as_json(market, tmp_path):  # noqa: F811
    plane, product, grant = market
    code = tmp_path / "types.py"
    code.write_text(CODE)
    ran = _shuniu("run", "--addr", plane.address, "--grant", grant.grant_id, "--product", product.product_id,
                  "--kind", "custom", "--code", str(code), "--anchor", "xinyang", "--max-tier", "T1", "--json")
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert json.loads(ran.stdout) == [EXPECTED]
    listed = json.loads(_shuniu("jobs", "ls", "--addr", plane.address, "--state", "succeeded", "--json").stdout)
    job_id = listed["jobs"][0]["job_id"]
    result = _shuniu("jobs", "result", job_id, "--addr", plane.address, "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == [EXPECTED]
