"""Which inference runtime and precision the worker uses, decided without importing any of them.

The models are defined in Keras (the source of truth). A worker runs them through
TensorFlow itself, or through OpenVINO or ONNX Runtime after converting them once
(`mlworker.models.backends`). Deciding reads only the settings, /proc/cpuinfo and which
packages are installed (it imports none of them), so the command can explain its choice
before loading anything. Only workers decide: the web reads the model name each live
worker publishes (`classifier.queueing`).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

AUTO = "auto"
TENSORFLOW = "tensorflow"
OPENVINO = "openvino"
ONNXRUNTIME = "onnxruntime"
RUNTIMES = (TENSORFLOW, OPENVINO, ONNXRUNTIME)
FP32 = "fp32"
BF16 = "bf16"
PRECISIONS = (FP32, BF16)

#: the Python package each runtime needs (besides TensorFlow, which builds the model)
RUNTIME_MODULES = {TENSORFLOW: "tensorflow", OPENVINO: "openvino", ONNXRUNTIME: "onnxruntime"}
#: runtimes with a bf16 path we offer. ONNX Runtime's CPU provider has no bf16 convolution
#: kernels on x86, and TensorFlow would need the model rebuilt under a mixed-precision policy.
BF16_RUNTIMES = frozenset({OPENVINO})
#: CPU flags that give bf16 matrix arithmetic in hardware (AVX-512 BF16, AMX)
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})

#: What `auto` picks, fastest first; every entry passes the parity tests
#: (mlworker/tests/test_runtime_parity.py). Measured by `python -m benchmarks.bench_runtimes`
#: (docs/BENCHMARK_PIPELINE.md).
PREFERENCE = (OPENVINO, ONNXRUNTIME, TENSORFLOW)
#: bf16 is several times faster where the CPU has it, but on EfficientNet-Lite0 it misses the
#: parity bar (same top-1 on >= 99 % of the photos, top-5 within 2e-2): it is only run when
#: asked for (INFERENCE_PRECISION=bf16), never picked by `auto`.
BF16_MEETS_PARITY = False


class RuntimeUnavailable(ValueError):
    """The configured runtime or precision cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class InferenceChoice:
    runtime: str
    precision: str
    #: one sentence: why this runtime and precision (logged by the worker at start)
    reason: str

    @property
    def variant(self) -> str:
        """`openvino-bf16`, ...; what the model name says after `+`."""
        return f"{self.runtime}-{self.precision}"

    @property
    def name_suffix(self) -> str:
        """Appended to the model name. TensorFlow fp32 keeps the plain name: its answers are
        the ones already stored, so the result cache stays valid."""
        if (self.runtime, self.precision) == (TENSORFLOW, FP32):
            return ""
        return "+" + self.variant


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


@functools.cache
def host_bf16_flags() -> frozenset[str]:
    """The bf16 flags this host's CPU reports (empty: no hardware bf16)."""
    return cpu_flags() & BF16_CPU_FLAGS


def runtime_installed(runtime: str) -> bool:
    return importlib.util.find_spec(RUNTIME_MODULES[runtime]) is not None


def choose(
    runtime: str = AUTO,
    precision: str = AUTO,
    *,
    bf16_flags: frozenset[str] | None = None,
    installed: frozenset[str] | None = None,
) -> InferenceChoice:
    """The runtime and precision to use for the given settings on this host.

    `auto` runtime: the first of PREFERENCE that is installed (and runs the asked-for
    precision). `auto` precision: fp32 (see BF16_MEETS_PARITY). Asked-for bf16 that the
    runtime or CPU lacks falls back on fp32, and the reason says so. An asked-for runtime
    that is not installed is an error, not a fallback.
    """
    if runtime not in (AUTO, *RUNTIMES):
        raise RuntimeUnavailable(
            f"INFERENCE_RUNTIME={runtime!r}: choose one of auto, {', '.join(RUNTIMES)}."
        )
    if precision not in (AUTO, *PRECISIONS):
        raise RuntimeUnavailable(
            f"INFERENCE_PRECISION={precision!r}: choose one of auto, {', '.join(PRECISIONS)}."
        )
    flags = host_bf16_flags() if bf16_flags is None else bf16_flags
    if installed is None:
        installed = frozenset(r for r in RUNTIMES if runtime_installed(r))
    if runtime != AUTO and runtime not in installed:
        raise RuntimeUnavailable(
            f"INFERENCE_RUNTIME={runtime}: the {RUNTIME_MODULES[runtime]!r} package is not "
            "installed in this environment (requirements/worker.txt), or choose another runtime."
        )
    candidates = [runtime] if runtime != AUTO else [r for r in PREFERENCE if r in installed]
    if not candidates:
        raise RuntimeUnavailable("No inference runtime is installed (not even TensorFlow).")
    setting = f"INFERENCE_RUNTIME={runtime}, INFERENCE_PRECISION={precision}"
    fastest = "fastest installed runtime that passes the parity tests"

    if precision == BF16:
        bf16_capable = [r for r in candidates if r in BF16_RUNTIMES]
        if bf16_capable and flags:
            return InferenceChoice(
                bf16_capable[0], BF16, f"{setting}: bf16 as asked (CPU has "
                f"{', '.join(sorted(flags))}; below the parity bar on EfficientNet-Lite0, "
                "see docs/BENCHMARK_PIPELINE.md)"
            )  # fmt: skip
        why = (
            "this CPU has no bf16 arithmetic (no avx512_bf16 or amx_bf16 in /proc/cpuinfo)"
            if bf16_capable
            else f"bf16 is only offered on {', '.join(sorted(BF16_RUNTIMES))}"
        )
        return InferenceChoice(candidates[0], FP32, f"{setting}: {why}; running fp32")
    if precision == AUTO:
        why = "fp32 (bf16 is opt-in: below the parity bar on EfficientNet-Lite0)"
    else:
        why = "fp32 as asked"
    if runtime == AUTO:
        why = f"{fastest}, {why}"
    return InferenceChoice(candidates[0], FP32, f"{setting}: {why}")


@functools.cache
def _configured(runtime: str, precision: str) -> InferenceChoice:
    return choose(runtime, precision)


def configured_choice() -> InferenceChoice:
    """The choice for this process's settings (cached: it reads files)."""
    from django.conf import settings

    return _configured(settings.INFERENCE_RUNTIME, settings.INFERENCE_PRECISION)


@dataclass(frozen=True)
class ThreadPlan:
    """How many threads one worker's forward pass uses, and how they behave."""

    threads: int
    workers_per_host: int


def thread_plan(*, num_threads: int, workers_per_host: int, cores: int | None = None) -> ThreadPlan:
    """INFERENCE_NUM_THREADS if set, else this host's cores split between its workers."""
    cores = cores or len(os.sched_getaffinity(0))
    workers = max(1, workers_per_host)
    threads = num_threads if num_threads > 0 else max(1, cores // workers)
    return ThreadPlan(threads=threads, workers_per_host=workers)
