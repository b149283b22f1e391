"""scikit-learn's `load_digits` (1,797 8×8 handwritten digits) as RGB photos, for the
training test and `benchmarks/measure_training.py` (scikit-learn is a dev dependency)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

CLASSES = tuple(str(digit) for digit in range(10))


def digit_photos(size: int = 64) -> tuple[list[bytes], np.ndarray]:
    """(PNG bytes per digit, true digit per image): dark ink on white, upscaled bilinearly."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    photos = []
    for pixels in digits.images:
        ink = (255 - pixels * (255 / 16)).clip(0, 255).astype(np.uint8)
        image = Image.fromarray(ink, "L").resize((size, size), Image.Resampling.BILINEAR)
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG")
        photos.append(buffer.getvalue())
    return photos, digits.target
