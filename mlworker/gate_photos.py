"""The accuracy gate's photos and int8 calibration photos: real photos that ship in packages.

scikit-image's `skimage.data` and scikit-learn's sample images are real photographs
installed with those packages, so no data file is committed and nothing is downloaded.
Each source photo becomes many deterministic variants (crops, flips, rotations,
brightness), made at run time. The gate's sources and the calibration's are disjoint: no
photo the quantizer has seen, nor any crop of it, is used to judge the result.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageEnhance

#: bump when the sets change: a cached gate result or int8 model was made with the old ones
PHOTO_SET_VERSION = 2

#: (package, name) of each source photo
GATE_SOURCES = (
    ("skimage", "astronaut"),
    ("skimage", "chelsea"),
    ("skimage", "coffee"),
    ("skimage", "rocket"),
    ("skimage", "hubble_deep_field"),
    ("skimage", "retina"),
    ("skimage", "camera"),
    ("skimage", "coins"),
    ("skimage", "clock"),
    ("skimage", "moon"),
    ("sklearn", "china.jpg"),
)
CALIBRATION_SOURCES = (
    ("skimage", "immunohistochemistry"),
    ("skimage", "motorcycle_left"),
    ("skimage", "motorcycle_right"),
    ("skimage", "brick"),
    ("skimage", "grass"),
    ("skimage", "gravel"),
    ("skimage", "cell"),
    ("sklearn", "flower.jpg"),
)
Variant = Callable[[Image.Image, np.random.Generator], Image.Image]


def _load(package: str, name: str) -> Image.Image:
    if package == "sklearn":
        from sklearn.datasets import load_sample_image

        array = np.asarray(load_sample_image(name))
    else:
        from skimage import data

        if name.startswith("motorcycle_"):
            left, right, _ = data.stereo_motorcycle()
            array = left if name == "motorcycle_left" else right
        else:
            array = np.asarray(getattr(data, name)())
    if array.ndim == 2:  # grey photos: the models take RGB
        array = np.repeat(array[..., np.newaxis], 3, axis=-1)
    return Image.fromarray(np.asarray(array[..., :3], dtype=np.uint8), "RGB")


def _crop(image: Image.Image, fraction: float, x: float, y: float) -> Image.Image:
    """A crop `fraction` of each side, its top-left corner at (x, y) of the free room."""
    width, height = image.size
    w, h = max(1, int(width * fraction)), max(1, int(height * fraction))
    left, top = int((width - w) * x), int((height - h) * y)
    return image.crop((left, top, left + w, top + h))


def _brightness(image: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(factor)


def _rotate(image: Image.Image, degrees: float) -> Image.Image:
    return image.rotate(degrees, resample=Image.Resampling.BILINEAR)


def _random_crop(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    crop = _crop(image, float(rng.uniform(0.45, 0.9)), float(rng.random()), float(rng.random()))
    return crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else crop


FLIP_LR, FLIP_TB = Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.FLIP_TOP_BOTTOM
ROT90, ROT180 = Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180
ROT270 = Image.Transpose.ROTATE_270

#: 28 variants of one photo; the seeded generator makes the random crops the same every run
VARIANTS: tuple[Variant, ...] = (
    lambda image, rng: image,
    lambda image, rng: image.transpose(FLIP_LR),
    lambda image, rng: _crop(image, 0.8, 0.5, 0.5),
    lambda image, rng: _brightness(image, 0.7),
    lambda image, rng: image.transpose(ROT90),
    lambda image, rng: _rotate(image, 15),
    lambda image, rng: _crop(image, 0.7, 0.0, 0.0),
    lambda image, rng: _brightness(image, 1.3),
    lambda image, rng: image.transpose(FLIP_TB),
    lambda image, rng: _rotate(image, -15),
    lambda image, rng: _crop(image, 0.7, 1.0, 1.0),
    lambda image, rng: _random_crop(image, rng),
    lambda image, rng: image.transpose(ROT180),
    lambda image, rng: _crop(image, 0.6, 0.5, 0.5),
    lambda image, rng: _brightness(image.transpose(FLIP_LR), 0.85),
    lambda image, rng: _random_crop(image, rng),
    lambda image, rng: image.transpose(ROT270),
    lambda image, rng: _rotate(image, 30),
    lambda image, rng: _rotate(image, -30),
    lambda image, rng: _crop(image, 0.7, 1.0, 0.0),
    lambda image, rng: _crop(image, 0.7, 0.0, 1.0),
    lambda image, rng: _crop(image, 0.45, 0.5, 0.5),
    lambda image, rng: _brightness(image, 0.55),
    lambda image, rng: _brightness(image, 1.5),
    lambda image, rng: _crop(_rotate(image, 10), 0.8, 0.5, 0.5),
    lambda image, rng: _brightness(_crop(image, 0.75, 0.3, 0.6), 1.15),
    lambda image, rng: _random_crop(image, rng),
    lambda image, rng: _random_crop(image, rng),
)


def _variants(sources, seed: int) -> list[Image.Image]:
    images = []
    for index, (package, name) in enumerate(sources):
        photo = _load(package, name)
        rng = np.random.default_rng(seed + index)
        images += [variant(photo, rng) for variant in VARIANTS]
    return images


def gate_photos() -> list[Image.Image]:
    """308 photos that judge a precision: 11 sources x 28 variants."""
    return _variants(GATE_SOURCES, seed=20261207)


def calibration_photos() -> list[Image.Image]:
    """224 photos int8 quantization calibrates on: 8 other sources x 28 variants (with 16
    variants, 128 photos, EfficientNet-Lite0's int8 agreed on 82.8 % of the gate's photos;
    with these 224, see docs/INFERENCE_RUNTIMES.md)."""
    return _variants(CALIBRATION_SOURCES, seed=20261208)
