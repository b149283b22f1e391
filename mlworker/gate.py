"""The accuracy gate: a faster precision serves a model only if it answers like Keras fp32.

When a model is converted for a runtime and precision, the gate runs it and the model's own
framework (Keras, fp32) on the same held-out photos (`mlworker.gate_photos`: 308 real
photos that ship in packages, none of them seen by int8 calibration) and measures how
often the top-1 label is the same (top-1 agreement) and how much of the top 5 is shared
(top-5 overlap). A precision passes when its top-1 agreement is at least
INFERENCE_GATE_MIN_TOP1_AGREEMENT (99 %).

With `INFERENCE_PRECISION=auto` a model tries the precisions of `InferenceChoice.gated`
fastest first, then fp32, and keeps the first that passes; if even fp32 on the runtime
fails, TensorFlow itself runs it. The measurement is stored as `gate-*.json` next to the
converted model in its cache folder (named by the weights digest), so a later start reads
it and builds nothing. An asked-for precision runs as asked; its start line quotes a cached
measurement when there is one. Random weights are never gated (their labels mean nothing):
`auto` runs them in fp32.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mlworker.gate_photos import PHOTO_SET_VERSION, calibration_photos, gate_photos
from mlworker.models.backends import Forward, build_forward, cache_entry
from mlworker.runtimes import FP32, TENSORFLOW, InferenceChoice, ThreadPlan

logger = logging.getLogger(__name__)

BATCH = 16


@dataclass(frozen=True)
class GateResult:
    """One model's runtime-precision against Keras fp32 on the gate's photos."""

    variant: str  # "openvino-int8"
    images: int
    top1_same: int
    top5_overlap: float  # mean fraction of Keras's top 5 that the candidate's top 5 shares

    @property
    def top1_agreement(self) -> float:
        return self.top1_same / self.images if self.images else 0.0

    def passes(self, threshold: float) -> bool:
        return self.top1_agreement >= threshold

    def describe(self) -> str:
        return (
            f"top-1 agreement {self.top1_agreement:.1%} ({self.top1_same}/{self.images} "
            f"photos), top-5 overlap {self.top5_overlap:.1%} with Keras fp32"
        )


def measure(variant: str, reference: np.ndarray, candidate: np.ndarray) -> GateResult:
    """Agreement of `candidate`'s scores with `reference`'s (rank-based: probabilities and
    logits compare alike)."""
    reference = np.asarray(reference).reshape(len(reference), -1)
    candidate = np.asarray(candidate).reshape(len(candidate), -1)
    top5_reference = np.argsort(-reference, axis=1)[:, :5]
    top5_candidate = np.argsort(-candidate, axis=1)[:, :5]
    shared = [len(set(a) & set(b)) / 5 for a, b in zip(top5_reference, top5_candidate, strict=True)]
    return GateResult(
        variant=variant,
        images=len(reference),
        top1_same=int(np.sum(reference.argmax(axis=1) == candidate.argmax(axis=1))),
        top5_overlap=round(float(np.mean(shared)), 4),
    )


def min_top1_agreement() -> float:
    from django.conf import settings

    return settings.INFERENCE_GATE_MIN_TOP1_AGREEMENT


def result_path(entry: Path) -> Path:
    return entry / f"gate-photos{PHOTO_SET_VERSION}.json"


def read_result(entry: Path | None) -> GateResult | None:
    if entry is None:
        return None
    try:
        return GateResult(**json.loads(result_path(entry).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def write_result(entry: Path, result: GateResult) -> None:
    """Next to the converted model, written whole or not at all."""
    handle, staging = tempfile.mkstemp(dir=entry, suffix=".tmp")
    with os.fdopen(handle, "w") as file:
        json.dump(dataclasses.asdict(result), file)
    os.chmod(staging, 0o644)
    os.replace(staging, result_path(entry))


def run_in_batches(forward: Forward, inputs: np.ndarray) -> np.ndarray:
    return np.concatenate([forward(inputs[i : i + BATCH]) for i in range(0, len(inputs), BATCH)])


def preprocess_all(photos: list[Image.Image], preprocess) -> np.ndarray:
    return np.stack([preprocess(photo) for photo in photos]).astype(np.float32)


class _Once:
    """A value made on first use and kept (the Keras network, the photos, the reference)."""

    def __init__(self, make: Callable) -> None:
        self._make = make
        self._made = False
        self._value = None

    def __call__(self):
        if not self._made:
            self._value, self._made = self._make(), True
        return self._value


def gated_forward(
    *,
    model_key: str,
    make_network: Callable[[], object],
    weights_digest: str | None,
    input_size: tuple[int, int],
    choice: InferenceChoice,
    threads: ThreadPlan,
    cache_dir: Path,
    preprocess: Callable[[Image.Image], np.ndarray],
) -> tuple[Forward, InferenceChoice]:
    """The forward pass of the model on the fastest precision that passes the gate, and the
    choice it settled on, its reason ending with the measured figures.

    Arguments as `mlworker.models.backends.build_forward`; `preprocess` turns a photo into
    the model's input (for the gate's and the int8 calibration's photos).
    """
    network = _Once(make_network)
    calibration = _Once(lambda: preprocess_all(calibration_photos(), preprocess))

    def build(candidate: InferenceChoice) -> Forward:
        return build_forward(
            model_key=model_key,
            make_network=network,
            weights_digest=weights_digest,
            input_size=input_size,
            choice=candidate,
            threads=threads,
            cache_dir=cache_dir,
            calibration=calibration,
        )

    def entry_of(candidate: InferenceChoice) -> Path | None:
        if weights_digest is None or candidate.runtime == TENSORFLOW:
            return None
        return cache_entry(
            cache_dir=cache_dir,
            model_key=model_key,
            weights_digest=weights_digest,
            choice=candidate,
            input_size=input_size,
        )

    if not choice.gated:  # asked for, or the only precision here
        cached = read_result(entry_of(choice))
        reason = choice.reason + (f" (gate: {cached.describe()})" if cached else "")
        return build(choice), dataclasses.replace(choice, reason=reason)
    if weights_digest is None:
        fp32 = dataclasses.replace(
            choice,
            precision=FP32,
            gated=(),
            reason=f"{choice.reason}; fp32: random weights are never gated",
        )
        return build(fp32), fp32

    threshold = min_top1_agreement()
    inputs = _Once(lambda: preprocess_all(gate_photos(), preprocess))
    reference = _Once(lambda: _keras_reference(network(), input_size, inputs()))
    verdicts: list[str] = []
    for precision in (*choice.gated, choice.precision):
        candidate = dataclasses.replace(choice, precision=precision, gated=())
        entry = entry_of(candidate)
        result = read_result(entry)
        if result is not None and not result.passes(threshold):
            verdicts.append(_falls_back(precision, result, threshold))
            continue  # a known failure is not even loaded
        forward = build(candidate)
        if result is None:
            result = measure(candidate.variant, reference(), run_in_batches(forward, inputs()))
            if entry is not None and entry.is_dir():
                write_result(entry, result)
            logger.info("accuracy gate for %s %s: %s", model_key, candidate.variant, result)
        if result.passes(threshold):
            verdicts.append(f"{precision} passes: {result.describe()}")
            reason = f"{choice.reason}; {'; '.join(verdicts)}"
            return forward, dataclasses.replace(candidate, reason=reason)
        verdicts.append(_falls_back(precision, result, threshold))
        del forward
    keras = dataclasses.replace(choice, runtime=TENSORFLOW, precision=FP32, gated=())
    reason = f"{choice.reason}; {'; '.join(verdicts)}; running Keras itself (TensorFlow fp32)"
    return build(keras), dataclasses.replace(keras, reason=reason)


def _falls_back(precision: str, result: GateResult, threshold: float) -> str:
    return f"{precision} falls back: {result.describe()}, below {threshold * 100:g}%"


def _keras_reference(network, input_size: tuple[int, int], inputs: np.ndarray) -> np.ndarray:
    from mlworker.models.runtime import compile_forward

    return run_in_batches(compile_forward(network, input_size), inputs)
