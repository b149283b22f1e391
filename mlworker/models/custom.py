"""A registry version (the user's own model file) behind the `ImageClassifier` interface.

Formats: Keras `.keras` / `.h5` (loaded with `safe_mode=True`, so a Lambda layer's pickled
code is refused; run on the worker's configured runtime, converted and cached by the file's
digest like the built-ins), a zipped TensorFlow SavedModel (a graph, no Python code; run by
TensorFlow) and ONNX (run by ONNX Runtime). Outputs may be probabilities or logits: a row
that is not already a distribution goes through softmax.
"""

from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from mlworker.gate import gated_forward
from mlworker.models.backends import Forward
from mlworker.models.base import ImageClassifier
from mlworker.runtimes import FP32, ONNXRUNTIME, TENSORFLOW, InferenceChoice, ThreadPlan
from registry import spec

logger = logging.getLogger(__name__)


class ModelLoadError(Exception):
    """The file cannot be loaded as the model it claims to be; the message says why."""


@dataclass(frozen=True)
class VersionSpec:
    """What the worker needs of a registry version (read from its row)."""

    id: int
    name: str
    version: int
    format: str
    sha256: str
    labels: tuple[str, ...]
    input_size: tuple[int, int]
    preprocessing: str
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    builtin_key: str = ""
    weights: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_row(cls, row) -> VersionSpec:
        return cls(
            id=row.pk,
            name=row.name,
            version=row.version,
            format=row.format,
            sha256=row.sha256,
            labels=tuple(row.labels),
            input_size=(row.input_height, row.input_width),
            preprocessing=row.preprocessing,
            mean=tuple(row.mean) if row.mean else None,
            std=tuple(row.std) if row.std else None,
            builtin_key=row.builtin_key,
            weights=row.weights.name if row.weights else "",
        )

    @property
    def display_name(self) -> str:
        return f"{self.name} v{self.version}"


def preprocess_with(preset: spec.Preset, image: Image.Image, input_size: tuple[int, int]):
    """Resize (bilinear) to the input size and apply the preset's arithmetic."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    pixels = np.asarray(image.resize(input_size[::-1], Image.Resampling.BILINEAR), np.float32)
    if preset.bgr:
        pixels = pixels[..., ::-1]
    pixels = pixels / np.float32(preset.scale)
    return ((pixels - np.float32(preset.mean)) / np.float32(preset.std)).astype(np.float32)


def as_probabilities(outputs: np.ndarray) -> tuple[np.ndarray, bool]:
    """(probabilities, True if they were logits). A row summing to 1 with no negative entry
    is taken as a distribution already."""
    outputs = np.asarray(outputs, dtype=np.float32)
    if outputs.ndim != 2:
        outputs = outputs.reshape(outputs.shape[0], -1)
    sums = outputs.sum(axis=1)
    if np.all(outputs >= 0) and np.allclose(sums, 1.0, atol=1e-3):
        return outputs, False
    shifted = outputs - outputs.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True), True


def load_keras(path: Path):
    """The Keras model in `path`, refusing anything that would run pickled code."""
    from mlworker.models.runtime import configure_tensorflow

    configure_tensorflow()
    import keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # keras raises many kinds for a bad file
        raise ModelLoadError(f"Keras could not load this file: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]


def _savedmodel_forward(path: Path, cache_dir: Path) -> Forward:
    from mlworker.models.runtime import configure_tensorflow

    configure_tensorflow()
    import tensorflow as tf

    folder = cache_dir / (path.stem + ".savedmodel")
    if not folder.is_dir():
        try:
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():  # no absolute paths, no "..": stay inside
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise ModelLoadError("The SavedModel archive has unsafe paths.")
                archive.extractall(folder)
        except zipfile.BadZipFile:
            raise ModelLoadError("This is not a zipped SavedModel.") from None
    roots = [p.parent for p in folder.rglob("saved_model.pb")]
    if not roots:
        raise ModelLoadError("The archive holds no saved_model.pb.")
    try:
        loaded = tf.saved_model.load(str(roots[0]))
        signature = loaded.signatures["serving_default"]
    except Exception as error:
        raise ModelLoadError(
            f"TensorFlow could not load the SavedModel: {_first_line(error)}"
        ) from None
    input_name = next(iter(signature.structured_input_signature[1]))

    def forward(batch: np.ndarray) -> np.ndarray:
        outputs = signature(**{input_name: tf.constant(batch, dtype=tf.float32)})
        return next(iter(outputs.values())).numpy()

    forward.keep = loaded  # type: ignore[attr-defined]  # the graph must outlive the call
    return forward


def _onnx_forward(path: Path, threads: ThreadPlan) -> Forward:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads.threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:
        raise ModelLoadError(
            f"ONNX Runtime could not load this file: {_first_line(error)}"
        ) from None
    input_name = session.get_inputs()[0].name

    def forward(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: np.ascontiguousarray(batch, np.float32)})[0]

    return forward


class CustomClassifier(ImageClassifier):
    """One registry version, loaded from its local copy `path`."""

    def __init__(
        self,
        version: VersionSpec,
        path: Path,
        *,
        choice: InferenceChoice,
        threads: ThreadPlan,
        cache_dir: Path,
    ):
        self.spec = version
        self.version_id = version.id
        self.labels = version.labels
        self.input_size = version.input_size
        self.preset = spec.preset_for(version.preprocessing, mean=version.mean, std=version.std)
        self.runtime = TENSORFLOW
        if version.format in (spec.KERAS, spec.H5):
            network = load_keras(path)
            self.network = network
            # Gated like the built-ins, on the same photos through this version's preprocessing
            # (the gate compares rankings, so any labels serve).
            self._forward, self.choice = gated_forward(
                model_key=f"registry-{version.name}",
                make_network=lambda: network,
                weights_digest=version.sha256,
                input_size=self.input_size,
                choice=choice,
                threads=threads,
                cache_dir=cache_dir,
                preprocess=self.preprocess,
            )
            self.runtime = self.choice.runtime
            self.name = version.display_name + self.choice.name_suffix
        elif version.format == spec.SAVEDMODEL:
            self._forward = _savedmodel_forward(path, cache_dir)
            self.choice = InferenceChoice(TENSORFLOW, FP32, "a SavedModel runs on TensorFlow")
            self.name = version.display_name
        elif version.format == spec.ONNX:
            self._forward = _onnx_forward(path, threads)
            self.runtime = ONNXRUNTIME
            self.choice = InferenceChoice(ONNXRUNTIME, FP32, "an ONNX file runs on ONNX Runtime")
            self.name = version.display_name
        else:
            raise ModelLoadError(f"Unknown model format {version.format!r}.")
        #: whether the last batch's outputs were logits (validation reports it)
        self.last_were_logits = False

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return preprocess_with(self.preset, image, self.input_size)

    def raw_outputs(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._forward(np.asarray(batch, dtype=np.float32)))

    def predict_batch(self, batch: np.ndarray) -> np.ndarray:
        probabilities, self.last_were_logits = as_probabilities(self.raw_outputs(batch))
        return probabilities
