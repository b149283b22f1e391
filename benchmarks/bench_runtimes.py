"""Same-run verdicts: ResNet50 against BentoML, end to end against the model alone, and
EfficientNet-Lite0 against an earlier commit, all in one run on one machine.

    git worktree add --detach ../baseline-217b5a6 217b5a6     # the A/B's base, once
    flock -x -w 1800 /work/machine.lock .venv/bin/python -m benchmarks.bench_runtimes \\
        --baseline-checkout ../baseline-217b5a6

In order (the expected duration is printed first, ~20 minutes with the defaults):

1. ResNet50 (random weights) for each --variants, the precision forced with
   `INFERENCE_RUNTIME` / `INFERENCE_PRECISION` (the accuracy gate means nothing on random
   weights): the model alone in its own process (images/s on full batches, one image,
   CPU per image), then gunicorn + one `run_model_worker` under --clients closed-loop clients
   uploading photos nobody sent before, then one client alone on the same stack;
2. the same Keras ResNet50 served by BentoML 1.4.40 with adaptive batching (max batch
   --batch-size) at --clients and alone, between the first variant and the others (its own
   virtualenv .run/bentoml-venv, made on first use; usage tracking off);
3. EfficientNet-Lite0 as configured by default (`auto`: the accuracy gate picks the
   precision): alone, then end to end in rounds A B B A (a linear drift cancels), A this
   checkout and B --baseline-checkout (another checkout of the project run by the same
   virtualenv, with its own database, media and model cache);
4. the web's CPU per step of an upload, in process.

Writes benchmarks/results/<run>/runtimes.json and the "Runtimes side by side" section of
docs/BENCHMARK_PIPELINE.md (benchmarks/runtimes_report.py).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import bench_pipeline, load
from benchmarks.load import host, photos, system
from benchmarks.load.markdown import fmt
from benchmarks.peers import bentoml_runner
from benchmarks.runtimes_report import print_verdicts, write_section

VARIANTS = ("openvino-int8", "openvino-fp32", "openvino-bf16", "onnxruntime-fp32",
            "tensorflow-fp32")  # fmt: skip
DEFAULT_VARIANTS = ("openvino-int8", "openvino-fp32")
AUTO = "auto"  # the default configuration: the runtime and the gate choose
BASELINE_COMMIT = "217b5a6"
DOC_PATH = load.REPO_ROOT / "docs" / "BENCHMARK_PIPELINE.md"
#: rough start-up seconds on a quiet 2-core host, for the expected duration only
STARTUP_SECONDS = {"resnet50": 45, "efficientnet_lite0": 20, "bentoml": 45}
INT8_QUANTIZE_SECONDS = 60  # NNCF on random-weight ResNet50, in every process that runs it


STARTED = time.monotonic()


def announce(tag: str, what: str) -> None:
    """A progress line with the minutes since the run started."""
    print(f"[{tag}] {what} (t+{(time.monotonic() - STARTED) / 60:.1f} min)", flush=True)


def variant_env(variant: str) -> dict[str, str]:
    if variant == AUTO:
        return {"INFERENCE_RUNTIME": AUTO, "INFERENCE_PRECISION": AUTO}
    runtime, precision = variant.split("-")
    return {"INFERENCE_RUNTIME": runtime, "INFERENCE_PRECISION": precision}


def model_alone(args, env: dict, model: str, tag: str) -> dict:
    announce(tag, "model alone…")
    forward = bench_pipeline.run_forward_process(model, args.batch_size, args.forward_seconds, env)
    print(
        f"[{tag}]     {forward['model']}: {forward['images_per_second']:.1f} img/s at batch "
        f"{args.batch_size}, {forward['single_image_ms_median']:.1f} ms single, "
        f"RSS {forward['rss_mb']:.0f} MB",
        flush=True,
    )
    return forward


def end_to_end(args, env, model, pool, log_dir, tag, *, single: bool, checkout=load.REPO_ROOT):
    """One stack of `checkout`: --clients at saturation, then (`single`) one client alone."""
    announce(tag, f"end to end, {args.clients} clients{', then one' if single else ''}…")
    options = argparse.Namespace(**{**vars(args), "single_requests": args.single_requests * single})
    saturated, alone = bench_pipeline.load_runs(
        options, env, model, args.batch_size, log_dir, pool, tag=tag, checkout=checkout
    )
    print(f"[{tag}]     answered by {', '.join(saturated['model_names']) or '–'}", flush=True)
    return saturated, alone


def bench_resnet_variant(args, env: dict, variant: str, pool, run_dir: Path) -> dict:
    env, tag = {**env, **variant_env(variant)}, f"resnet50 {variant}"
    forward = model_alone(args, env, "resnet50", tag)
    log_dir = run_dir / "logs" / "resnet50" / variant
    saturated, single = end_to_end(args, env, "resnet50", pool, log_dir, tag, single=True)
    return {"model": "resnet50", "asked": variant, "forward": forward, "saturated": saturated,
            "single_user": single}  # fmt: skip


# --- EfficientNet-Lite0: this checkout (A) against another (B) ---------------------------------


def ensure_checkout(path: Path, commit: str) -> Path:
    """The baseline's checkout: a detached git worktree of `commit`, made if missing."""
    if not path.exists():
        command = ["git", "-C", str(load.REPO_ROOT), "worktree", "add", "--detach", str(path),
                   commit]  # fmt: skip
        print("$ " + " ".join(command), flush=True)
        subprocess.run(command, check=True)
    return path.resolve()


