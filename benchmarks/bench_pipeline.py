"""How much does the HTTP pipeline cost on top of the model? One run, same model and weights.

    .venv/bin/python -m benchmarks.bench_pipeline                       # both models
    .venv/bin/python -m benchmarks.bench_pipeline --models resnet50 --seconds 30

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
benchmarks/results/<run>/bench.json and docs/BENCHMARK_PIPELINE.md.

The load generator is this process: threads with `http.client`, request bodies made
by stamping a unique JPEG comment into photos prepared before the run (no encoding
while measuring). It shares the two cores with the server, so its CPU time is measured
and reported with the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import load
from benchmarks.load import clients, host, photos, sampling, system, users
from benchmarks.load.markdown import fmt

MODELS = ("resnet50", "efficientnet_lite0")
DOC_PATH = load.REPO_ROOT / "docs" / "BENCHMARK_PIPELINE.md"


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
    pool = photos.PhotoPool.build(batch_size, seed=1)
    batch = np.stack([model.preprocess(open_rgb(jpeg)) for jpeg in pool.encoded])
    single = batch[:1]
    for _ in range(3):  # tracing, allocator, oneDNN primitive caches
        model.predict_batch(batch)
        model.predict_batch(single)

    cpu_before, wall_before = time.process_time(), time.perf_counter()
    full = sampling.time_predict_batch(model, batch, seconds, min_runs=10)
    cores = (time.process_time() - cpu_before) / (time.perf_counter() - wall_before)
    one = sampling.time_predict_batch(model, single, seconds / 2, min_runs=30)
    return {
        "model": model.name,
        #: why this runtime and precision (with `auto`, the accuracy gate's figures)
        "choice_reason": getattr(getattr(model, "choice", None), "reason", None),
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


def json_subprocess(what: str, env: dict, *options: str) -> dict:
    """`python -m benchmarks.bench_pipeline <options>` in a process of its own: its last line."""
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_pipeline", *options],
        cwd=load.REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run_forward_process(model_key: str, batch_size: int, seconds: float, env: dict) -> dict:
    options = ["--models", model_key, "--batch-size", str(batch_size), "--seconds", str(seconds)]
    return json_subprocess("forward benchmark", env, "--forward-only", *options)


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

    user = User.objects.get(email=users.account_email(0))
    headers = {"HTTP_AUTHORIZATION": f"Bearer {RefreshToken.for_user(user).access_token}"}
    pool = photos.PhotoPool.build(32, seed=11)
    bodies = [
        photos.multipart_body("image", "p.jpg", pool.unique_jpeg(i)) for i in range(uploads + 10)
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
        # No worker drains the queue here: the one account's uploads all stay queued.
        room = str(uploads + 100)
        env = {**env, "REDIS_URL": redis.url, "PREDICT_WAIT_SECONDS": "0",
               "MAX_QUEUED_PER_USER": room, "MAX_QUEUE_DEPTH": room}  # fmt: skip
        options = ("--web-steps-only", "--single-requests", str(uploads))
        return json_subprocess("web step measurement", env, *options)
    finally:
        redis.stop()


def load_runs(
    args,
    env: dict,
    model: str,
    batch_size: int,
    log_dir: Path,
    pool,
    tag: str = "",
    checkout: Path = load.REPO_ROOT,
) -> tuple[dict, dict | None]:
    """Saturation at `batch_size` and, if --single-requests, one client alone on one stack
    (of `checkout`)."""
    tag = tag or model
    stack = system.start_stack(
        env,
        model=model,
        batch_size=batch_size,
        max_wait_ms=args.max_wait_ms,
        log_dir=log_dir,
        web_processes=args.web_processes,
        web_threads=args.web_threads,
        checkout=checkout,
    )
    try:
        uploader = clients.stack_uploader(stack, pool)
        saturated = clients.stack_load(
            stack, uploader, clients=args.clients, warmup=args.warmup, seconds=args.seconds
        ).summary()
        print_load(tag, saturated)
        if not args.single_requests:
            return saturated, None
        time.sleep(2)  # let the last batch drain
        single = clients.one_client_load(
            uploader(90),
            requests=args.single_requests,
            warmup=5,
            sampler=system.stack_sampler(stack),
            counters=system.stack_counters(stack),
        ).summary()
        print_load(f"{tag} alone", single)
        return saturated, single
    finally:
        stack.stop()


def bench_model(args, env: dict, model: str, pool, run_dir: Path) -> dict:
    log = run_dir / "logs" / model
    print(f"[{model}] (1) raw forward, batch {args.batch_size} and 1…", flush=True)
    forward_before = measure_forward_in_process(model, args, env)
    print(f"[{model}] (2) saturation, {args.clients} clients, batch {args.batch_size}, (4)…")
    saturated, single = load_runs(args, env, model, args.batch_size, log / "batched", pool)
    print(f"[{model}] (1) raw forward again, after (2) and (4)…", flush=True)
    forward_after = measure_forward_in_process(model, args, env)
    forward = average_forward(forward_before, forward_after)
    print(f"[{model}] (3) saturation, {args.clients} clients, batch 1…", flush=True)
    unbatched, _ = load_runs(
        argparse.Namespace(**{**vars(args), "single_requests": 0}),
        env, model, 1, log / "unbatched", pool,
    )  # fmt: skip
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


def bench_parser(description: str, doc: Path, **defaults) -> argparse.ArgumentParser:
    """The options bench_pipeline and bench_runtimes share; `defaults` override the long run's."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--models", nargs="+", default=list(MODELS), choices=MODELS)
    add("--batch-size", type=int, default=16)
    add("--max-wait-ms", type=float, default=10.0)
    add("--clients", type=int, default=50)
    add("--seconds", type=float, default=60, help="measured window per load run")
    add("--warmup", type=float, default=15, help="unmeasured seconds first")
    add("--forward-seconds", type=float, default=20)
    add("--single-requests", type=int, default=100)
    add("--web-processes", type=int, default=1)
    add("--web-threads", type=int, default=64)
    add("--run-name", default=None)
    add("--results-dir", type=Path, default=load.RESULTS_DIR)
    add("--doc", default=str(doc), help="markdown to write ('' skips)")
    add(
        "--database-url",
        default=os.environ.get("LOADTEST_DATABASE_URL", system.DEFAULT_DATABASE_URL),
    )
    parser.set_defaults(**defaults)
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = bench_parser(__doc__.split("\n\n")[0], DOC_PATH)
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
    env = system.bench_environment(args.database_url, args.models[0], "bench-media")
    pool = photos.PhotoPool.build(64, seed=7)
    results = {
        **host.run_record(run_name),
        "packages": host.package_versions(),
        "settings": {
            "batch_size": args.batch_size,
            "max_wait_ms": args.max_wait_ms,
            "clients": args.clients,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "web": f"gunicorn gthread, {args.web_processes} × {args.web_threads} threads",
            "tensorflow_threads": system.tensorflow_threads(workers=1),
            "database": args.database_url.split("@")[-1],
        },
        "models": {},
    }
    for model in args.models:
        results["models"][model] = bench_model(args, env, model, pool, run_dir)
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
        from benchmarks.pipeline_doc import write_benchmark_doc

        write_benchmark_doc(results, Path(args.doc))
        print(f"Wrote {args.doc}")
    print(f"Results in {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
