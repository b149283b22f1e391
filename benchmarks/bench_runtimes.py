"""Inference runtimes side by side, and BentoML as the peer: one run, same machine, same photos.

    flock -x -w 1800 /work/machine.lock .venv/bin/python -m benchmarks.bench_runtimes
    ... -m benchmarks.bench_runtimes --models resnet50 --variants tensorflow-fp32 openvino-bf16

For each model (ResNet50 random weights, EfficientNet-Lite0 pretrained) and each runtime ×
precision (`INFERENCE_RUNTIME` / `INFERENCE_PRECISION`):

1. the model alone, in its own process, built the way the worker builds it: images/s on
   full batches, median single image, CPU per image, RSS;
2. end to end at saturation: gunicorn + one `run_model_worker`, --clients closed-loop
   clients uploading photos nobody sent before (the result cache never answers);
3. one client alone on the same stack: p50;

and the same Keras ResNet50 served by BentoML 1.4.40 with adaptive batching (max batch 16)
at the same --clients and alone. BentoML lives in its own virtualenv (.run/bentoml-venv,
created on first use with pip; never a dependency of this project), usage tracking off.

Writes benchmarks/results/<run>/runtimes.json and the "Runtimes side by side" section of
docs/BENCHMARK_PIPELINE.md, with the targets' verdicts.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import bench_pipeline, load
from benchmarks.load import clients, host, photos, sampling, system
from benchmarks.load.markdown import fmt, render, table
from benchmarks.pipeline_doc import RUNTIMES_SECTION
from ops.stack import free_port, wait_until

VARIANTS = ("tensorflow-fp32", "openvino-fp32", "openvino-bf16", "onnxruntime-fp32")
BENTOML_VERSION = "1.4.40"
BENTOML_VENV = load.REPO_ROOT / ".run" / "bentoml-venv"
DOC_PATH = load.REPO_ROOT / "docs" / "BENCHMARK_PIPELINE.md"
SECTION_START, SECTION_END = RUNTIMES_SECTION


def variant_env(variant: str) -> dict[str, str]:
    runtime, precision = variant.split("-")
    return {"INFERENCE_RUNTIME": runtime, "INFERENCE_PRECISION": precision}


# --- ours ------------------------------------------------------------------------------------


def bench_variant(args, env: dict, model: str, variant: str, pool, run_dir: Path) -> dict:
    env = {**env, **variant_env(variant)}
    tag = f"[{model} {variant}]"
    print(f"{tag} model alone…", flush=True)
    forward = bench_pipeline.run_forward_process(model, args.batch_size, args.forward_seconds, env)
    print(
        f"{tag}     {forward['images_per_second']:.1f} img/s at batch {args.batch_size}, "
        f"{forward['single_image_ms_median']:.1f} ms single, RSS {forward['rss_mb']:.0f} MB",
        flush=True,
    )
    log_dir = run_dir / "logs" / model / variant
    saturated, single = bench_pipeline.load_runs(
        args, env, model, args.batch_size, log_dir, pool, tag=f"{model} {variant}"
    )
    return {
        "forward": forward,
        "saturated": saturated,
        "single_user": single,
        "non_model_cpu_ms_per_upload": non_model_cpu(saturated, forward),
    }


def non_model_cpu(saturated: dict, forward: dict) -> float | None:
    """CPU per answered upload of everything but the forward pass: web, worker bookkeeping
    (the worker's CPU less the model's CPU per image measured alone), PostgreSQL, Redis."""
    parts = [
        saturated.get("web_cpu_ms_per_request"),
        saturated.get("worker_cpu_ms_per_request"),
        saturated.get("postgres_cpu_ms_per_request"),
        saturated.get("redis_cpu_ms_per_request"),
    ]
    if any(part is None for part in parts[:2]):
        return None
    return sum(p or 0.0 for p in parts) - forward["cpu_ms_per_image"]


# --- BentoML ---------------------------------------------------------------------------------


def ensure_bentoml_venv() -> Path:
    python = BENTOML_VENV / "bin" / "python"
    check = [
        str(python),
        "-c",
        f"import bentoml; assert bentoml.__version__ == '{BENTOML_VERSION}'",
    ]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"Creating {BENTOML_VENV} (bentoml=={BENTOML_VERSION}, tensorflow-cpu)…", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(BENTOML_VENV)], check=True)
    tensorflow = host.package_versions().get("tensorflow-cpu", "2.21.0")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"bentoml=={BENTOML_VERSION}",
         f"tensorflow-cpu=={tensorflow}", "pillow", "numpy"],
        check=True,
    )  # fmt: skip
    return python


def bentoml_summary(result: clients.LoadResult) -> dict:
    """The load's summary, CPU and memory being all of BentoML's (model included)."""
    summary = result.summary()
    return {
        **summary,
        "cpu_ms_per_request": summary["cpu_ms_per_request"]["bentoml"],
        "rss_mb_total": summary["rss_mb_total"]["bentoml"],
    }


def bentoml_ready(process: subprocess.Popen, port: int, log: Path) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"bentoml serve exited; see {log}")
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/readyz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def bench_bentoml(args, pool, run_dir: Path) -> dict:
    python = ensure_bentoml_venv()
    port = free_port()
    log = run_dir / "logs" / "bentoml.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        **system.tensorflow_threads(workers=1),
        "BENTOML_DO_NOT_TRACK": "True",  # BentoML's usage tracking, off
        "PEER_BATCH_SIZE": str(args.batch_size),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    bentoml = python.parent / "bentoml"
    command = [str(bentoml), "serve", "benchmarks.peers.bentoml_resnet50:ResNet50",
               "--port", str(port), "--host", "127.0.0.1"]  # fmt: skip
    print(f"[bentoml] serving ResNet50 on port {port}…", flush=True)
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command, cwd=load.REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_until(lambda: bentoml_ready(process, port, log), timeout=180, what=f"BentoML ({log})")

        def sampler() -> sampling.ProcessSampler:
            sampler = sampling.ProcessSampler(interval=1.0)
            sampler.add("bentoml", [process.pid], include_children=True)
            sampler.add("load generator", [os.getpid()])
            return sampler

        def uploader(i: int) -> clients.Uploader:
            url = f"http://127.0.0.1:{port}"
            first = 50_000_000 + i * 100_000
            return clients.Uploader(url, pool, first, path="/classify", field_name="images",
                                   expect=200)  # fmt: skip

        saturated = bentoml_summary(
            clients.closed_loop_load(
                uploader,
                clients=args.clients,
                warmup=args.warmup,
                seconds=args.seconds,
                sampler=sampler(),
            )
        )
        bench_pipeline.print_load("bentoml", saturated)
        single = clients.one_client_load(
            uploader(900), requests=args.single_requests, warmup=3, sampler=sampler()
        ).summary()
        print(f"[bentoml]     alone: p50 {fmt(single['p50_ms'], 0)} ms", flush=True)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    return {"saturated": saturated, "single_user": single, "bentoml": BENTOML_VERSION}


# --- the report: figures here, prose in benchmarks/templates/runtimes_section.md --------------


def verdicts(results: dict) -> list[tuple[str, str, str]]:
    """(target, figure, verdict) for the issue's targets, from this run only."""
    rows = []
    resnet = results["models"].get("resnet50", {})
    default = results.get("default_variant")
    best = max(
        resnet, key=lambda name: resnet[name]["saturated"]["images_per_second"], default=None
    )
    anchors = {
        "TensorFlow path": resnet.get("tensorflow-fp32", {}).get("saturated"),
        "BentoML": (results.get("bentoml") or {}).get("saturated"),
    }
    for anchor_name, anchor in anchors.items():
        for name in dict.fromkeys([default, best]):  # the default, then the fastest if other
            if anchor is None or name not in resnet:
                continue
            rate, base = resnet[name]["saturated"]["images_per_second"], anchor["images_per_second"]
            rows.append((
                f"ResNet50 e2e ≥ 2× {anchor_name} ({name})",
                f"{rate:.1f} / {base:.1f} = {rate / base:.2f}×",
                "met" if rate >= 2 * base else "**not met** (see “Reading the run” below)",
            ))  # fmt: skip
    for model, variants in results["models"].items():
        if (r := variants.get(default)) is None:
            continue
        cpu = r["non_model_cpu_ms_per_upload"]
        p50, forward = r["single_user"]["p50_ms"], r["forward"]["single_image_ms_median"]
        rows += [
            (f"non-model CPU per upload ≤ 7 ms ({model}, {default})", f"{fmt(cpu, 1)} ms",
             "met" if cpu is not None and cpu <= 7 else "**not met**"),
            (f"single-user p50 ≤ forward(1) + 15 ms ({model}, {default})",
             f"{fmt(p50, 1)} ≤ {forward:.1f} + 15",
             "met" if p50 is not None and p50 <= forward + 15 else "**not met**"),
        ]  # fmt: skip
    rss = [
        (r["saturated"]["rss_mb_per_process"].get("workers", 0), f"{model} {name}")
        for model, variants in results["models"].items()
        for name, r in variants.items()
    ]
    for label, candidates in (
        (f"the default, {default}", [item for item in rss if item[1].endswith(f" {default}")]),
        ("largest of all variants", rss),
    ):
        if candidates:
            mb, where = max(candidates, key=lambda item: item[0])
            rows.append((
                f"worker RSS ≤ 1.5 GB ({label})", f"{mb:.0f} MB ({where})",
                "met" if mb <= 1536 else "**not met**",
            ))  # fmt: skip
    return rows


