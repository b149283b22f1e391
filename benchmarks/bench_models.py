"""Benchmark the classifiers' forward pass on this machine (a measurement, not a test).

    .venv/bin/python -m benchmarks.bench_models

Each model runs in a fresh process of its own, as in a worker, so one model's large
allocations do not disturb another's timings. Per batch size: --warmup untimed calls (graph tracing,
allocator), then timed `predict_batch` calls on a fixed random batch for --seconds (at
least --min-runs). Preprocessing and decoding are not included. Reports the median and
best ms per batch, and images per second from the median.

Models: `resnet50` with random weights (same compute as the ImageNet weights, which need
a download), `efficientnet_lite0` as the worker runs it (batch norms folded into the
convolutions), and `efficientnet_lite0 (as trained)` with its batch-norm layers kept, to
show what folding buys.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

import numpy as np

from benchmarks.load import REPO_ROOT, host
from benchmarks.load.sampling import time_predict_batch


def resnet50_random():
    from mlworker.models.resnet import ResNet50Classifier

    return ResNet50Classifier(weights="random")


def efficientnet_lite0():
    from mlworker.models.efficientnet_lite import EfficientNetLite0

    return EfficientNetLite0()


class _AsTrainedEfficientNetLite0:
    """EfficientNet-Lite0 with its batch-norm layers kept (same weights, same cache)."""

    name = "efficientnet_lite0 (as trained, BN not folded)"
    input_size = (224, 224)

    def __init__(self):
        from mlworker.models import efficientnet_lite as lite
        from mlworker.models.runtime import compile_forward

        weights = lite.load_or_convert_weights(
            lite.default_weights_path(), lite.default_cache_dir()
        )
        network = lite.build_efficientnet_lite0(self.input_size[0], batch_norm_folded=False)
        lite.set_weights_by_name(network, weights)
        self.predict_batch = compile_forward(network, self.input_size)


MODELS = {
    "resnet50": resnet50_random,
    "efficientnet_lite0": efficientnet_lite0,
    "efficientnet_lite0_bn": _AsTrainedEfficientNetLite0,
}


def time_forward(model, batch_size: int, warmup: int, seconds: float, min_runs: int) -> list[float]:
    """Durations of timed `predict_batch` calls on one fixed random batch."""
    height, width = model.input_size
    batch = np.random.default_rng(0).standard_normal((batch_size, height, width, 3), np.float32)
    for _ in range(warmup):
        model.predict_batch(batch)
    return time_predict_batch(model, batch, seconds, min_runs)


def bench_in_this_process(key: str, args: argparse.Namespace) -> None:
    """Print one table row per batch size for one model."""
    model = MODELS[key]()
    for batch_size in args.batch_sizes:
        durations = time_forward(model, batch_size, args.warmup, args.seconds, args.min_runs)
        median = statistics.median(durations)
        print(
            f"| {model.name} | {batch_size} | {median * 1000:.1f} | {batch_size / median:.1f} | "
            f"{min(durations) * 1000:.1f} | {len(durations)} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8, 16, 32])
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per batch size")
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per batch size")
    parser.add_argument("--min-runs", type=int, default=5)
    parser.add_argument("--in-process", action="store_true", help="internal: bench one model here")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    if args.in_process:
        bench_in_this_process(args.models[0], args)
        return

    import tensorflow as tf

    threads = os.environ.get("TF_INTRA_OP_THREADS", "TF default")
    print(f"{host.cpu_model()}, {os.cpu_count()} logical CPUs; TF {tf.__version__}; ", end="")
    print(f"intra-op threads: {threads}; {args.seconds:g} s per batch size, one process per model")
    print(f"load average before (1/5/15 min): {host.load_average()}")
    print()
    print(
        "| model | batch | ms / batch (median) | images / s (median) | ms / batch (best) | runs |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |", flush=True)
    options = ["--batch-sizes", *map(str, args.batch_sizes), "--warmup", str(args.warmup)]
    options += ["--seconds", str(args.seconds), "--min-runs", str(args.min_runs)]
    for key in args.models:
        command = [sys.executable, "-m", "benchmarks.bench_models", "--in-process", "--models", key]
        subprocess.run([*command, *options], check=True, cwd=REPO_ROOT)
    print(f"\nload average after (1/5/15 min): {host.load_average()}")


if __name__ == "__main__":
    main()
