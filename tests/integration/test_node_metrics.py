"""A node's /metrics sums its processes: workers writing multiprocess files, and the agent itself."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_prometheus import _scrape

from shuniu.monitoring import exporter, metrics
from shuniu.nodes.sandbox import sandbox_available
from shuniu.protos.v1 import common_pb2, jobs_pb2, runs_pb2

# A worker: increments the node's metrics (and one of the control plane's, which must not show),
# then stays alive until its stdin closes, or exits at once.
_WORKER = textwrap.dedent("""
    import sys
    from shuniu.monitoring import metrics
    metrics.SANDBOX_RUNS.labels("aggregate", "ok").inc(3)
    metrics.SANDBOX_STARTUP.labels("aggregate").observe(0.02)
    metrics.SANDBOX_ACTIVE.inc()
    metrics.JOB_TRANSITIONS.labels("succeeded").inc()
    print("ready", flush=True)
    if sys.argv[1] == "stay":
        sys.stdin.read()
""")


@pytest.fixture
def node_metrics(tmp_path):
    """A node exporter over an empty multiprocess directory: (directory, port)."""
    directory = exporter.multiprocess_dir(tmp_path / "node-metrics")
    server, port = exporter.serve_node_metrics(directory, 0)
    yield directory, port
    server.shutdown()
    server.server_close()


def _worker(directory: pathlib.Path, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _WORKER, mode], env={**os.environ, exporter.MULTIPROC_ENV: str(directory)},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


RUNS = ("shuniu_sandbox_runs_total", (("kind", "aggregate"), ("state", "ok")))
STARTUP_COUNT = ("shuniu_sandbox_startup_seconds_count", (("kind", "aggregate"),))
STARTUP_SUM = ("shuniu_sandbox_startup_seconds_sum", (("kind", "aggregate"),))
ACTIVE = ("shuniu_sandbox_runs_active", ())


def test_two_processes_sum_and_a_dead_process_leaves_the_live_gauge(node_metrics):
    directory, port = node_metrics
    # The serving process adds its own values: here the test process's, which earlier tests that ran
    # sandboxes in it have moved. What the workers add is measured from there.
    before = _scrape(port)
    added = lambda samples, key: samples.get(key, 0.0) - before.get(key, 0.0)  # noqa: E731
    gone, alive = _worker(directory, "exit"), _worker(directory, "stay")
    try:
        gone.wait(10)
        samples = _scrape(port)
        assert added(samples, RUNS) == 6
        assert added(samples, STARTUP_COUNT) == 2 and added(samples, STARTUP_SUM) == pytest.approx(0.04)
        assert added(samples, ACTIVE) == 1, "the exited worker's in-progress run must not count"
        assert not any(name.startswith("shuniu_job_") for name, _ in samples), "the control plane's series leaked"
        assert not list(directory.glob(f"gauge_livesum_{gone.pid}.db")), "the dead worker's gauge file stays"
    finally:
        alive.stdin.close()
        alive.wait(10)
    samples = _scrape(port)
    assert added(samples, RUNS) == 6, "a counter of exited workers never goes backwards"
    assert added(samples, ACTIVE) == 0


def test_the_serving_process_adds_its_own_agent_series_once(node_metrics):
    directory, port = node_metrics
    site = metrics.agent_site("luoyang")
    key = ("shuniu_agent_heartbeats_sent_total", (("site", site),))
    before = _scrape(port).get(key, 0.0)
    metrics.AGENT_HEARTBEATS.labels(site).inc(5)
    proc = subprocess.run([sys.executable, "-c", "from shuniu.monitoring import metrics\n"
                           f"metrics.AGENT_HEARTBEATS.labels({site!r}).inc(2)"],
                          env={**os.environ, exporter.MULTIPROC_ENV: str(directory)}, timeout=30)
    assert proc.returncode == 0
    assert _scrape(port)[key] == before + 7


def test_a_gauge_that_cannot_be_summed_is_refused(tmp_path):
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    Gauge("shuniu_x", "a gauge summed over processes makes no sense as a max", multiprocess_mode="max",
          registry=registry)
    with pytest.raises(ValueError, match="livesum"):
        exporter.NodeCollector(tmp_path, registry)


@pytest.mark.skipif(not sandbox_available(), reason="bubblewrap cannot run here")
def test_a_sandbox_run_in_a_ray_worker_shows_on_the_node_metrics(ray_cluster, redis_url, node_metrics, tmp_path):
    import ray

    from shuniu.nodes.ray_node import node_resource
    from shuniu.scheduler.dispatch.ray_dispatcher import _stream_entry_point

    directory, port = node_metrics
    before = _scrape(port)
    path = tmp_path / "power.parquet"
    pq.write_table(pa.table({"city": ["zz", "ly"] * 50, "kwh": [float(i) for i in range(100)]}), path)
    spec = jobs_pb2.JobSpec(kind=common_pb2.JOB_KIND_AGGREGATE, grant_id="g-1")
    spec.aggregate.group_by.append("city")
    spec.aggregate.aggregations.add(function=jobs_pb2.AGGREGATE_FUNCTION_COUNT, output_name="n")
    request = runs_pb2.NodeRunRequest(
        job_id="job-metrics-1", attempt=1, node_id="ray-n1", buyer_id="b-1", spec=spec, site="zhengzhou",
        tier=common_pb2.TIER_T1, compute_center="cc", compute_class=common_pb2.COMPUTE_CLASS_GENERAL,
        purpose="research", purpose_category=3)
    request.inputs.add(product_id="p-1", paths=[str(path)], columns=["city", "kwh"], price_version=1)
    # The raylet's workers would inherit the variable from `ray start`; the session's cluster was
    # started without it, so this run's worker gets it through its runtime environment.
    stream = _stream_entry_point.options(
        resources={node_resource("ray-n1"): 1}, runtime_env={"env_vars": {exporter.MULTIPROC_ENV: str(directory)}},
    ).remote("shuniu.nodes.job_runner:run_job", request.SerializeToString())
    messages = [ray.get(ref, timeout=120) for ref in stream]
    result = runs_pb2.NodeRunResult.FromString(messages[-1])
    assert result.state == jobs_pb2.JOB_STATE_SUCCEEDED, result.reason
    after = _scrape(port)
    assert after[RUNS] == before.get(RUNS, 0) + 1
    assert after[STARTUP_COUNT] == before.get(STARTUP_COUNT, 0) + 1
    assert after[ACTIVE] == 0
    assert after[("shuniu_sandbox_input_bytes_total", ())] > 0