def markdown_section(results: dict) -> str:
    rows = [
        [model, name, f"{f['images_per_second']:.1f}", f"{f['single_image_ms_median']:.1f}",
         f"{sat['images_per_second']:.1f} ({sat['failures']} failed)",
         f"{sat['images_per_second'] / f['images_per_second']:.2f}", fmt(sat["p50_ms"], 0),
         fmt(r["single_user"]["p50_ms"], 1), fmt(r["non_model_cpu_ms_per_upload"], 1),
         fmt(sat["web_cpu_ms_per_request"], 1),
         f"{sat['rss_mb_per_process'].get('workers', 0):.0f}"]
        for model, variants in results["models"].items()
        for name, r in variants.items()
        for f, sat in [(r["forward"], r["saturated"])]
    ]  # fmt: skip
    if peer := results.get("bentoml"):
        sat = peer["saturated"]
        rows.append([
            "resnet50", f"**BentoML {peer['bentoml']}**, TensorFlow, adaptive batching (max "
            f"{results['settings']['batch_size']})", "", "",
            f"{sat['images_per_second']:.1f} ({sat['failures']} failed)", "",
            fmt(sat["p50_ms"], 0), fmt(peer["single_user"]["p50_ms"], 1),
            f"{sat['cpu_ms_per_request']:.1f} (all its CPU, model included)", "",
            f"{sat['rss_mb_total']:.0f} (all processes)",
        ])  # fmt: skip
    headers = ["model", "runtime-precision", "alone, batch 16 img/s", "alone, 1 image ms",
               "e2e 50 clients img/s", "e2e / alone", "p50 at 50 clients ms", "one client p50 ms",
               "non-model CPU ms/upload", "web ms", "worker RSS MB"]  # fmt: skip
    return render("runtimes_section.md", {
        "r": results,
        "s": results["settings"],
        "steps": results.get("web_steps"),
        "table": table(headers, rows),
        "targets": table(["target", "figure", "verdict"], [list(v) for v in verdicts(results)]),
    })  # fmt: skip


