"""The reports say what the results say: rendered from small results folders built here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.report import REFERENCE, render_report, write_benchmark_doc


def scenario_summary(name: str, group: str, *, users: int, workers: int, batch: int = 16,
                     think: str = "0.5–2", images_per_second: float = 5.0,
                     p50_ms: float = 120.0) -> dict:  # fmt: skip
    """One row of summary.csv, as run_scenarios.summarize writes it."""
    return {
        "scenario": name, "group": group, "users": users, "workers": workers,
        "batch_size": batch, "max_wait_ms": 10.0, "think_seconds": think,
        "requests": 400, "failures": 0, "failure_percent": 0.0, "rps": 8.0, "mean_ms": 900.0,
        "p50_ms": p50_ms, "p95_ms": 3 * p50_ms, "p99_ms": 4 * p50_ms, "upload_rps": 5.0,
        "upload_p50_ms": p50_ms, "upload_p95_ms": 3 * p50_ms, "upload_p99_ms": 4 * p50_ms,
        "upload_failures": 0, "model_images_per_second": images_per_second,
        "mean_batch_size": min(batch, users / workers / 2), "forward_busy_percent": 50.0,
        "web_cpu_percent": 20.0, "web_cpu_ms_per_request": 11.0, "web_rss_mb_per_process": 110.0,
        "worker_cpu_percent": 90.0, "worker_rss_mb_per_process": 1200.0,
        "locust_cpu_percent": 5.0, "system_cpu_percent": 150.0, "load_average": 2.0,
    }  # fmt: skip


def write_run(folder: Path, summaries: list[dict]) -> Path:
    """A results folder like run_scenarios.py writes: run.json and <scenario>/result.json."""
    for summary in summaries:
        groups = {"web": {"cpu_percent": 20.0}, "workers": {"cpu_percent": 90.0}}
        result = {"summary": summary, "web_threads": 64, "resources": {"groups": groups}}
        (folder / summary["scenario"]).mkdir(parents=True)
        (folder / summary["scenario"] / "result.json").write_text(json.dumps(result))
    run = {
        "run": "fixture-run", "git_commit": "abc1234", "started": "2026-01-01T10:00:00+00:00",
        "finished": "2026-01-01T11:00:00+00:00", "command": "run_scenarios.py --only seed",
        "host": {"cpu_model": "Test CPU", "logical_cpus": 2, "memory_gb": 8, "os": "Linux",
                 "python": "3.11"},
        "packages": {"django": "5.2"}, "model": "resnet50", "database": "db", "redis": "redis",
        "web": "gunicorn gthread, 1 process(es) × 64 threads", "max_wait_ms": 10.0,
        "duration_seconds": 60.0, "scenarios": [s["scenario"] for s in summaries],
    }  # fmt: skip
    (folder / "run.json").write_text(json.dumps(run))
    return folder


def phase(clients: int, images_per_second: float, p50_ms: float) -> dict:
    """One load phase of bench.json."""
    return {
        "clients": clients, "window_seconds": 30.0, "requests": 600, "failures": 0,
        "images_per_second": images_per_second, "p50_ms": p50_ms, "p95_ms": 2 * p50_ms,
        "p99_ms": 3 * p50_ms, "queue_p50_ms": 5.0, "worker_run_p50_ms": 60.0,
        "mean_batch_size": 16.0, "forward_busy_percent": 95.0, "web_cpu_ms_per_request": 9.0,
        "worker_cpu_ms_per_request": 100.0, "postgres_cpu_ms_per_request": 1.0,
        "redis_cpu_ms_per_request": 0.5, "load_generator_cpu_ms_per_request": 1.0,
        "cpu_percent": {"web": 18.0, "workers": 170.0}, "system_cpu_percent": 195.0,
        "rss_mb_per_process": {"web": 140.0, "workers": 1100.0, "load generator": 200.0},
    }  # fmt: skip


def bench_results() -> dict:
    """bench.json of a ResNet50-only bench_pipeline.py run."""
    forward = {"model": "resnet50", "batch_size": 16, "images_per_second": 20.0,
               "batch_ms_median": 800.0, "single_image_ms_median": 60.0, "cpu_ms_per_image": 90.0,
               "cores_busy": 1.9, "load_average": 2.1}  # fmt: skip
    resnet = {
        "forward": forward,
        "saturated": phase(50, 18.5, 2500.0),
        "unbatched": phase(50, 12.0, 4000.0),
        "single_user": phase(1, 13.0, 75.0),
        "ratios": {"end_to_end_over_forward": 0.925, "batched_over_unbatched": 1.54,
                   "single_user_p50_minus_forward_ms": 15.0},
    }  # fmt: skip
    return {
        "run": "bench-fixture", "command": "bench_pipeline.py --models resnet50",
        "git_commit": "abc1234", "started": "2026-01-01T12:00:00+00:00",
        "host": {"cpu_model": "Test CPU", "logical_cpus": 2, "memory_gb": 8},
        "settings": {"web": "gunicorn gthread, 1 × 64 threads", "tensorflow_threads": "2 / 1",
                     "database": "db", "batch_size": 16, "max_wait_ms": 10.0, "clients": 50,
                     "seconds": 30.0, "warmup": 15.0},
        "models": {"resnet50": resnet},
    }  # fmt: skip


@pytest.fixture
def seed_and_batching(tmp_path) -> Path:
    summaries = [
        scenario_summary("seed-50u-2w", "seed", users=50, workers=2, images_per_second=8.25),
        scenario_summary("seed-50u-3w", "seed", users=50, workers=3, images_per_second=9.5),
    ] + [
        scenario_summary(f"batch-{size}", "batching", users=50, workers=2, batch=size,
                         think="0–0", images_per_second=ips, p50_ms=p50)
        for size, ips, p50 in ((1, 10.0, 3000.0), (16, 17.0, 2000.0), (32, 16.5, 2100.0))
    ]  # fmt: skip
    return write_run(tmp_path / "run", summaries)


def test_stress_report_states_the_measured_figures_and_the_findings(seed_and_batching, tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "bench.json").write_text(json.dumps(bench_results()))
    output = render_report(seed_and_batching, tmp_path / "REPORT.md", tmp_path / "charts", bench)
    text = output.read_text()
    assert text.startswith("# Stress test report\n\nGenerated by `loadtests/report.py` from run ")
    assert "--bench loadtests/results/bench-fixture`." in text
    assert "| seed-50u-3w | 50 | 0.5–2 | 3 | 16 | 10 ms | 400 | 0 (0.0 %) | 8.0 |" in text
    assert "| images/s, 50 users | 4.1 | 15.0 | 8.2 (2 workers) |" in text
    assert (
        "| saturated, 50 users, 2 workers | – | – | 17.0 img/s, 0.0 % failed (batch-16) |" in text
    )
    assert "| single user p50 | 216 ms | 86 ms | 75 ms (bench) |" in text
    assert "50 users, 2→3 workers: images/s 8.2→9.5 (+15 %)" in text
    assert "the best throughput was at --batch-size 16 (17.0 img/s, 1.70× batch size 1)" in text
    assert "Batch size: 16, 32 gave throughput within 5 % of the best here; of those, 16" in text
    assert "Workers: on this 2-core host, 3 worker(s)" in text
    assert "the runs used 64 threads and every web process stayed far below 250 MB." in text
    assert "| (2)/(1) ≥ 0.90 | 0.925 | met |" in text
    assert "| single-user p50 < 86 ms (BentoML) | 75 ms | met |" in text
    for optimisation in REFERENCE["optimisations"]:
        assert f"| {optimisation['commit']} |" in text
    assert "&#x27;" not in text and "&gt;" not in text  # Markdown, not HTML
    for chart in sorted((tmp_path / "charts").glob("*.png")):
        assert f"](charts/{chart.name})" in text
    assert len(list((tmp_path / "charts").glob("*.png"))) == 5


def test_seed_scenarios_below_capacity_are_said_to_follow_the_users_pace(tmp_path):
    summary = scenario_summary("seed-10u-1w", "seed", users=10, workers=1)
    output = render_report(write_run(tmp_path / "run", [summary]), tmp_path / "R.md", tmp_path)
    text = output.read_text()
    assert "**The seed scenarios stay below capacity.** Their users pause 0.5–2 s" in text
    assert "(seed-10u-1w): throughput followed the users' pace (seed-10u-1w 5.0 img/s" in text
    assert "Regenerate the text and charts with `.venv/bin/python -m loadtests.report " in text
    assert "| images/s, 50 users | 4.1 | 15.0 | – (2 workers) |" in text
    assert "## Batch size" not in text and "Pipeline overhead" not in text


def test_benchmark_doc_keeps_the_runtimes_section_and_judges_the_targets(tmp_path):
    doc = tmp_path / "BENCHMARK_PIPELINE.md"
    runtimes = "<!-- bench_runtimes:start -->\nruntimes\n<!-- bench_runtimes:end -->"
    doc.write_text(f"# old\n\n{runtimes}\n")
    results = bench_results()
    results["models"]["resnet50"]["single_user"]["p50_ms"] = 90.0
    text = write_benchmark_doc(results, doc).read_text()
    assert text.startswith("# Pipeline benchmark: what the HTTP pipeline costs on top of the model")
    assert "(run `bench-fixture`, commit abc1234, 2026-01-01T12:00:00+00:00 → ?)" in text
    assert "- (2)/(1) = **0.925** (HTTP at saturation over raw forward at batch 16)" in text
    assert "| (2) 50 clients | 18.50 | 2,500 / 5,000 / 7,500 | 0 / 600 | 16.0 | 95 % |" in text
    assert "| single-user p50 < 86 ms (BentoML) | 90 ms | **not met** |" in text
    assert "| worker RSS ≤ 1.5 GB | 1100 MB | met |" in text
    assert "The two cores are full, so throughput is bounded by total CPU per request" in text
    assert text.endswith(f"\n{runtimes}\n") and "# old" not in text
