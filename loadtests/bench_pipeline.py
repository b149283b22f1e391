"""How much does the HTTP pipeline cost on top of the model? One run, same model and weights.

    .venv/bin/python -m loadtests.bench_pipeline                       # both models
    .venv/bin/python -m loadtests.bench_pipeline --models resnet50 --seconds 30

For each model:

1. raw forward: the worker's model (same TensorFlow thread settings as the worker) in a
   process of its own, timed on full batches of --batch-size, and on single images;
2. end to end at saturation: gunicorn + one `run_model_worker --batch-size B`, and
   --clients closed-loop clients each uploading a photo nobody sent before (the result
   cache never answers) as soon as their previous one is answered;
3. the same with `--batch-size 1`;
4. one client alone: p50 latency of an upload, against the single-image forward time.

(1) runs before (2) and again after (4), and the ratios use the mean of the two: the
host is shared, and a figure taken minutes apart could compare two different loads.

It prints (2)/(1), (2)/(3) and p50(4) − single-image forward, times the steps of an
upload inside one web process (where its CPU goes), and writes everything to
loadtests/results/<run>/bench.json and docs/BENCHMARK_PIPELINE.md.

The load generator is this process: threads with `http.client`, request bodies made
by stamping a unique JPEG comment into photos prepared before the run (no encoding
while measuring). It shares the two cores with the server, so its CPU time is measured
and reported with the rest.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from loadtests import common
from loadtests.common import fmt
from ops.stack import Stack, StackConfig, free_port

MODELS = ("resnet50", "efficientnet_lite0")
DOC_PATH = common.REPO_ROOT / "docs" / "BENCHMARK_PIPELINE.md"


# --- (1) the model alone -----------------------------------------------------------------


def measure_forward(model_key: str, batch_size: int, seconds: float) -> dict:
    """Time the worker's model on real preprocessed photos; run in its own process."""
    import django
    import numpy as np
    import psutil

    django.setup()
    from classifier.imaging import open_rgb
    from mlworker.catalog import load_model

    model = load_model(model_key)
    pool = common.PhotoPool.build(batch_size, seed=1)
    batch = np.stack([model.preprocess(open_rgb(jpeg)) for jpeg in pool.encoded])
    single = batch[:1]
    for _ in range(3):  # tracing, allocator, oneDNN primitive caches
        model.predict_batch(batch)
        model.predict_batch(single)

    cpu_before, wall_before = time.process_time(), time.perf_counter()
    full = common.time_predict_batch(model, batch, seconds, min_runs=10)
    cores = (time.process_time() - cpu_before) / (time.perf_counter() - wall_before)
    one = common.time_predict_batch(model, single, seconds / 2, min_runs=30)
    return {
        "model": model.name,
        "batch_size": batch_size,
        "batches_timed": len(full),
        "batch_ms_median": 1000 * statistics.median(full),
        "images_per_second": batch_size * len(full) / sum(full),
        #: CPU time per wall second during the full batches: how many cores the model kept busy
        "cores_busy": cores,
        "cpu_ms_per_image": 1000 * cores * sum(full) / (batch_size * len(full)),
        "single_image_ms_median": 1000 * statistics.median(one),
        "single_images_per_second": len(one) / sum(one),
        "rss_mb": psutil.Process().memory_info().rss / 2**20,
    }


