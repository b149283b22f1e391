"""Where does a web process spend its CPU behind gunicorn, under saturated load?

    .venv/bin/python -m benchmarks.profile_web                        # EfficientNet-Lite0
    .venv/bin/python -m benchmarks.profile_web --model resnet50 --seconds 40

Starts the system like `bench_pipeline.py` (gunicorn, one worker, embedded Redis,
PostgreSQL), drives it with closed-loop clients uploading new photos, and samples the
gunicorn worker process with py-spy in `--gil` mode: only the thread holding Python's
interpreter lock is sampled, so a sample is CPU spent running Python in that process,
and threads blocked on Redis or PostgreSQL are not counted. The share of samples inside
each step of an upload, times the measured CPU per upload, gives CPU ms per step.

Compare with "Where the web's CPU goes" in docs/BENCHMARK_PIPELINE.md: the same steps
timed in a quiet process with Django's test client. Writes benchmarks/results/<run>/
(py-spy's raw stacks, profile.json) and docs/PROFILE_WEB.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import bench_pipeline, load
from benchmarks.load import clients, host, photos, system
from benchmarks.load.markdown import fmt, render, table

DOC_PATH = load.REPO_ROOT / "docs" / "PROFILE_WEB.md"


#: (label, function as py-spy names it: its qualified name); indented labels are inside the
#: step above them. The view's labels are the steps `classifier.steps` reports.
STEPS = (
    ("gunicorn: read the request, write the response", "ThreadWorker.handle"),
    ("  Django (middleware, routing, the view)", "WSGIHandler.__call__"),
    ("    DRF checks (auth, permissions, throttle)", "APIView.initial"),
    ("      JWT authentication", "JWTAuthentication.authenticate"),
    ("      upload throttle (cache)", "APIView.check_throttles"),
    ("    multipart parsing", "MultiPartParser.parse"),
    ("    submit_prediction", "submit_prediction"),
    ("      validate (decode the image, hash)", "validate_upload"),
    ("      store the file", "store_image"),
    ("      result-cache lookup (query)", "finished_prediction_for_image"),
    ("      enqueue (RQ)", "enqueue_prediction"),
    ("    wait_for_prediction (reads, XREAD)", "wait_for_prediction"),
    ("    serialize the answer", "PredictionSerializer.to_representation"),
    ("  (across the steps) SQL: build and run queries", "SQLCompiler.execute_sql"),
)


def function_name(frame: str) -> str:
    """The function of py-spy's raw frame `name (path/file.py:line)`."""
    return frame.partition(" (")[0]


def step_shares(raw_stacks: str) -> tuple[int, dict[str, float]]:
    """Samples in all, and the share of them inside each step (a step counted once per stack)."""
    inside: Counter[str] = Counter()
    total = 0
    wanted = {function: label for label, function in STEPS}
    for line in raw_stacks.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        labels = {wanted.get(function_name(frame)) for frame in stack.split(";")}
        for label in labels - {None}:
            inside[label] += int(count)
    return total, {label: inside[label] / total if total else 0.0 for label, _ in STEPS}


def gunicorn_worker_pid(stack) -> int:
    import psutil

    children = psutil.Process(stack.web.pid).children(recursive=True)
    if len(children) != 1:
        raise SystemExit(f"expected one gunicorn worker process, found {len(children)}")
    return children[0].pid


