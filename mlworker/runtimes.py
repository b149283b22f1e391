"""Which inference runtime and precision the worker uses, decided without importing any of them.

The models are defined in Keras (the source of truth). A worker runs them through
TensorFlow itself, or through OpenVINO or ONNX Runtime after converting them once
(`mlworker.models.backends`). Deciding reads only the settings, /proc/cpuinfo and which
packages are installed (it imports none of them), so the command can explain its choice
before loading anything. Only workers decide: the web reads the model name each live
worker publishes (`classifier.queueing`).

`INFERENCE_PRECISION=auto` leaves the last word to the accuracy gate (`mlworker.gate`):
the choice lists the precisions to try fastest first (`gated`), and the model keeps the
first one that agrees with Keras fp32 on the gate's photos.
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
INT8 = "int8"
PRECISIONS = (FP32, BF16, INT8)

#: the Python package each runtime needs (besides TensorFlow, which builds the model)
RUNTIME_MODULES = {TENSORFLOW: "tensorflow", OPENVINO: "openvino", ONNXRUNTIME: "onnxruntime"}
#: runtimes with a bf16 path we offer. ONNX Runtime's CPU provider has no bf16 convolution
#: kernels on x86, and TensorFlow would need the model rebuilt under a mixed-precision policy.
BF16_RUNTIMES = frozenset({OPENVINO})
#: CPU flags that give bf16 matrix arithmetic in hardware (AVX-512 BF16, AMX)
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
#: runtimes with an int8 path: OpenVINO, quantized by NNCF (post-training, calibrated on
#: shipped photos). ONNX Runtime's QDQ int8 did not pay on EfficientNet-Lite0
#: (docs/INFERENCE_RUNTIMES.md).
INT8_RUNTIMES = frozenset({OPENVINO})
#: the package that quantizes (a cached int8 model runs without it)
INT8_QUANTIZER_MODULE = "nncf"

#: What `auto` picks, fastest first; every entry passes the parity tests
#: (mlworker/tests/test_runtime_parity.py). Measured by `python -m benchmarks.bench_runtimes`
#: (docs/BENCHMARK_PIPELINE.md).
PREFERENCE = (OPENVINO, ONNXRUNTIME, TENSORFLOW)
#: The precisions `auto` puts through the accuracy gate before fp32, fastest first
#: (OpenVINO, EfficientNet-Lite0 at batch 16, docs/INFERENCE_RUNTIMES.md): int8 beats bf16
#: wherever both run, and both beat fp32. fp32 is gated too; TensorFlow fp32 is the reference.
GATED_ORDER = (INT8, BF16)


class RuntimeUnavailable(ValueError):
    """The configured runtime or precision cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class InferenceChoice:
    runtime: str
    precision: str
    #: one sentence: why this runtime and precision (logged by the worker at start)
    reason: str
    #: precisions to try before `precision`, fastest first; each runs only if it passes the
    #: accuracy gate for the model at hand (`mlworker.gate`). Empty: `precision` as it is.
    gated: tuple[str, ...] = ()

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


def quantizer_installed() -> bool:
    return importlib.util.find_spec(INT8_QUANTIZER_MODULE) is not None


def choose(
    runtime: str = AUTO,
    precision: str = AUTO,
    *,
    bf16_flags: frozenset[str] | None = None,
    installed: frozenset[str] | None = None,
    can_quantize: bool | None = None,
) -> InferenceChoice:
    """The runtime and precision to use for the given settings on this host.

    `auto` runtime: the first of PREFERENCE that is installed. `auto` precision: fp32, after
    the faster precisions this runtime and CPU offer (`gated`), each kept only if it passes
    the accuracy gate for the model. An asked-for precision that the runtime or CPU lacks
    falls back on fp32, and the reason says so. An asked-for runtime that is not installed
    is an error, not a fallback.
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
    if can_quantize is None:
        can_quantize = quantizer_installed()
    if runtime != AUTO and runtime not in installed:
        raise RuntimeUnavailable(
            f"INFERENCE_RUNTIME={runtime}: the {RUNTIME_MODULES[runtime]!r} package is not "
            "installed in this environment (requirements/worker.txt), or choose another runtime."
        )
    candidates = [runtime] if runtime != AUTO else [r for r in PREFERENCE if r in installed]
    if not candidates:
        raise RuntimeUnavailable("No inference runtime is installed (not even TensorFlow).")
    chosen = candidates[0]
    said = f"INFERENCE_RUNTIME={runtime}, INFERENCE_PRECISION={precision}: "
    if runtime == AUTO:
        said += "fastest installed runtime that passes the parity tests; "
    why_not = {
        BF16: _bf16_missing(chosen, flags),
        INT8: _int8_missing(chosen, can_quantize),
        FP32: "",
    }
    if precision == AUTO:
        gated = tuple(p for p in GATED_ORDER if not why_not[p])
        if not gated:
            return InferenceChoice(chosen, FP32, f"{said}fp32 (the only precision offered here)")
        offered = ", ".join((*gated, FP32))
        return InferenceChoice(
            chosen, FP32, f"{said}the fastest of {offered} that passes the accuracy gate", gated
        )
    if why_not[precision]:
        return InferenceChoice(chosen, FP32, f"{said}{why_not[precision]}; running fp32")
    return InferenceChoice(chosen, precision, f"{said}{precision} as asked (not gated)")


def _bf16_missing(runtime: str, flags: frozenset[str]) -> str:
    if runtime not in BF16_RUNTIMES:
        return f"bf16 is only offered on {', '.join(sorted(BF16_RUNTIMES))}"
    if not flags:
        return "this CPU has no bf16 arithmetic (no avx512_bf16 or amx_bf16 in /proc/cpuinfo)"
    return ""


def _int8_missing(runtime: str, can_quantize: bool) -> str:
    if runtime not in INT8_RUNTIMES:
        return f"int8 is only offered on {', '.join(sorted(INT8_RUNTIMES))}"
    if not can_quantize:
        return f"int8 needs the {INT8_QUANTIZER_MODULE!r} package (requirements/worker.txt)"
    return ""


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
