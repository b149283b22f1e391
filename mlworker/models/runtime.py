"""TensorFlow set-up shared by all models: thread pools and a compiled forward pass."""

from __future__ import annotations

import os

import numpy as np

_configured = False


def configure_tensorflow() -> None:
    """Size TensorFlow's thread pools once per process, before any model is built.

    TF_INTRA_OP_THREADS / TF_INTER_OP_THREADS override TensorFlow's defaults, which
    assume the process owns every core; with several workers on one host that
    oversubscribes the CPU.
    """
    global _configured
    if _configured:
        return
    from django.conf import settings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # tells TensorFlow: keep logs readable
    import tensorflow as tf

    intra, inter = settings.TF_INTRA_OP_THREADS, settings.TF_INTER_OP_THREADS
    if intra:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
    if inter:
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    _configured = True


def compile_forward(network, input_size: tuple[int, int]):
    """A graph-compiled inference function with one input signature, so it never retraces."""
    configure_tensorflow()
    import tensorflow as tf

    height, width = input_size

    @tf.function(
        input_signature=[tf.TensorSpec(shape=(None, height, width, 3), dtype=tf.float32)],
        reduce_retracing=True,
    )
    def forward(batch):
        return network(batch, training=False)

    def run(batch: np.ndarray) -> np.ndarray:
        return forward(tf.convert_to_tensor(batch, dtype=tf.float32)).numpy()

    return run
