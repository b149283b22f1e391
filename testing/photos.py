"""Real photos for tests, from scikit-image and scikit-learn (nothing is downloaded)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def photo_bytes(
    name: str = "chelsea", fmt: str = "JPEG", size: tuple[int, int] | None = None, **save
):
    """A real photo from scikit-image / scikit-learn, encoded as `fmt`."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        pixels = load_sample_image(f"{name}.jpg")
    else:
        from skimage import data

        pixels = getattr(data, name)()
    image = Image.fromarray(np.asarray(pixels))
    if size:
        image = image.resize(size)
    if fmt == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def distinct_photo(seed: int, name: str = "chelsea") -> bytes:
    """A photo whose bytes differ per seed (a random crop), so the result cache never answers."""
    from skimage import data

    pixels = np.asarray(getattr(data, name)())
    rng = np.random.default_rng(seed)
    top, left = rng.integers(0, 40, size=2)
    crop = Image.fromarray(pixels[top : top + 260, left : left + 360])
    buffer = io.BytesIO()
    crop.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
