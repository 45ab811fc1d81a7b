"""Debian's `prometheus` binary on loopback, scraping Shuniu's /metrics endpoints (local stack and tests)."""

from __future__ import annotations

import json
import pathlib
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request


def scrape_config(targets: dict[str, str], interval_s: float = 5.0) -> str:
    """A prometheus.yml scraping each job name -> host:port (JSON is valid YAML)."""
    return json.dumps({
        "global": {"scrape_interval": f"{interval_s:g}s", "evaluation_interval": f"{interval_s:g}s"},
        "rule_files": [str(pathlib.Path(__file__).with_name("alerts.yml"))],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}
                           for job, target in sorted(targets.items())],
    }, indent=2)


def query(address: str, expr: str) -> list[dict]:
    """Instant query through a prometheus' HTTP API: the result vector ([{metric, value: [t, "v"]}])."""
    url = f"http://{address}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise RuntimeError(f"query {expr!r} failed: {body}")
    return body["data"]["result"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrometheusServer:
    """One prometheus process with its own config and storage under `root`, listening on 127.0.0.1."""

    def __init__(self, root: pathlib.Path, targets: dict[str, str], interval_s: float = 5.0, port: int = 0) -> None:
        self.root = pathlib.Path(root)
        self.targets, self.interval_s = targets, interval_s
        self.port = port or _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 30.0) -> "PrometheusServer":
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus not found; install Debian's prometheus package (./dev does)")
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "prometheus.yml"
        config.write_text(scrape_config(self.targets, self.interval_s))
        log = open(self.root / "prometheus.log", "ab")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={self.root / 'data'}",
             f"--web.listen-address={self.address}", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout_s
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"prometheus did not become ready:\n{self.log_tail()}")
            time.sleep(0.1)
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.address}/-/ready", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def query(self, expr: str) -> list[dict]:
        return query(self.address, expr)

    def log_tail(self, chars: int = 3000) -> str:
        path = self.root / "prometheus.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
