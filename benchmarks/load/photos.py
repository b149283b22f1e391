"""Test photos: random crops of the photos scikit-image and scikit-learn ship (no download),
each upload made distinct by a unique JPEG comment so the result cache never answers."""

from __future__ import annotations

import io
import os
import secrets
import threading
from dataclasses import dataclass, field

import numpy as np

# Colour photos shipped with scikit-image and scikit-learn (no download needed).
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "retina")
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")


def source_photos() -> list[np.ndarray]:
    """The bundled sample photos as RGB uint8 arrays."""
    from skimage import data
    from sklearn.datasets import load_sample_image

    photos = [np.asarray(getattr(data, name)()) for name in SKIMAGE_PHOTOS]
    photos += [np.asarray(load_sample_image(name)) for name in SKLEARN_PHOTOS]
    return [photo[..., :3] for photo in photos]


def insert_jpeg_comment(jpeg: bytes, comment: bytes) -> bytes:
    """The same picture with a COM segment after the SOI marker: new bytes, no re-encode."""
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    return jpeg[:2] + segment + jpeg[2:]


@dataclass
class PhotoPool:
    """Random crops of the sample photos, resized to web-photo sizes, ready to encode.

    `fresh_jpeg` re-crops and re-encodes a pool member and stamps a unique comment in
    it, so no two uploads carry the same bytes and the result cache never answers.
    `encoded` holds one ready JPEG per member for generators that must stay cheap.
    """

    images: list
    encoded: list[bytes]
    rng: np.random.Generator
    _serial: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, size: int, *, seed: int = 0, long_side: tuple[int, int] = (320, 640)):
        from PIL import Image

        rng = np.random.default_rng(seed)
        photos = source_photos()
        images, encoded = [], []
        for index in range(size):
            pixels = photos[index % len(photos)]
            height, width = pixels.shape[:2]
            crop_height = int(height * rng.uniform(0.6, 1.0))
            crop_width = int(width * rng.uniform(0.6, 1.0))
            top = int(rng.integers(0, height - crop_height + 1))
            left = int(rng.integers(0, width - crop_width + 1))
            image = Image.fromarray(pixels[top : top + crop_height, left : left + crop_width])
            target = int(rng.integers(long_side[0], long_side[1] + 1))
            scale = target / max(image.size)
            image = image.resize(
                (max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                Image.Resampling.BILINEAR,
            )
            images.append(image)
            encoded.append(encode_jpeg(image, quality=int(rng.integers(80, 96))))
        return cls(images=images, encoded=encoded, rng=rng)

    def _next_tag(self) -> bytes:
        with self._lock:
            self._serial += 1
            serial = self._serial
        return f"loadtest {os.getpid()} {serial} {secrets.token_hex(4)}".encode()

    def fresh_jpeg(self) -> bytes:
        """A newly cropped and encoded photo that has never been uploaded."""
        with self._lock:
            index = int(self.rng.integers(len(self.images)))
            trim = self.rng.integers(0, 12, size=4)
            quality = int(self.rng.integers(80, 96))
        image = self.images[index]
        box = (trim[0], trim[1], image.width - trim[2], image.height - trim[3])
        return encode_jpeg(image.crop(tuple(int(v) for v in box)), quality, self._next_tag())

    def unique_jpeg(self, index: int) -> bytes:
        """Pool member `index` (mod size) with a unique comment: distinct bytes, ~no CPU."""
        return insert_jpeg_comment(self.encoded[index % len(self.encoded)], self._next_tag())


def noise_jpeg(seed: int, size: tuple[int, int] = (240, 320)) -> bytes:
    """A JPEG of random pixels (height × width): distinct per seed, nothing to recognise."""
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    return encode_jpeg(Image.fromarray(pixels))


def encode_jpeg(image, quality: int = 90, comment: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, comment=comment)
    return buffer.getvalue()


def multipart_body(field_name: str, filename: str, content: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with one file; returns (body, content type)."""
    boundary = secrets.token_hex(16)
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field_name}"; filename="{filename}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + content + tail, f"multipart/form-data; boundary={boundary}"