def ab_sides(rounds: int) -> list[str]:
    """A B B A A B …: each pair mirrors the one before, so a linear drift cancels."""
    return [side for r in range(rounds) for side in (("A", "B") if r % 2 == 0 else ("B", "A"))]


def bench_efficientnet(args, env: dict, pool, run_dir: Path) -> tuple[dict, dict | None]:
    """The row of this checkout's default configuration, and the A/B against the baseline."""
    model, ours = "efficientnet_lite0", {**env, **variant_env(AUTO)}
    forward = model_alone(args, ours, model, f"{model} {AUTO}")  # also runs and caches the gate
    checkouts = {"A": load.REPO_ROOT}
    envs = {"A": ours}
    if args.baseline_checkout:
        checkouts["B"] = ensure_checkout(args.baseline_checkout, args.baseline_commit)
        envs["B"] = system.checkout_environment(ours, checkouts["B"], "baseline")
    sides = ab_sides(args.ab_rounds) if "B" in checkouts else ["A"] * args.ab_rounds
    rounds, singles = [], {}
    for index, side in enumerate(sides):
        tag = f"{model} {side}{index + 1}"
        log_dir = run_dir / "logs" / model / f"{side}{index + 1}"
        saturated, single = end_to_end(
            args, envs[side], model, pool, log_dir, tag, single=side not in singles,
            checkout=checkouts[side],
        )  # fmt: skip
        singles.setdefault(side, single)
        rounds.append({"side": side, "saturated": saturated})
    mean = {
        side: sum(r["saturated"]["images_per_second"] for r in rounds if r["side"] == side)
        / sides.count(side)
        for side in checkouts
    }
    first_a = next(r["saturated"] for r in rounds if r["side"] == "A")
    row = {
        "model": model, "asked": AUTO, "forward": forward,
        "saturated": {**first_a, "images_per_second": mean["A"],
                      "rounds_images_per_second": [r["saturated"]["images_per_second"]
                                                   for r in rounds if r["side"] == "A"]},
        "single_user": singles["A"],
    }  # fmt: skip
    if "B" not in checkouts:
        return row, None
    ab = {
        "checkout": str(checkouts["B"]),
        "commit": host.git_commit(checkouts["B"]),
        "rounds": rounds,
        "single_user": singles,
        "mean_images_per_second": mean,
        "ratio": mean["A"] / mean["B"],
    }
    print(f"[{model}] A/B: {mean['A']:.1f} / {mean['B']:.1f} = {ab['ratio']:.2f}×", flush=True)
    return row, ab


# --- main --------------------------------------------------------------------------------------


