"""The sandbox runner's series on the live path: start-up, runs by outcome, kills and egress denials by reason."""

from __future__ import annotations

import pyarrow as pa
import pytest

from shuniu.monitoring import metrics
from shuniu.nodes.sandbox import EgressPolicy, SandboxLimits, SandboxRunner, SandboxStatus, custom_job, sandbox_available

pytestmark = pytest.mark.skipif(not sandbox_available(), reason="bubblewrap cannot run here")

_WATCHED = {
    "denied": ("shuniu_egress_denials_total", {"reason": "SENSITIVE_COLUMN"}),
    "killed": ("shuniu_sandbox_kills_total", {"reason": "oversize"}),
    "runs denied": ("shuniu_sandbox_runs_total", {"kind": "custom", "state": "egress_denied"}),
    "runs oversize": ("shuniu_sandbox_runs_total", {"kind": "custom", "state": "oversize"}),
    "started": ("shuniu_sandbox_startup_seconds_count", {"kind": "custom"}),
    "bytes in": ("shuniu_sandbox_input_bytes_total", {}),
}


def _values() -> dict[str, float]:
    return {what: metrics.NODE.get_sample_value(name, labels) or 0.0 for what, (name, labels) in _WATCHED.items()}


def test_an_egress_denial_and_an_oversize_output_are_counted_by_reason():
    runner = SandboxRunner(SandboxLimits(max_output_bytes=1 << 20, wall_timeout_s=8.0))
    table = pa.table({"city": ["Zhengzhou", "Luoyang"] * 10, "phone": [f"1380000{i:04d}" for i in range(20)]})
    policy = EgressPolicy(min_group_rows=1, max_rows=100_000)
    before = _values()
    denied = runner.run(custom_job("def run(t):\n    return t.select(['phone'])"), table, policy,
                        sensitive_columns=["phone"])
    oversize = runner.run(custom_job("import pyarrow as pa\ndef run(t):\n    return pa.table({'b': ['x' * 1000] * 5000})"),
                          table, policy)
    assert (denied.status, oversize.status) == (SandboxStatus.EGRESS_DENIED, SandboxStatus.OVERSIZE)
    after = _values()
    moved = {what: after[what] - before[what] for what in _WATCHED}
    assert moved.pop("bytes in") > 0
    assert moved == {"denied": 1, "killed": 1, "runs denied": 1, "runs oversize": 1, "started": 2}
    assert metrics.NODE.get_sample_value("shuniu_sandbox_runs_active", {}) == 0
