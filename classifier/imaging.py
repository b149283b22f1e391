"""Checking uploads by decoding them, and turning any accepted image into plain RGB.

The file name and the client's content type are never trusted: Pillow decides what
the bytes are. Both the web process (validation) and the model worker (decoding for
the model) use this module, so what is accepted is exactly what can be classified.

Memory is bounded here too. A PNG of 150 KB can hold 40 megapixels (160 MB as RGBA), so:
the web checks an upload without decoding it at full resolution (a JPEG is decoded at an
eighth of its size, a PNG's every chunk is read and its checksum verified, the other formats
are decoded whole); and every full decode in a process (the web's, the worker's) holds its
pixels from one budget, DECODE_PIXEL_BUDGET, so many small photos decode together while
large ones take turns instead of adding up.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from typing import TypeVar

import numpy as np
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

T = TypeVar("T")

# Pillow format name → the extension we store the file under.
ACCEPTED_FORMATS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "BMP": "bmp"}
UNSUPPORTED_MESSAGE = _("File type is not supported. Upload a JPEG, PNG, GIF, WebP or BMP image.")
_DECODE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


class InvalidImage(ValueError):
    """The upload is not an image we accept; `str(error)` is safe to show the user."""


class UnsupportedImageType(InvalidImage):
    """The bytes decode as something, but not as an image format we accept."""


@dataclass(frozen=True)
class ValidatedImage:
    content: bytes
    sha256: str
    format: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        return ACCEPTED_FORMATS[self.format]

    @property
    def storage_name(self) -> str:
        """Content-addressed name: the same bytes always land on the same name."""
        return f"images/{self.sha256[:2]}/{self.sha256}.{self.extension}"


def too_large_message() -> str:
    return gettext("The file is larger than the %(limit)s MB limit.") % {
        "limit": f"{settings.MAX_UPLOAD_MB:g}"
    }


def max_upload_bytes() -> int:
    return int(settings.MAX_UPLOAD_MB * 1024 * 1024)


def read_upload(upload) -> bytes:
    """Read an uploaded file, refusing empty and oversized ones before decoding anything."""
    if upload is None:
        raise InvalidImage(gettext("No file was sent. Attach an image file."))
    limit = max_upload_bytes()
    if upload.size is not None and upload.size > limit:
        raise InvalidImage(too_large_message())
    upload.seek(0)
    content = upload.read(limit + 1)
    if not content:
        raise InvalidImage(gettext("The file is empty."))
    if len(content) > limit:
        raise InvalidImage(too_large_message())
    return content


class _PixelBudget:
    """Pixels being decoded at full resolution in this process, held to a budget.

    An image waits while others hold the budget and it would not fit; one larger than the
    whole budget decodes alone. Each holder is bounded in time (at most MAX_IMAGE_PIXELS to
    decode), so waiting is too.
    """

    def __init__(self):
        self._in_use = 0
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        budget = settings.DECODE_PIXEL_BUDGET
        with self._changed:
            self._changed.wait_for(lambda: self._in_use == 0 or self._in_use + pixels <= budget)
            self._in_use += pixels
        try:
            yield
        finally:
            with self._changed:
                self._in_use -= pixels
                self._changed.notify_all()


full_decodes = _PixelBudget()

# Scale a JPEG down by up to 8 while checking it: every coefficient is still read (a
# truncated or damaged file fails), but only an eighth of the width and height is kept.
_JPEG_CHECK_SCALE = 8


def validate_image_bytes(content: bytes) -> ValidatedImage:
    """Check `content` is a whole image of an accepted format under the pixel cap.

    The first frame is read to its end (what catches truncated files), at full resolution
    only for formats that cannot do better (see the module's docstring).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(content)) as image:
                if image.format not in ACCEPTED_FORMATS:
                    raise UnsupportedImageType(UNSUPPORTED_MESSAGE)
                width, height = image.size
                if width * height > settings.MAX_IMAGE_PIXELS:
                    raise InvalidImage(
                        gettext(
                            "The image is %(width)d×%(height)d pixels; the limit is "
                            "%(limit)s pixels."
                        )
                        % {
                            "width": width,
                            "height": height,
                            "limit": f"{settings.MAX_IMAGE_PIXELS:,}",
                        }
                    )
                image_format = image.format
                _read_to_the_end(image)
    except InvalidImage:
        raise
    except UnidentifiedImageError:
        raise UnsupportedImageType(UNSUPPORTED_MESSAGE) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidImage(
            gettext("The image has too many pixels to be processed safely.")
        ) from None
    except _DECODE_ERRORS:
        raise InvalidImage(
            gettext("The file is damaged or incomplete and cannot be read as an image.")
        ) from None
    return ValidatedImage(
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        format=image_format,
        width=width,
        height=height,
    )


def _read_to_the_end(image: ImageFile.ImageFile) -> None:
    width, height = image.size
    if image.format == "JPEG":
        image.draft(None, (-(-width // _JPEG_CHECK_SCALE), -(-height // _JPEG_CHECK_SCALE)))
        with full_decodes.hold(image.size[0] * image.size[1]):
            image.load()
    elif image.format == "PNG":
        image.verify()  # every chunk read, every CRC checked, no pixel kept
    else:
        with full_decodes.hold(width * height):
            image.load()


def validate_upload(upload) -> ValidatedImage:
    return validate_image_bytes(read_upload(upload))


def decode_rgb(content: bytes, use: Callable[[Image.Image], T], *, min_side: int = 0) -> T:
    """Decode an accepted image into an upright 8-bit RGB picture, as a person would see it,
    and return `use(picture)`, holding the picture's pixels from the process's decode budget
    until `use` is done (the model's preprocessing keeps only a small array).

    First frame of animations, EXIF orientation applied, 16-bit scaled down,
    transparency flattened onto white, CMYK/palette/grey converted. `min_side`: the caller
    needs no more than this many pixels on either side, so a JPEG is decoded at the smallest
    of 1/2, 1/4, 1/8 of its size that keeps both sides at least that long (the decoder
    scales while it reads: less work and memory than decoding it whole and resizing).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(BytesIO(content))
            if min_side and image.format == "JPEG":
                image.draft(None, (min_side, min_side))
            with full_decodes.hold(image.size[0] * image.size[1]):
                image.seek(0)
                ImageOps.exif_transpose(image, in_place=True)
                return use(_to_rgb(image))
    except _DECODE_ERRORS as error:
        raise InvalidImage(
            gettext("The image could not be decoded: %(error)s") % {"error": error}
        ) from None


def open_rgb(content: bytes) -> Image.Image:
    """`decode_rgb` for callers that keep the picture (tests, benchmarks)."""
    return decode_rgb(content, lambda picture: picture)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        pixels = np.asarray(image, dtype=np.float32)
        scale = 257.0 if pixels.max(initial=0) > 255 else 1.0
        image = Image.fromarray(np.clip(pixels / scale, 0, 255).astype(np.uint8), mode="L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")  # no second copy
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")