def expected_seconds(args) -> float:
    load_run = args.warmup + args.seconds + 10
    single = args.single_requests * 0.15 + 5
    forward = 1.5 * args.forward_seconds + 10
    total = 60.0  # databases, accounts, photos
    if "resnet50" in args.models:
        for variant in args.variants:
            start = STARTUP_SECONDS["resnet50"] + INT8_QUANTIZE_SECONDS * variant.endswith("int8")
            total += 2 * start + forward + load_run + single
        if not args.no_bentoml:
            total += STARTUP_SECONDS["bentoml"] + load_run + 2 * bentoml_runner.SINGLE_REQUESTS
    if "efficientnet_lite0" in args.models:
        sides = 2 * args.ab_rounds if args.baseline_checkout else args.ab_rounds
        total += STARTUP_SECONDS["efficientnet_lite0"] + forward + 90  # + the gate's first run
        total += sides * (STARTUP_SECONDS["efficientnet_lite0"] + load_run) + 2 * single
        total += 60 * bool(args.baseline_checkout)  # its database and model cache
    return total + (args.web_steps * 0.3 if args.web_steps else 0)


def parse_args(argv=None) -> argparse.Namespace:
    parser = bench_pipeline.bench_parser(
        __doc__.split("\n\n")[0], DOC_PATH, seconds=45, warmup=10, forward_seconds=15,
        single_requests=60,
    )  # fmt: skip
    add = parser.add_argument
    add("--variants", nargs="+", default=list(DEFAULT_VARIANTS), choices=VARIANTS,
        help="ResNet50's runtime-precision, forced")  # fmt: skip
    add("--no-bentoml", action="store_true")
    add("--baseline-checkout", type=Path, default=None,
        help="another checkout of the project for EfficientNet-Lite0's A/B (made with "
             "`git worktree add` at --baseline-commit if missing)")  # fmt: skip
    add("--baseline-commit", default=BASELINE_COMMIT)
    add("--ab-rounds", type=int, default=2, help="A/B pairs (A B, then B A, …)")
    add("--web-steps", type=int, default=100, help="uploads timed in process (0: skip)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    # A SIGTERM (`timeout`, a stopped job) unwinds like Ctrl-C: every stack started is stopped.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    run_name = args.run_name or "runtimes-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = args.results_dir / run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    print(f"Expected duration ≈ {expected_seconds(args) / 60:.0f} min; load average "
          f"{host.load_average()}", flush=True)  # fmt: skip
    env = system.bench_environment(args.database_url, args.models[0], "bench-media")
    pool = photos.PhotoPool.build(64, seed=7)
    results = {
        **host.run_record(run_name),
        "packages": host.package_versions(),
        "settings": {key: getattr(args, key) for key in (
            "batch_size", "max_wait_ms", "clients", "seconds", "warmup", "forward_seconds",
            "single_requests", "ab_rounds")},
        "rows": [],
    }  # fmt: skip

    def save() -> None:
        (run_dir / "runtimes.json").write_text(json.dumps(results, indent=2, default=str))

    if "resnet50" in args.models:
        for index, variant in enumerate(args.variants):
            results["rows"].append(bench_resnet_variant(args, env, variant, pool, run_dir))
            save()
            if index == 0 and not args.no_bentoml:  # between variants: drift falls on both
                announce("bentoml", "end to end, then one client…")
                results["bentoml"] = bentoml_runner.bench_bentoml(args, pool, run_dir)
                save()
    if "efficientnet_lite0" in args.models:
        row, results["ab"] = bench_efficientnet(args, env, pool, run_dir)
        results["rows"].append(row)
        save()
    if args.web_steps:
        print(f"Where the web's CPU goes, in process ({args.web_steps} uploads)…", flush=True)
        results["web_steps"] = bench_pipeline.run_web_steps_process(env, uploads=args.web_steps)
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["load_average_end"] = list(os.getloadavg())
    results["minutes"] = (time.monotonic() - STARTED) / 60
    save()
    print_verdicts(results)
    if args.doc:
        write_section(results, Path(args.doc))
        print(f"Updated {args.doc}")
    print(f"Results in {run_dir}; took {fmt(results['minutes'], 1)} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
