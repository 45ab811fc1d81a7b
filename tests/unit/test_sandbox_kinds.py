"""The built-in job kinds (aggregate, verify, model) as pure functions, and how jobs are validated."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shuniu.nodes.sandbox import _child, aggregate_job, custom_job, model_job, verify_job
from shuniu.nodes.sandbox.egress import GROUP_ROWS_COLUMN

RNG = np.random.default_rng(11)
N = 4000
X1, X2 = RNG.normal(size=N), RNG.normal(size=N)
TABLE = pa.table({
    "city": RNG.choice(["Zhengzhou", "Luoyang", "Kaifeng"], N),
    "x1": X1,
    "x2": X2,
    "y": 3.0 + 2.0 * X1 - 1.0 * X2 + RNG.normal(scale=0.5, size=N),
    "bought": (RNG.random(N) < 1.0 / (1.0 + np.exp(-(0.5 + 1.5 * X1)))).astype(np.int64),
})  # fmt: skip


def _run(job, table=TABLE) -> pa.Table:
    return _child._BUILT_IN[job.kind](pa, pc, table, job.args)


def _values(result: pa.Table) -> dict[str, float]:
    return dict(zip(result.column("name").to_pylist(), result.column("value").to_pylist()))


def test_aggregate_computes_each_function_and_group_rows():
    result = _run(aggregate_job(["city"], [("y", "count"), ("y", "sum"), ("y", "mean"), ("y", "min"), ("y", "max")]))
    assert result.column_names == ["city", "y_count", "y_sum", "y_mean", "y_min", "y_max", GROUP_ROWS_COLUMN]
    for row in result.to_pylist():
        ys = TABLE.filter(pc.equal(TABLE.column("city"), row["city"])).column("y").to_numpy()
        assert row["y_count"] == row[GROUP_ROWS_COLUMN] == len(ys)
        assert row["y_sum"] == pytest.approx(ys.sum()) and row["y_mean"] == pytest.approx(ys.mean())
        assert (row["y_min"], row["y_max"]) == (ys.min(), ys.max())


def test_aggregate_percentiles_are_close_to_exact():
    result = _run(aggregate_job(["city"], [("y", "p50"), ("y", "p90"), ("y", "p99"), ("x1", "p50")]))
    assert result.column_names == ["city", "y_p50", "y_p90", "y_p99", "x1_p50", GROUP_ROWS_COLUMN]
    for row in result.to_pylist():
        ys = TABLE.filter(pc.equal(TABLE.column("city"), row["city"])).column("y").to_numpy()
        spread = ys.max() - ys.min()
        for q in (50, 90, 99):
            assert abs(row[f"y_p{q}"] - np.percentile(ys, q)) < 0.01 * spread


def test_aggregate_without_keys_is_one_row():
    result = _run(aggregate_job([], [("y", "sum")]))
    assert result.num_rows == 1 and result.column(GROUP_ROWS_COLUMN).to_pylist() == [N]


def test_linear_model_recovers_its_coefficients():
    values = _values(_run(model_job("linear", ["x1", "x2"], "y")))
    assert values["intercept"] == pytest.approx(3.0, abs=0.05)
    assert values["x1"] == pytest.approx(2.0, abs=0.05) and values["x2"] == pytest.approx(-1.0, abs=0.05)
    assert values["n"] == N and values["rmse"] == pytest.approx(0.5, rel=0.05) and 0.9 < values["r2"] < 1.0


def test_logistic_model_recovers_its_coefficients():
    result = _run(model_job("logistic", ["x1"], "bought"))
    values = _values(result)
    assert values["intercept"] == pytest.approx(0.5, abs=0.15) and values["x1"] == pytest.approx(1.5, abs=0.15)
    assert 0.6 < values["accuracy"] < 0.9 and 0.3 < values["log_loss"] < 0.7
    assert set(result.column("role").to_pylist()) == {"coefficient", "metric"}
    assert result.column(GROUP_ROWS_COLUMN).to_pylist() == [N] * result.num_rows


def test_model_skips_rows_with_nulls():
    table = pa.table({"x": [1.0, 2.0, None, 4.0, 5.0], "y": [2.0, 4.0, 6.0, None, 10.0]})
    values = _values(_run(model_job("linear", ["x"], "y"), table))
    assert values["n"] == 3 and values["x"] == pytest.approx(2.0) and values["intercept"] == pytest.approx(0.0, abs=1e-9)


def test_logistic_model_refuses_a_target_that_is_not_zero_or_one():
    with pytest.raises(ValueError, match="0 or 1"):
        _run(model_job("logistic", ["x1"], "y"))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-100, 100), st.floats(-100, 100)), min_size=3, max_size=50))
def test_linear_model_equals_least_squares(points):
    table = pa.table({"x": [p[0] for p in points], "y": [p[1] for p in points]})
    values = _values(_run(model_job("linear", ["x"], "y"), table))
    design = np.column_stack([np.ones(len(points)), table.column("x").to_numpy()])
    expected = np.linalg.lstsq(design, table.column("y").to_numpy(), rcond=None)[0]
    assert [values["intercept"], values["x"]] == pytest.approx(expected.tolist(), abs=1e-6)


def test_verify_answers_yes_or_no():
    job = verify_job([[("city", "==", "Luoyang")], [("city", "==", "Anyang")], [("x1", ">", 100.0)]])
    assert _run(job).column("holds").to_pylist() == [True, False, False]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: aggregate_job(["city"], [("y", "median")]), "unknown"),
        (lambda: aggregate_job(["city"], [("y", "p100")]), "unknown"),
        (lambda: aggregate_job(["city"], [("y", "p0")]), "unknown"),
        (lambda: aggregate_job(["city"], []), "at least one"),
        (lambda: aggregate_job(["city"], [("y", "sum"), ("y", "sum")]), "once"),
        (lambda: model_job("forest", ["x1"], "y"), "unknown"),
        (lambda: model_job("linear", [], "y"), "features"),
        (lambda: model_job("linear", ["y"], "y"), "features"),
        (lambda: model_job("logistic", ["x1"], "y", max_iterations=0), "max_iterations"),
        (lambda: verify_job([[("x1", "~", 1)]]), "unknown"),
        (lambda: verify_job([[]]), "at least one condition"),
    ],
    ids=["unknown-function", "p100", "p0", "no-aggregation", "repeated-pair", "unknown-model", "no-features",
         "target-among-features", "zero-iterations", "unknown-op", "empty-claim"],
)  # fmt: skip
def test_bad_jobs_are_refused_with_the_rule(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_custom_job_carries_its_code():
    assert custom_job("def run(t):\n    return t\n").header()["code"].startswith("def run")
