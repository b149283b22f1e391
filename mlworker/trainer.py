"""Transfer learning on a worker host: a registry version's backbone, frozen, and a new head.

Each image goes through the backbone once: its features are cached on disk under the
worker's cache dir, named by the backbone and the image digest, so a second run (more
labels, other classes) only computes the new images. Images are read and pushed through
in batches, so memory holds one batch of pixels plus the features (a few KB per image).
The head (softmax over the run's classes) trains on CPU with Keras, with early stopping
on the validation loss; the exported model is the backbone and the head in one `.keras`
file, preprocessed as the base's preset, which the registry then validates like any other.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.core.files.storage import default_storage

from classifier.imaging import open_rgb
from mlworker.models.backends import file_digest
from mlworker.models.custom import VersionSpec, load_keras, preprocess_with
from registry import spec

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], bool]  # (fraction done, stage) → False: stop
LITE0_PRESET = "tf"  # [-1, 1]: the TF original's (x - 127) / 128 within 0.4 %
FEATURE_BATCH = 32


class TrainingStopped(Exception):
    """The run was cancelled while it trained."""


@dataclass
class Backbone:
    network: object  # keras.Model: image → features
    preprocessing: str
    input_size: tuple[int, int]
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    key: str  # names the feature cache: same backbone and preprocessing, same features

    @property
    def preset(self) -> spec.Preset:
        return spec.preset_for(self.preprocessing, mean=self.mean, std=self.std)


def load_backbone(version: VersionSpec, cache_dir: Path) -> Backbone:
    """The base's network up to its last layer's input, as a frozen feature extractor."""
    from mlworker.models.runtime import configure_tensorflow

    configure_tensorflow()
    import keras

    if version.format == spec.BUILTIN and version.builtin_key == "efficientnet_lite0":
        from mlworker.models import efficientnet_lite as lite

        source = lite.default_weights_path()
        weights = lite.load_or_convert_weights(source, lite.default_cache_dir())
        network = lite.build_efficientnet_lite0(224, batch_norm_folded=True)
        lite.set_weights_by_name(network, lite.fold_batch_norm_into_convs(weights))
        features = keras.Model(network.input, network.get_layer("avg_pool").output)
        digest = file_digest(source)[:16]
        return Backbone(features, LITE0_PRESET, (224, 224), None, None, f"lite0-{digest}")
    if version.format in (spec.KERAS, spec.H5):
        from mlworker.registry_loader import local_copy

        network = load_keras(local_copy(version, cache_dir))
        features = keras.Model(network.inputs, network.layers[-1].input)
        return Backbone(
            features,
            version.preprocessing,
            version.input_size,
            version.mean,
            version.std,
            f"{version.sha256[:16]}-{version.preprocessing}",
        )
    raise ValueError(f"{version.display_name} cannot be a training base ({version.format}).")


def _cache_path(cache_dir: Path, backbone: Backbone, sha256: str) -> Path:
    tag = hashlib.sha256(repr((backbone.key, backbone.input_size)).encode()).hexdigest()[:16]
    return cache_dir / "features" / tag / sha256[:2] / f"{sha256}.npy"


def compute_features(
    backbone: Backbone,
    images: list[tuple[str, str]],
    cache_dir: Path,
    progress: Progress,
) -> tuple[np.ndarray, int]:
    """Features of each (sha256, stored name), in order; (array, how many were computed)."""
    rows: list[np.ndarray | None] = []
    missing: list[int] = []
    for index, (sha256, _name) in enumerate(images):
        path = _cache_path(cache_dir, backbone, sha256)
        rows.append(np.load(path) if path.exists() else None)
        if rows[-1] is None:
            missing.append(index)
    for start in range(0, len(missing), FEATURE_BATCH):
        chunk = missing[start : start + FEATURE_BATCH]
        batch = np.stack([_pixels(backbone, images[i][1]) for i in chunk])
        out = np.asarray(backbone.network(batch, training=False), dtype=np.float32)
        for i, row in zip(chunk, out, strict=True):
            path = _cache_path(cache_dir, backbone, images[i][0])
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, row)
            rows[i] = row
        done = start + len(chunk)
        if not progress(0.7 * done / len(missing), f"Features: {done}/{len(missing)} images"):
            raise TrainingStopped
    return np.stack(rows) if rows else np.zeros((0, 0), np.float32), len(missing)


def _pixels(backbone: Backbone, storage_name: str) -> np.ndarray:
    with default_storage.open(storage_name, "rb") as stored:
        image = open_rgb(stored.read())
    return preprocess_with(backbone.preset, image, backbone.input_size)


@dataclass
class HeadResult:
    head: object  # the trained keras Dense layer's weights holder
    curve: list[dict]
    epochs: int


def train_head(
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
    classes: int,
    *,
    epochs: int,
    patience: int,
    seed: int,
    progress: Progress,
) -> HeadResult:
    """Softmax regression on the features (Adam, class-balanced, early stopping)."""
    import keras

    keras.utils.set_random_seed(seed)
    head = keras.Sequential(
        [
            keras.Input(shape=(train_x.shape[1],)),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(classes, activation="softmax", name="trained_head"),
        ]
    )
    head.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    counts = np.bincount(train_y, minlength=classes).astype(np.float64)
    weights = {i: float(len(train_y) / (classes * n)) if n else 0.0 for i, n in enumerate(counts)}
    curve: list[dict] = []

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            curve.append(
                {key: round(float(value), 5) for key, value in logs.items()} | {"epoch": epoch + 1}
            )
            stage = f"Head: epoch {epoch + 1}, val accuracy {logs.get('val_accuracy', 0):.3f}"
            if not progress(0.7 + 0.25 * (epoch + 1) / epochs, stage):
                self.model.stop_training = True
                raise TrainingStopped

    head.fit(
        train_x,
        train_y,
        validation_data=(val_x, val_y),
        epochs=epochs,
        batch_size=64,
        class_weight=weights,
        verbose=0,
        shuffle=True,
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            ),
            Report(),
        ],
    )
    return HeadResult(head=head, curve=curve, epochs=len(curve))


def evaluate(head, val_x: np.ndarray, val_y: np.ndarray, classes: tuple[str, ...]) -> dict:
    """Validation accuracy, per class, and the confusion matrix (rows: true, columns: said)."""
    predicted = np.argmax(head.predict(val_x, verbose=0), axis=1) if len(val_x) else val_y
    size = len(classes)
    confusion = np.zeros((size, size), dtype=int)
    for true, said in zip(val_y, predicted, strict=True):
        confusion[true, said] += 1
    per_class = {
        label: (round(confusion[i, i] / confusion[i].sum(), 4) if confusion[i].sum() else None)
        for i, label in enumerate(classes)
    }
    accuracy = float(np.trace(confusion) / max(confusion.sum(), 1))
    return {
        "validation_accuracy": round(accuracy, 4),
        "per_class_accuracy": per_class,
        "confusion_matrix": confusion.tolist(),
    }


def export(backbone: Backbone, head, path: Path) -> Path:
    """The backbone and the trained Dense layer as one Keras model (no custom code)."""
    import keras

    trained = head.get_layer("trained_head")
    dense = keras.layers.Dense(trained.units, activation="softmax", name="trained_head")
    inputs = keras.Input(shape=(*backbone.input_size, 3), name="image")
    features = backbone.network(inputs)
    model = keras.Model(inputs, dense(features), name="trained")
    dense.set_weights(trained.get_weights())
    model.save(path)
    return path


def labels_as_indices(labels: Iterable[str], classes: tuple[str, ...]) -> np.ndarray:
    index = {label: i for i, label in enumerate(classes)}
    return np.array([index[label] for label in labels], dtype=np.int64)
