"""The peer anchor: the same Keras ResNet50 served by BentoML with adaptive batching.

Run only by `python -m benchmarks.bench_runtimes`, inside BentoML's own virtualenv
(never a dependency of this project): `bentoml serve benchmarks.peers.bentoml_resnet50:ResNet50`.
Same model (random weights), same preprocessing (Keras "caffe"), same top-5 answer and
the same largest batch (16) as our worker; TensorFlow's threads as in our benchmark.
"""

from __future__ import annotations

import os

import bentoml
import numpy as np
from PIL.Image import Image

BATCH_SIZE = int(os.environ.get("PEER_BATCH_SIZE", "16"))
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


@bentoml.service(workers=1, traffic={"timeout": 120, "max_concurrency": 256})
class ResNet50:
    def __init__(self) -> None:
        import tensorflow as tf

        intra = int(os.environ.get("TF_INTRA_OP_THREADS", "0"))
        if intra:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        import keras

        network = keras.applications.ResNet50(weights=None)
        self.forward = tf.function(
            lambda batch: network(batch, training=False),
            input_signature=[tf.TensorSpec((None, 224, 224, 3), tf.float32)],
        )
        for size in (1, BATCH_SIZE):
            self.forward(np.zeros((size, 224, 224, 3), np.float32))

    @bentoml.api(batchable=True, max_batch_size=BATCH_SIZE, max_latency_ms=60_000)
    def classify(self, images: list[Image]) -> list[list[dict]]:
        batch = np.stack([preprocess(image) for image in images])
        probabilities = self.forward(batch).numpy()
        top = np.argsort(-probabilities, axis=1)[:, :5]
        return [
            [{"label": int(i), "score": float(row[i])} for i in indices]
            for row, indices in zip(probabilities, top, strict=True)
        ]


def preprocess(image: Image) -> np.ndarray:
    from PIL import Image as PILImage

    resized = image.convert("RGB").resize((224, 224), PILImage.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32)[..., ::-1] - _CAFFE_MEAN_BGR