def run_forward_process(model_key: str, batch_size: int, seconds: float, env: dict) -> dict:
    command = [
        sys.executable, "-m", "loadtests.bench_pipeline", "--forward-only",
        "--models", model_key, "--batch-size", str(batch_size), "--seconds", str(seconds),
    ]  # fmt: skip
    completed = subprocess.run(
        command,
        cwd=common.REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"forward benchmark failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --- where the web's CPU goes -------------------------------------------------------------


def measure_web_steps(uploads: int) -> dict:
    """CPU per upload of each step of POST /api/predictions/, in this process (no gunicorn,
    no worker: PREDICT_WAIT_SECONDS=0, so the answer is the 202 without waiting).

    The steps are those the code marks (`classifier.steps`); labels are indented two spaces
    per level of nesting, and a step's time includes its children's."""
    from collections import defaultdict
    from math import inf

    import django

    django.setup()
    from django.test import Client
    from rest_framework_simplejwt.tokens import RefreshToken

    from accounts.models import User
    from classifier.steps import recording_steps

    user = User.objects.get(email=common.account_email(0))
    headers = {"HTTP_AUTHORIZATION": f"Bearer {RefreshToken.for_user(user).access_token}"}
    pool = common.PhotoPool.build(32, seed=11)
    bodies = [
        common.multipart_body("image", "p.jpg", pool.unique_jpeg(i)) for i in range(uploads + 10)
    ]
    client = Client(HTTP_HOST="localhost")  # the stack allows 127.0.0.1 and localhost

    def post(body: bytes, content_type: str) -> None:
        response = client.generic(
            "POST", "/api/predictions/", body, content_type=content_type, **headers
        )
        assert response.status_code in (201, 202), response.content[:300]

    for body in bodies[uploads:]:  # warm-up: imports, connections, URL resolver
        post(*body)
    spent: dict[tuple[str, ...], float] = defaultdict(float)
    first_started: dict[tuple[str, ...], float] = {}
    started = time.thread_time()
    with recording_steps() as recorded:
        for body in bodies[:uploads]:
            post(*body)
    total = time.thread_time() - started
    for timing in recorded:
        spent[timing.path] += timing.cpu_seconds
        first_started[timing.path] = min(first_started.get(timing.path, inf), timing.started)
    # Outermost first, each step followed by its children, in the order they ran.
    order = sorted(spent, key=lambda path: [first_started[path[: i + 1]] for i in range(len(path))])
    steps = {"  " * (len(path) - 1) + path[-1]: 1000 * spent[path] / uploads for path in order}
    top_level = sum(1000 * spent[path] / uploads for path in order if len(path) == 1)
    return {
        "uploads": uploads,
        "total_ms": 1000 * total / uploads,
        "steps_ms": steps,
        "rest_ms": 1000 * total / uploads - top_level,
    }


def run_web_steps_process(env: dict, uploads: int) -> dict:
    """`measure_web_steps` in a subprocess with its own embedded Redis."""
    from ops.stack import EmbeddedRedis

    redis = EmbeddedRedis().start()
    try:
        command = [sys.executable, "-m", "loadtests.bench_pipeline", "--web-steps-only",
                   "--single-requests", str(uploads)]  # fmt: skip
        completed = subprocess.run(
            command,
            cwd=common.REPO_ROOT,
            env={**os.environ, **env, "REDIS_URL": redis.url, "PREDICT_WAIT_SECONDS": "0"},
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        redis.stop()
    if completed.returncode != 0:
        raise RuntimeError(f"web step measurement failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --- the load generator ------------------------------------------------------------------


@dataclass
class Outcome:
    finished: float  # time.monotonic() when the response was read
    seconds: float
    status: int  # 0: the connection failed
    queue_seconds: float | None = None  # created → started, from the prediction
    run_seconds: float | None = None  # started → finished (worker: DB, decode, forward, …)


@dataclass
class LoadResult:
    clients: int
    window_seconds: float
    outcomes: list[Outcome] = field(default_factory=list)
    resources: dict | None = None
    model_counters: dict | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == 201]

    def summary(self) -> dict:
        latencies = [1000 * o.seconds for o in self.succeeded]
        failures = len(self.outcomes) - len(self.succeeded)
        model = self.model_counters or {}
        groups = (self.resources or {}).get("groups", {})
        requests = len(self.outcomes)

        def cpu_ms_per_request(group: str) -> float | None:
            if group not in groups or not requests:
                return None
            return 1000 * groups[group]["cpu_seconds"] / requests

        run = [1000 * o.run_seconds for o in self.succeeded if o.run_seconds is not None]
        queued = [1000 * o.queue_seconds for o in self.succeeded if o.queue_seconds is not None]
        return {
            "clients": self.clients,
            "window_seconds": self.window_seconds,
            "requests": requests,
            "failures": failures,
            "images_per_second": len(self.succeeded) / self.window_seconds,
            "p50_ms": common.percentile(latencies, 50),
            "p95_ms": common.percentile(latencies, 95),
            "p99_ms": common.percentile(latencies, 99),
            "queue_p50_ms": common.percentile(queued, 50),
            "worker_run_p50_ms": common.percentile(run, 50),
            "mean_batch_size": model["images"] / model["forward_passes"]
            if model.get("forward_passes")
            else None,
            "forward_seconds_per_image": model["forward_seconds"] / model["images"]
            if model.get("images")
            else None,
            "forward_busy_percent": 100 * model["forward_seconds"] / self.window_seconds
            if model
            else None,
            "web_cpu_ms_per_request": cpu_ms_per_request("web"),
            "worker_cpu_ms_per_request": cpu_ms_per_request("workers"),
            "load_generator_cpu_ms_per_request": cpu_ms_per_request("load generator"),
            "redis_cpu_ms_per_request": cpu_ms_per_request("redis"),
            "postgres_cpu_ms_per_request": cpu_ms_per_request("postgres"),
            "cpu_percent": {name: g["cpu_percent"] for name, g in groups.items()},
            "system_cpu_percent": (self.resources or {}).get("system_cpu_percent"),
            "rss_mb_per_process": {
                name: g["rss_peak_mb_per_process"] for name, g in groups.items()
            },
            "load_average": (self.resources or {}).get("load_average_1min_mean"),
            "errors": sorted(set(self.errors))[:10],
        }


class UploadClient:
    """One closed-loop client: upload, wait for the answer, upload the next photo."""

    def __init__(self, url: str, token: str, pool: common.PhotoPool, first_photo: int):
        parsed = urlparse(url)
        self.host, self.port = parsed.hostname, parsed.port
        self.token = token
        self.pool = pool
        self.next_photo = first_photo
        self.connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        return self.connection

    def upload_once(self) -> tuple[int, dict | None, str | None]:
        body, content_type = common.multipart_body(
            "image", "photo.jpg", self.pool.unique_jpeg(self.next_photo)
        )
        self.next_photo += 1
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": content_type}
        try:
            connection = self._connect()
            connection.request("POST", "/api/predictions/", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as error:
            if self.connection is not None:
                self.connection.close()
            self.connection = None
            return 0, None, f"{type(error).__name__}: {error}"
        if response.status != 201:
            return response.status, None, f"HTTP {response.status}: {payload[:200]!r}"
        return 201, json.loads(payload), None

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def prediction_timings(body: dict | None) -> tuple[float | None, float | None]:
    if not body or not body.get("started_at"):
        return None, None
    return body.get("wait_seconds"), body.get("run_seconds")


def log_in(url: str, index: int) -> str:
    parsed = urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    credentials = {"email": common.account_email(index), "password": common.account_password()}
    connection.request(
        "POST",
        "/api/auth/token/",
        body=json.dumps(credentials),
        headers={"Content-Type": "application/json"},
    )
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"login failed: HTTP {response.status} {payload[:200]!r}")
    return json.loads(payload)["access"]


def closed_loop_load(
    stack: Stack,
    *,
    clients: int,
    tokens: list[str],
    pool: common.PhotoPool,
    warmup: float,
    seconds: float,
) -> LoadResult:
    """`clients` threads uploading back to back; only the last `seconds` are measured."""
    stop = threading.Event()
    measuring = threading.Event()
    result = LoadResult(clients=clients, window_seconds=seconds)
    lock = threading.Lock()

    def client_loop(index: int) -> None:
        client = UploadClient(stack.url, tokens[index % len(tokens)], pool, index * 100_000)
        try:
            while not stop.is_set():
                started = time.monotonic()
                status, body, error = client.upload_once()
                finished = time.monotonic()
                if not measuring.is_set() or stop.is_set():
                    continue
                queued, run = prediction_timings(body)
                with lock:
                    result.outcomes.append(
                        Outcome(finished, finished - started, status, queued, run)
                    )
                    if error:
                        result.errors.append(error)
        finally:
            client.close()

    threads = [
        threading.Thread(target=client_loop, args=(i,), daemon=True, name=f"client-{i}")
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    time.sleep(warmup)
    sampler = resource_sampler(stack)
    before = model_counters(stack)
    sampler.start()
    measuring.set()
    time.sleep(seconds)
    stop.set()
    result.resources = sampler.stop()
    result.model_counters = counter_delta(before, model_counters(stack))
    result.window_seconds = result.resources["window_seconds"]
    for thread in threads:
        thread.join(timeout=150)
    return result


def single_client_latency(stack: Stack, *, token: str, pool, requests: int, warmup: int):
    """One client alone, back to back: the latency a single user sees."""
    client = UploadClient(stack.url, token, pool, 9_000_000)
    for _ in range(warmup):
        client.upload_once()
    before = model_counters(stack)
    sampler = resource_sampler(stack).start()
    result = LoadResult(clients=1, window_seconds=0.0)
    started_all = time.monotonic()
    for _ in range(requests):
        started = time.monotonic()
        status, body, error = client.upload_once()
        finished = time.monotonic()
        result.outcomes.append(
            Outcome(finished, finished - started, status, *prediction_timings(body))
        )
        if error:
            result.errors.append(error)
    result.window_seconds = time.monotonic() - started_all
    result.resources = sampler.stop()
    result.model_counters = counter_delta(before, model_counters(stack))
    client.close()
    return result


# --- the system under test ---------------------------------------------------------------


def resource_sampler(stack: Stack) -> common.ProcessSampler:
    sampler = common.ProcessSampler(interval=1.0)
    sampler.add("web", [stack.web.pid], include_children=True)
    sampler.add("workers", [worker.pid for worker in stack.workers])
    if stack.redis is not None:
        sampler.add("redis", [stack.redis.process.pid])
    marker = common.postgres_backends_marker(stack.env["DATABASE_URL"])
    if marker:
        sampler.add_matching("postgres", marker)
    sampler.add("load generator", [os.getpid()])
    return sampler


def model_counters(stack: Stack) -> dict:
    import redis

    from mlworker.worker import read_stats

    connection = redis.Redis.from_url(stack.env["REDIS_URL"])
    try:
        return read_stats(connection)
    finally:
        connection.close()


def counter_delta(before: dict, after: dict) -> dict:
    keys = ("forward_passes", "images", "forward_seconds")
    return {key: after.get(key, 0.0) - before.get(key, 0.0) for key in keys}


def start_stack(args, env: dict, *, model: str, batch_size: int, log_dir: Path) -> Stack:
    worker_args = [
        "--model", model,
        "--batch-size", str(batch_size),
        "--max-wait-ms", str(args.max_wait_ms),
    ]  # fmt: skip
    common.forget_earlier_uploads()
    config = StackConfig(
        web_port=free_port(),
        workers=1,
        worker_args=worker_args,
        web_processes=args.web_processes,
        web_threads=args.web_threads,
        env={**env, "CLASSIFIER_MODEL": model, "PREDICT_WAIT_SECONDS": "120"},
        log_dir=log_dir,
        ready_timeout=300,
    )
    return Stack(config).start()


def bench_model(args, env: dict, model: str, pool, tokens, run_dir: Path) -> dict:
    log = run_dir / "logs" / model
    print(f"[{model}] (1) raw forward, batch {args.batch_size} and 1…", flush=True)
    forward_before = measure_forward_in_process(model, args, env)

    print(f"[{model}] (2) saturation, {args.clients} clients, batch {args.batch_size}…", flush=True)
    stack = start_stack(args, env, model=model, batch_size=args.batch_size, log_dir=log / "batched")
    try:
        stack_tokens = tokens(stack)
        saturated = closed_loop_load(
            stack,
            clients=args.clients,
            tokens=stack_tokens,
            pool=pool,
            warmup=args.warmup,
            seconds=args.seconds,
        ).summary()
        print_load(model, saturated)
        time.sleep(2)  # let the last batch drain
        print(f"[{model}] (4) one client alone…", flush=True)
        single = single_client_latency(
            stack, token=stack_tokens[0], pool=pool, requests=args.single_requests, warmup=5
        ).summary()
        print_load(model, single)
    finally:
        stack.stop()
    print(f"[{model}] (1) raw forward again, after (2) and (4)…", flush=True)
    forward_after = measure_forward_in_process(model, args, env)
    forward = average_forward(forward_before, forward_after)

    print(f"[{model}] (3) saturation, {args.clients} clients, batch 1…", flush=True)
    stack = start_stack(args, env, model=model, batch_size=1, log_dir=log / "unbatched")
    try:
        unbatched = closed_loop_load(
            stack,
            clients=args.clients,
            tokens=tokens(stack),
            pool=pool,
            warmup=args.warmup,
            seconds=args.seconds,
        ).summary()
        print_load(model, unbatched)
    finally:
        stack.stop()
    return {
        "forward": forward,
        "forward_runs": [forward_before, forward_after],
        "saturated": saturated,
        "unbatched": unbatched,
        "single_user": single,
        "ratios": {
            "end_to_end_over_forward": saturated["images_per_second"]
            / forward["images_per_second"],
            "batched_over_unbatched": saturated["images_per_second"]
            / unbatched["images_per_second"],
            "single_user_p50_minus_forward_ms": single["p50_ms"]
            - forward["single_image_ms_median"],
        },
    }


def measure_forward_in_process(model: str, args, env: dict) -> dict:
    load_before = os.getloadavg()[0]
    forward = run_forward_process(model, args.batch_size, args.forward_seconds, env)
    forward["load_average"] = (load_before + os.getloadavg()[0]) / 2
    print(
        f"[{model}]     {forward['images_per_second']:.1f} img/s at batch {args.batch_size}, "
        f"{forward['single_image_ms_median']:.1f} ms per single image",
        flush=True,
    )
    return forward


def average_forward(*runs: dict) -> dict:
    """The model alone, measured before and after the HTTP runs (the host is shared)."""
    averaged = dict(runs[0])
    for key in ("images_per_second", "batch_ms_median", "single_image_ms_median",
                "single_images_per_second", "rss_mb", "load_average", "cores_busy",
                "cpu_ms_per_image"):  # fmt: skip
        averaged[key] = statistics.mean(run[key] for run in runs)
    averaged["batches_timed"] = sum(run["batches_timed"] for run in runs)
    return averaged


def print_load(model: str, summary: dict) -> None:
    print(
        f"[{model}]     {summary['images_per_second']:.2f} img/s, {summary['failures']} failed "
        f"of {summary['requests']}, p50 {fmt(summary['p50_ms'], 0)} ms, p95 "
        f"{fmt(summary['p95_ms'], 0)} ms, mean batch {fmt(summary['mean_batch_size'])}, "
        f"web {fmt(summary['web_cpu_ms_per_request'])} ms CPU/req, load generator "
        f"{fmt(summary['load_generator_cpu_ms_per_request'])} ms CPU/req",
        flush=True,
    )


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60, help="measured window per load run")
    parser.add_argument("--warmup", type=float, default=15, help="unmeasured seconds first")
    parser.add_argument("--forward-seconds", type=float, default=20)
    parser.add_argument("--single-requests", type=int, default=100)
    parser.add_argument("--web-processes", type=int, default=1)
    parser.add_argument("--web-threads", type=int, default=64)
    parser.add_argument("--run-name", default=None)
    parser.add_argument("--results-dir", type=Path, default=common.RESULTS_DIR)
    parser.add_argument("--doc", default=str(DOC_PATH), help="markdown to write ('' skips)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("LOADTEST_DATABASE_URL", common.DEFAULT_DATABASE_URL),
    )
    parser.add_argument("--forward-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--web-steps-only", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.forward_only:
        print(json.dumps(measure_forward(args.models[0], args.batch_size, args.seconds)))
        return 0
    if args.web_steps_only:
        print(json.dumps(measure_web_steps(args.single_requests)))
        return 0
    run_name = args.run_name or "bench-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = args.results_dir / run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    work_dir = common.REPO_ROOT / ".run" / "loadtests"
    env = {
        **common.stack_environment(
            database_url=args.database_url,
            model=args.models[0],
            media_root=work_dir / "bench-media",
            static_root=work_dir / "static",
        ),
        **common.tensorflow_threads(workers=1),
    }
    print(f"Preparing {args.database_url}…", flush=True)
    accounts = min(args.clients, 5)
    common.prepare_database(env, accounts=accounts)
    os.environ.update(env)
    import django

    django.setup()  # for mlworker.worker.read_stats
    pool = common.PhotoPool.build(64, seed=7)

    def tokens(stack: Stack) -> list[str]:
        return [log_in(stack.url, index) for index in range(accounts)]

    results = {
        **common.run_record(run_name),
        "packages": common.package_versions(),
        "settings": {
            "batch_size": args.batch_size,
            "max_wait_ms": args.max_wait_ms,
            "clients": args.clients,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "web": f"gunicorn gthread, {args.web_processes} × {args.web_threads} threads",
            "tensorflow_threads": common.tensorflow_threads(workers=1),
            "database": args.database_url.split("@")[-1],
        },
        "models": {},
    }
    for model in args.models:
        results["models"][model] = bench_model(args, env, model, pool, tokens, run_dir)
        (run_dir / "bench.json").write_text(json.dumps(results, indent=2))
    print("Where the web's CPU goes, in process (200 uploads)…", flush=True)
    results["web_steps"] = run_web_steps_process(env, uploads=200)
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["load_average_end"] = list(os.getloadavg())
    (run_dir / "bench.json").write_text(json.dumps(results, indent=2))
    for model, outcome in results["models"].items():
        ratios = outcome["ratios"]
        print(
            f"{model}: (2)/(1) = {ratios['end_to_end_over_forward']:.3f}, (2)/(3) = "
            f"{ratios['batched_over_unbatched']:.2f}, p50(4) − forward(1 image) = "
            f"{ratios['single_user_p50_minus_forward_ms']:.1f} ms"
        )
    if args.doc:
        from loadtests.report import write_benchmark_doc

        write_benchmark_doc(results, Path(args.doc))
        print(f"Wrote {args.doc}")
    print(f"Results in {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