def write_section(results: dict, path: Path) -> None:
    section = markdown_section(results)
    text = path.read_text() if path.exists() else ""
    if SECTION_START in text and SECTION_END in text:
        before, rest = text.split(SECTION_START, 1)
        text = before + section + rest.split(SECTION_END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


# --- main ------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = bench_pipeline.bench_parser(
        __doc__.split("\n\n")[0], DOC_PATH, seconds=8, warmup=4, forward_seconds=2,
        single_requests=15,
    )  # fmt: skip
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--no-bentoml", action="store_true")
    parser.add_argument("--web-steps", type=int, default=100, help="uploads timed in process")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    run_name = args.run_name or "runtimes-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = args.results_dir / run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    env = system.bench_environment(args.database_url, args.models[0], "bench-media")
    from mlworker.runtimes import choose

    auto = choose()
    pool = photos.PhotoPool.build(64, seed=7)

    results = {
        **host.run_record(run_name),
        "packages": host.package_versions(),
        "default_variant": auto.variant,
        "default_reason": auto.reason,
        "settings": {
            key: getattr(args, key)
            for key in (
                "batch_size",
                "max_wait_ms",
                "clients",
                "seconds",
                "warmup",
                "forward_seconds",
                "single_requests",
            )
        },
        "models": {},
    }
    for model in args.models:
        results["models"][model] = {}
        for variant in args.variants:
            results["models"][model][variant] = bench_variant(
                args, env, model, variant, pool, run_dir
            )
            (run_dir / "runtimes.json").write_text(json.dumps(results, indent=2))
    if not args.no_bentoml and "resnet50" in args.models:
        results["bentoml"] = bench_bentoml(args, pool, run_dir)
    if args.web_steps:
        print(f"Where the web's CPU goes, in process ({args.web_steps} uploads)…", flush=True)
        results["web_steps"] = bench_pipeline.run_web_steps_process(env, uploads=args.web_steps)
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    (run_dir / "runtimes.json").write_text(json.dumps(results, indent=2))
    for target, figure, verdict in verdicts(results):
        print(f"{target}: {figure} → {verdict}")
    if args.doc:
        write_section(results, Path(args.doc))
        print(f"Updated {args.doc}")
    print(f"Results in {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
