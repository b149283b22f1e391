"""A real Prometheus server scrapes the running system; the test reads the numbers back.

gunicorn with two processes (so the web's counters must be summed across processes) and
one model worker (whose metrics go through Redis). Prometheus is the Debian package's
binary, started here with its own config, data directory and loopback port, and killed
after the test. Every wait is bounded by polling Prometheus's query API.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from ops.stack import free_port, port_open, stop_process, wait_until
from testing.live_stack import live_auth_headers, live_upload
from testing.photos import distinct_photo

PROMETHEUS = Path("/usr/bin/prometheus")
TOKEN = "prometheus-test-token"
UPLOADS = 5

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not PROMETHEUS.exists(), reason="needs /usr/bin/prometheus (apt-get install prometheus)"
    ),
]


class Prometheus:
    def __init__(self, work_dir: Path, target_port: int):
        self.port = free_port()
        self.work_dir = work_dir
        self.config = work_dir / "prometheus.yml"
        self.config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: imageclassifier\n"
            "    metrics_path: /metrics\n"
            "    authorization:\n"
            "      type: Bearer\n"
            f"      credentials: {TOKEN}\n"
            "    static_configs:\n"
            f"      - targets: ['127.0.0.1:{target_port}']\n"
        )
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Prometheus:
        log = open(self.work_dir / "prometheus.log", "ab")  # noqa: SIM115 (closed with the process)
        self.process = subprocess.Popen(
            [
                str(PROMETHEUS),
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.work_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.work_dir,
        )
        wait_until(
            lambda: self.process.poll() is not None or port_open("127.0.0.1", self.port),
            timeout=30,
            what="Prometheus to listen",
        )
        assert self.process.poll() is None, (self.work_dir / "prometheus.log").read_text()
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace=10)

    def query(self, promql: str) -> float | None:
        """The query's single value now, or None while it has no result."""
        response = requests.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        response.raise_for_status()
        result = response.json()["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, promql: str, expected: float, timeout: float = 60) -> None:
        """Poll until the query gives `expected` (a scrape or two after the event)."""
        seen = []

        def reached():
            value = self.query(promql)
            seen.append(value)
            return value == expected

        try:
            wait_until(reached, timeout=timeout, interval=0.5, what=f"{promql} == {expected}")
        except Exception:
            raise AssertionError(f"{promql}: wanted {expected}, last values {seen[-5:]}") from None


@pytest.fixture
def prometheus(tmp_path):
    servers = []

    def start(target_port: int) -> Prometheus:
        work_dir = tmp_path / f"prometheus{len(servers)}"
        work_dir.mkdir()
        server = Prometheus(work_dir, target_port)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


def scrape_directly(stack) -> dict[str, float]:
    response = requests.get(
        f"{stack.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert response.status_code == 200
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "imageclassifier_uploads_total":
                key = f"{sample.labels['outcome']}:{sample.labels['reason']}"
                totals[key] = totals.get(key, 0) + sample.value
    return totals


def test_prometheus_scrapes_uploads_batches_and_workers(live_stack, prometheus, user, tmp_path):
    stack = live_stack(
        workers=1,
        web_processes=2,
        METRICS_TOKEN=TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "web-metrics"),
    )
    server = prometheus(stack.config.web_port)
    server.wait_for('up{job="imageclassifier"}', 1)
    server.wait_for("sum(imageclassifier_live_workers)", 1)

    headers = live_auth_headers(stack, user)
    # One at a time, each answered before the next: every upload is its own batch of 1.
    for seed in range(UPLOADS):
        response = live_upload(stack, headers, distinct_photo(seed), f"{seed}.jpg")
        assert response.status_code == 201, response.text
    assert live_upload(stack, headers, distinct_photo(0), "again.jpg").status_code == 201
    assert live_upload(stack, headers, b"not an image", "notes.txt").status_code == 400

    server.wait_for("sum(imageclassifier_batch_size_count)", UPLOADS)
    server.wait_for("sum(imageclassifier_batch_size_sum)", UPLOADS)
    server.wait_for('sum(imageclassifier_batch_size_bucket{le="1.0"})', UPLOADS)
    server.wait_for("sum(imageclassifier_images_classified_total)", UPLOADS)
    server.wait_for("sum(imageclassifier_forward_seconds_count)", UPLOADS)
    server.wait_for("sum(imageclassifier_queue_wait_seconds_count)", UPLOADS)
    server.wait_for('sum(imageclassifier_uploads_total{outcome="queued"})', UPLOADS)
    server.wait_for('sum(imageclassifier_uploads_total{outcome="cached"})', 1)
    server.wait_for(
        'sum(imageclassifier_uploads_total{outcome="rejected",reason="invalid_image"})', 1
    )
    server.wait_for("sum(imageclassifier_queue_depth)", 0)
    view = 'view="classifier-api:prediction-list",method="POST"'
    server.wait_for(
        f"sum(django_http_requests_latency_seconds_by_view_method_count{{{view}}})", UPLOADS + 2
    )
    # Whichever gunicorn process answers, the web's counts are the sum over both.
    expected = {"queued:": UPLOADS, "cached:": 1, "rejected:invalid_image": 1}
    for _ in range(8):
        assert scrape_directly(stack) == expected
    written_by = {path.name.rsplit("_", 1)[-1] for path in (tmp_path / "web-metrics").glob("*.db")}
    assert len(written_by) >= 2, written_by  # both web processes (and the worker) have files
