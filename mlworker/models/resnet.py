"""ResNet50 from keras.applications behind the `ImageClassifier` interface."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image

from mlworker.catalog import model_name
from mlworker.gate import gated_forward
from mlworker.models.backends import (
    configured_threads,
    default_cache_dir,
    file_digest,
)
from mlworker.models.base import ImageClassifier
from mlworker.models.runtime import configure_tensorflow
from mlworker.runtimes import InferenceChoice, ThreadPlan, configured_choice

logger = logging.getLogger(__name__)

# Keras's "caffe" preprocessing for ResNet50: RGB→BGR, then subtract the ImageNet mean (BGR).
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
KERAS_WEIGHTS_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels.h5"


def caffe_preprocess(image: Image.Image, input_size: tuple[int, int]) -> np.ndarray:
    resized = image.resize(input_size[::-1], Image.Resampling.BILINEAR)
    pixels = np.asarray(resized, dtype=np.float32)
    return pixels[..., ::-1] - _CAFFE_MEAN_BGR


class WeightsUnavailable(RuntimeError):
    """The requested weights cannot be loaded; the message says how to fix it."""


def cached_imagenet_weights() -> Path | None:
    """Keras's cached copy of the ImageNet weights ($KERAS_HOME/models), if present."""
    from django.conf import settings

    candidate = Path(settings.KERAS_HOME) / "models" / KERAS_WEIGHTS_FILE
    return candidate if candidate.is_file() else None


def weights_digest(weights: str) -> str | None:
    """Digest of the weights file behind `weights` (None for random weights: never cached)."""
    if weights == "random":
        return None
    path = cached_imagenet_weights() if weights == "imagenet" else Path(weights)
    if path is None:  # not downloaded yet: the Keras model fetches it, then it is a file
        build_resnet50(weights)
        path = cached_imagenet_weights()
    if path is None or not path.is_file():
        raise WeightsUnavailable(
            f"RESNET50_WEIGHTS={weights!r} is not a file. Set it to 'imagenet' (download), "
            "a path to a ResNet50 .h5 weights file, or 'random' (tests only)."
        )
    return file_digest(path)


def build_resnet50(weights: str):
    """The Keras ResNet50 with `weights` ('imagenet', a .h5 path, or 'random')."""
    configure_tensorflow()
    from keras.applications import ResNet50

    if weights == "random":
        return ResNet50(weights=None)
    if weights == "imagenet":
        try:
            return ResNet50(weights="imagenet")
        except Exception as error:  # keras raises several kinds for a failed download
            raise WeightsUnavailable(
                "Cannot load ResNet50 ImageNet weights (no cached copy and the download "
                f"failed: {error}). Fix: run once with network access, or set "
                "RESNET50_WEIGHTS=/path/to/resnet50_weights.h5, or use "
                "CLASSIFIER_MODEL=efficientnet_lite0 (works offline)."
            ) from None
    if not Path(weights).is_file():
        raise WeightsUnavailable(
            f"RESNET50_WEIGHTS={weights!r} is not a file. Set it to 'imagenet' (download), "
            "a path to a ResNet50 .h5 weights file, or 'random' (tests only)."
        )
    return ResNet50(weights=weights)


class ResNet50Classifier(ImageClassifier):
    input_size = (224, 224)

    def __init__(
        self,
        weights: str | None = None,
        *,
        choice: InferenceChoice | None = None,
        threads: ThreadPlan | None = None,
        cache_dir: str | os.PathLike | None = None,
    ):
        from django.conf import settings

        weights = weights or settings.RESNET50_WEIGHTS
        if weights == "random":
            logger.warning(
                "ResNet50 is running with RANDOM weights: its labels are meaningless. "
                "Use this only for tests and speed benchmarks."
            )
        self._forward, self.choice = gated_forward(
            model_key="resnet50",
            make_network=lambda: build_resnet50(weights),
            weights_digest=weights_digest(weights),
            input_size=self.input_size,
            choice=choice or configured_choice(),
            threads=threads or configured_threads(),
            cache_dir=Path(cache_dir) if cache_dir else default_cache_dir(),
            preprocess=self.preprocess,
        )
        self.name = model_name("resnet50", resnet50_weights=weights, choice=self.choice)

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return caffe_preprocess(image, self.input_size)

    def predict_batch(self, batch: np.ndarray) -> np.ndarray:
        return self._forward(batch)
