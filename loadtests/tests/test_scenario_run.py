"""The load-test tools work end to end: a tiny scenario run, then the report from its results.

The scenario run is real (gunicorn, one model worker, Locust) but short: one scenario,
2 users, 5 measured seconds, on its own database (made afresh on this run's PostgreSQL
server) and embedded Redis. Nothing here checks a speed: only that the tools produce
complete, consistent output.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from benchmarks.load import REPO_ROOT
from benchmarks.load.system import ensure_postgres_database
from loadtests.report import render_report
from testing.live_stack import subprocess_env

SMOKE_TIMEOUT_SECONDS = 600


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """Results of `run_scenarios.py --only smoke --duration 5` in a temporary folder."""
    base = tmp_path_factory.mktemp("loadtest")
    database_url = subprocess_env()["DATABASE_URL"] + "_loadtest_smoke"
    ensure_postgres_database(database_url, fresh=True)
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    command = [
        sys.executable, "-m", "loadtests.run_scenarios",
        "--only", "smoke",
        "--duration", "5",
        "--accounts", "2",
        "--run-name", "smoke",
        "--results-dir", str(base / "results"),
        "--work-dir", str(base / "work"),
        "--database-url", database_url,
    ]  # fmt: skip
    completed = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_SECONDS,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return base / "results" / "smoke"


@pytest.mark.slow
def test_a_tiny_scenario_run_writes_locust_csv_and_a_complete_summary(smoke_run):
    with open(smoke_run / "summary.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["scenario"] == "smoke"
    assert int(row["requests"]) > 0
    assert int(row["failures"]) == 0
    result = json.loads((smoke_run / "smoke" / "result.json").read_text())
    assert result["complete"]
    assert result["model_counters"]["images"] > 0
    assert result["model_counters"]["forward_passes"] > 0
    assert set(result["resources"]["groups"]) >= {"web", "workers", "locust"}
    assert result["resources"]["groups"]["workers"]["rss_peak_mb_per_process"] > 0
    assert (smoke_run / "smoke" / "locust_stats.csv").exists()
    run = json.loads((smoke_run / "run.json").read_text())
    assert run["scenarios"] == ["smoke"]
    assert "finished" in run


@pytest.mark.slow
def test_report_renders_markdown_and_charts_from_a_results_folder(smoke_run, tmp_path):
    output = render_report(smoke_run, tmp_path / "REPORT.md", tmp_path / "charts")
    text = output.read_text()
    assert text.startswith("# Stress test report")
    assert "-m loadtests.run_scenarios --only smoke" in text
    charts = sorted((tmp_path / "charts").glob("*.png"))
    assert charts
    for chart in charts:
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"charts/{chart.name}" in text
