"""The small interface every classifier model implements.

The worker only talks to `ImageClassifier`: it decodes images with
`classifier.imaging.open_rgb` (in `mlworker.inference`), calls `preprocess` per image,
stacks the arrays and calls `predict_batch` once per batch. Keeping models behind this
seam is what lets `resnet50` and `efficientnet_lite0` share the queue, the batching and the
tests.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np
from PIL import Image

from classifier.labels import IMAGENET_LABELS


@dataclass(frozen=True)
class LabelScore:
    label: str
    score: float

    def as_dict(self) -> dict:
        return {"label": self.label, "score": self.score}


class ImageClassifier(abc.ABC):
    """An image classifier (ImageNet-1k unless it says otherwise) over batches of RGB images."""

    #: Name recorded on every prediction (e.g. "resnet50", "resnet50 (random weights)").
    name: str
    #: (height, width) the model expects after `preprocess`.
    input_size: tuple[int, int]
    #: class names in output order (registry versions bring their own)
    labels: tuple[str, ...] = IMAGENET_LABELS
    #: the registry version this model is (None: a built-in started without one)
    version_id: int | None = None

    @abc.abstractmethod
    def preprocess(self, image: Image.Image) -> np.ndarray:
        """Turn one decoded RGB image into a float32 array of shape (H, W, 3)."""

    @abc.abstractmethod
    def predict_batch(self, batch: np.ndarray) -> np.ndarray:
        """Run one forward pass on (N, H, W, 3) input; return (N, len(labels)) probabilities."""

    def top_k(self, probabilities: np.ndarray, k: int = 5) -> list[list[LabelScore]]:
        """Best `k` labels per row, highest first."""
        order = np.argsort(-probabilities, axis=1)[:, :k]
        return [
            [LabelScore(self.labels[i], float(row[i])) for i in indices]
            for row, indices in zip(probabilities, order, strict=True)
        ]

    def classify(self, images: list[Image.Image], k: int = 5) -> list[list[LabelScore]]:
        """Preprocess, predict in one forward pass, and return the top-k per image."""
        batch = np.stack([self.preprocess(image) for image in images])
        return self.top_k(self.predict_batch(batch), k)
