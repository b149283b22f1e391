"""Check a newly registered version in a worker (never in a web process).

It must load (Keras with `safe_mode=True`), take a few sample images (`sample_images`) at its
input size, give one score per label for each,
and give finite scores (probabilities or logits). A Keras file served through a converted
runtime (OpenVINO, ONNX Runtime) in fp32 must agree with Keras itself on every sample's
top-1. With INFERENCE_PRECISION=auto, loading it runs the accuracy gate (`mlworker.gate`, on
the gate's real photos through the version's own preprocessing), and the report says which
precision passed and the measured agreement, so the workers that serve it later only read
the verdict.
The verdict goes to `registry.services.record_validation`: ready, or failed with a reason
the admin and the API show. Nothing live changes either way.
"""

from __future__ import annotations

import gc
import logging
import time

import numpy as np
from PIL import Image

from mlworker.models.custom import CustomClassifier, ModelLoadError, as_probabilities
from mlworker.registry_loader import RuntimeContext, current_context, load_version, version_spec
from mlworker.runtimes import FP32, TENSORFLOW
from registry import services, spec
from registry.models import ModelVersion

logger = logging.getLogger(__name__)

#: how far below Keras's top probability a converted runtime's pick may be and still agree
TOP1_TIE_TOLERANCE = 1e-3
#: side of the sample images; each model's preprocessing resizes them to its input size
SAMPLE_SIDE = 160


def sample_images() -> dict[str, Image.Image]:
    """Six deterministic images drawn here, so a worker needs no data files or downloads.

    They differ in colour, frequency and structure, which is all the checks need: the
    output's width, finite scores, and a converted runtime agreeing with Keras on top-1.
    """
    side = SAMPLE_SIDE
    y, x = np.mgrid[0:side, 0:side] / (side - 1)
    noise = np.random.default_rng(20261207).random((side, side, 3))
    radius = np.hypot(x - 0.5, y - 0.5)
    layers = {
        "gradient": np.stack([x, y, 1 - x], axis=-1),
        "rings": np.stack([np.sin(radius * 40) * 0.5 + 0.5, radius, 1 - radius], axis=-1),
        "checkerboard": np.repeat(((x * 8).astype(int) + (y * 8).astype(int)) % 2, 3)
        .reshape(side, side, 3)
        .astype(float),
        "stripes": np.stack([np.sin(x * 30) * 0.5 + 0.5, np.full_like(x, 0.3), y], axis=-1),
        "noise": noise,
        "blocks": np.stack(
            [(x > 0.5).astype(float), (y > 0.5).astype(float), ((x + y) > 1).astype(float)],
            axis=-1,
        ),
    }
    return {
        name: Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8), "RGB")
        for name, pixels in layers.items()
    }


class ValidationFailed(Exception):
    pass


def validate_version(version_id: int, context: RuntimeContext | None = None) -> bool:
    """Load and check one version; record ready or failed. True when it is ready."""
    try:
        version = version_spec(version_id)
    except ModelVersion.DoesNotExist:
        logger.warning("version %s to validate is gone", version_id)
        return False
    context = context or current_context()
    try:
        report = _check(version, context)
    except (ValidationFailed, ModelLoadError) as error:
        logger.warning("model version %s failed validation: %s", version.display_name, error)
        services.record_validation(version_id=version_id, failure=str(error))
        return False
    except Exception as error:  # a model file can make a framework raise anything
        logger.exception("model version %s: unexpected error while validating", version_id)
        failure = f"The model could not be run: {type(error).__name__}: {str(error)[:300]}"
        services.record_validation(version_id=version_id, failure=failure)
        return False
    finally:
        gc.collect()  # the checked model is not kept; give its memory back
    return services.record_validation(version_id=version_id, report=report)


def _check(version, context: RuntimeContext) -> dict:
    started = time.monotonic()
    model = load_version(version, context)
    load_seconds = time.monotonic() - started
    images = sample_images()
    batch = np.stack([model.preprocess(image) for image in images.values()])
    if isinstance(model, CustomClassifier):
        raw = model.raw_outputs(batch)
    else:
        raw = model.predict_batch(batch)
    raw = np.asarray(raw)
    width = len(model.labels)
    if raw.ndim < 2 or raw.shape[0] != len(images) or int(np.prod(raw.shape[1:])) != width:
        raise ValidationFailed(
            f"The model outputs {tuple(raw.shape[1:])} scores per image but the version has "
            f"{width} labels: the label file must list one label per output, in order."
        )
    if not np.all(np.isfinite(raw)):
        raise ValidationFailed("The model outputs NaN or infinite scores on the sample photos.")
    probabilities, were_logits = as_probabilities(raw.reshape(len(images), width))
    top1 = probabilities.argmax(axis=1)
    choice = getattr(model, "choice", context.choice)
    report: dict = {
        "outputs": "logits" if were_logits else "probabilities",
        "runtime": getattr(model, "runtime", context.choice.runtime),
        "precision": choice.precision,
        "runs_because": choice.reason,
        "load_seconds": round(load_seconds, 2),
        "samples": [
            {"image": name, "label": model.labels[i], "score": round(float(probabilities[n, i]), 4)}
            for n, (name, i) in enumerate(zip(images, top1, strict=True))
        ],
    }
    keras_file = isinstance(model, CustomClassifier) and version.format in (spec.KERAS, spec.H5)
    # A converted fp32 model must match Keras on every sample; int8 or bf16 were judged by
    # the accuracy gate on 308 photos, where a near-tie on one of six samples is no verdict.
    if keras_file and model.runtime != TENSORFLOW and choice.precision == FP32:
        report["agrees_with_keras"] = _agrees_with_keras(model, batch, top1)
    return report


def _agrees_with_keras(model: CustomClassifier, batch: np.ndarray, top1: np.ndarray) -> str:
    """The converted runtime's top-1 against Keras's own, on every sample."""
    reference = np.asarray(model.network(batch, training=False)).reshape(len(batch), -1)
    keras_probabilities, _ = as_probabilities(reference)
    # A near-tie may break either way in float32 on another runtime: it counts as a
    # disagreement only when Keras scores the runtime's pick clearly below its own top label.
    picked = keras_probabilities[np.arange(len(batch)), top1]
    disagree = int(np.sum(picked < keras_probabilities.max(axis=1) - TOP1_TIE_TOLERANCE))
    if disagree:
        raise ValidationFailed(
            f"{model.runtime} and Keras disagree on the top label for {disagree} of "
            f"{len(batch)} sample photos; run this worker with INFERENCE_RUNTIME=tensorflow "
            "or check the model's layers."
        )
    return f"{model.runtime} = keras on {len(batch)} samples"
