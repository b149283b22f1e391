"""ResNet50 from keras.applications behind the `ImageClassifier` interface."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image

from classifier.catalog import model_name
from mlworker.models.base import ImageClassifier
from mlworker.models.runtime import compile_forward, configure_tensorflow

logger = logging.getLogger(__name__)

# Keras's "caffe" preprocessing for ResNet50: RGB→BGR, then subtract the ImageNet mean (BGR).
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
KERAS_WEIGHTS_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels.h5"


class WeightsUnavailable(RuntimeError):
    """The requested weights cannot be loaded; the message says how to fix it."""


def cached_imagenet_weights() -> Path | None:
    """Keras's cached copy of the ImageNet weights ($KERAS_HOME/models), if present."""
    from django.conf import settings

    candidate = Path(settings.KERAS_HOME) / "models" / KERAS_WEIGHTS_FILE
    return candidate if candidate.is_file() else None


class ResNet50Classifier(ImageClassifier):
    input_size = (224, 224)

    def __init__(self, weights: str | None = None):
        from django.conf import settings

        configure_tensorflow()
        from keras.applications import ResNet50

        weights = weights or settings.RESNET50_WEIGHTS
        self.name = model_name("resnet50", resnet50_weights=weights)
        if weights == "random":
            logger.warning(
                "ResNet50 is running with RANDOM weights: its labels are meaningless. "
                "Use this only for tests and speed benchmarks."
            )
            network = ResNet50(weights=None)
        elif weights == "imagenet":
            try:
                network = ResNet50(weights="imagenet")
            except Exception as error:  # keras raises several kinds for a failed download
                raise WeightsUnavailable(
                    "Cannot load ResNet50 ImageNet weights (no cached copy and the download "
                    f"failed: {error}). Fix: run once with network access, or set "
                    "RESNET50_WEIGHTS=/path/to/resnet50_weights.h5, or use "
                    "CLASSIFIER_MODEL=efficientnet_lite0 (works offline)."
                ) from None
        else:
            if not Path(weights).is_file():
                raise WeightsUnavailable(
                    f"RESNET50_WEIGHTS={weights!r} is not a file. Set it to 'imagenet' (download), "
                    "a path to a ResNet50 .h5 weights file, or 'random' (tests only)."
                )
            network = ResNet50(weights=weights)
        self._forward = compile_forward(network, self.input_size)

    def preprocess(self, image: Image.Image) -> np.ndarray:
        resized = image.resize(self.input_size[::-1], Image.Resampling.BILINEAR)
        pixels = np.asarray(resized, dtype=np.float32)
        return pixels[..., ::-1] - _CAFFE_MEAN_BGR

    def predict_batch(self, batch: np.ndarray) -> np.ndarray:
        return self._forward(batch)