def profile(args, run_dir: Path) -> dict:
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("py-spy is missing: scripts/bootstrap.sh requirements-dev.txt")
    env = system.bench_environment(args.database_url, args.model, "profile-media")
    pool = photos.PhotoPool.build(64, seed=7)
    raw_path = run_dir / "py-spy-raw.txt"
    print(f"[{args.model}] {args.clients} clients, py-spy on the gunicorn worker…", flush=True)
    stack = system.start_stack(
        env,
        model=args.model,
        batch_size=args.batch_size,
        max_wait_ms=args.max_wait_ms,
        log_dir=run_dir / "logs",
    )
    try:
        uploader = clients.stack_uploader(stack, pool)
        command = [
            py_spy, "record", "--pid", str(gunicorn_worker_pid(stack)), "--gil",
            "--rate", str(args.rate), "--duration", str(int(args.seconds + args.warmup)),
            "--format", "raw", "--output", str(raw_path), "--nonblocking",
        ]  # fmt: skip
        spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        load = clients.stack_load(
            stack, uploader, clients=args.clients, warmup=args.warmup, seconds=args.seconds
        ).summary()
        try:
            spy.wait(timeout=60)
        finally:
            if spy.poll() is None:
                spy.kill()
                spy.wait(timeout=10)
    finally:
        stack.stop()
    if not raw_path.exists():
        raise SystemExit(f"py-spy wrote nothing: {spy.stderr.read().decode()[-2000:]}")
    samples, shares = step_shares(raw_path.read_text())
    return {"load": load, "samples": samples, "shares": shares}


def indent_depth(label: str) -> int:
    return (len(label) - len(label.lstrip(" "))) // 2


def indented(label: str) -> str:
    """Leading pairs of spaces as em spaces and an arrow: markdown tables keep those."""
    depth = indent_depth(label)
    return label if not depth else "\u2003" * (depth - 1) + "↳ " + label.strip()


def write_doc(results: dict, path: Path, quiet_steps: dict | None) -> None:
    cpu_ms = results["load"]["web_cpu_ms_per_request"] or 0.0
    quiet = {label.strip(): ms for label, ms in (quiet_steps or {}).get("steps_ms", {}).items()}
    shares = results["shares"]
    rows = [
        [indented(label), f"{100 * shares[label]:.1f} %", f"{shares[label] * cpu_ms:.2f}",
         fmt(quiet.get(label.strip()), 2)]
        for label, _ in STEPS
    ]  # fmt: skip
    headers = ["step", "share of samples", "≈ CPU ms per upload",
               "same step in a quiet process (BENCHMARK_PIPELINE.md)"]  # fmt: skip
    # Top-level Django steps measured both ways; decoding is left out (undersampled).
    compared = [label for label, _ in STEPS if indent_depth(label) == 2 and label.strip() in quiet]
    loaded_ms = sum(shares[label] * cpu_ms for label in compared)
    quiet_ms = sum(quiet[label.strip()] for label in compared)
    context = {
        "r": results,
        "load": results["load"],
        "cpu_ms": cpu_ms,
        "table": table(headers, rows),
        "gunicorn_ms": (shares[STEPS[0][0]] - shares[STEPS[1][0]]) * cpu_ms,
        "loaded_ms": loaded_ms,
        "quiet_ms": quiet_ms,
        "slowdown": loaded_ms / quiet_ms if quiet_ms else None,
    }
    path.write_text(render("profile_web.md", context))


def newest_web_steps() -> dict | None:
    runs = sorted(load.RESULTS_DIR.glob("bench-*/bench.json"), key=lambda p: p.stat().st_mtime)
    for path in reversed(runs):
        steps = json.loads(path.read_text()).get("web_steps")
        if steps:
            return steps
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="efficientnet_lite0", choices=bench_pipeline.MODELS)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30, help="measured window")
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--run-name", default=None)
    parser.add_argument("--doc", default=str(DOC_PATH), help="markdown to write ('' skips)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("LOADTEST_DATABASE_URL", system.DEFAULT_DATABASE_URL),
    )
    args = parser.parse_args(argv)
    run_name = args.run_name or "profile-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = load.RESULTS_DIR / run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    results = {
        **host.run_record(run_name),
        "model": args.model,
        **profile(args, run_dir),
    }
    (run_dir / "profile.json").write_text(json.dumps(results, indent=2))
    cpu_ms = results["load"]["web_cpu_ms_per_request"] or 0.0
    for label, _ in STEPS:
        share = results["shares"][label]
        print(f"{100 * share:5.1f} %  {share * cpu_ms:5.2f} ms  {label}")
    if args.doc:
        write_doc(results, Path(args.doc), newest_web_steps())
        print(f"Wrote {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
