"""Tiny Keras models for registry tests: they tell red, green and blue apart.

Input 32×32 with the `unit` preset ([0, 1]); the mean of each channel goes through a Dense
layer whose kernel is 10 × identity, so a red photo's top label is the first label.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

COLORS = ("red", "green", "blue")
INPUT_SIZE = 32


def color_model(path: Path, *, outputs: int = 3, logits: bool = False, fmt: str = "keras"):
    """Save the model to `path` (`.keras`), or as ONNX (`fmt="onnx"`) through tf2onnx."""
    import keras

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    scores = keras.layers.Dense(outputs, name="scores")(pooled)
    if not logits:
        scores = keras.layers.Softmax()(scores)
    model = keras.Model(inputs, scores)
    kernel = np.zeros((3, outputs), dtype=np.float32)
    for i in range(min(3, outputs)):
        kernel[i, i] = 10.0
    model.get_layer("scores").set_weights([kernel, np.zeros(outputs, dtype=np.float32)])
    if fmt == "onnx":
        import tensorflow as tf
        import tf2onnx

        signature = (tf.TensorSpec((None, INPUT_SIZE, INPUT_SIZE, 3), tf.float32, name="x"),)
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=17)
        path.write_bytes(proto.SerializeToString())
    else:
        model.save(path)
    return path


def labels_file(path: Path, labels=COLORS) -> Path:
    path.write_text("\n".join(labels) + "\n")
    return path


def solid_photo(color: str, seed: int = 0) -> bytes:
    """A JPEG mostly of one colour (a little noise, so each seed's bytes differ)."""
    rgb = {"red": (230, 20, 20), "green": (20, 230, 20), "blue": (20, 20, 230)}[color]
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(rgb) + rng.integers(-15, 15, (64, 64, 3)), 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()
