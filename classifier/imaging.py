"""Checking uploads by decoding them, and turning any accepted image into plain RGB.

The file name and the client's content type are never trusted: Pillow decides what
the bytes are. Both the web process (validation) and the model worker (decoding for
the model) use this module, so what is accepted is exactly what can be classified.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from io import BytesIO

import numpy as np
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps, UnidentifiedImageError

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


def validate_image_bytes(content: bytes) -> ValidatedImage:
    """Fully decode `content` (first frame) and check format and pixel count."""
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
                image.load()  # decoding everything is what catches truncated files
                image_format = image.format
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


def validate_upload(upload) -> ValidatedImage:
    return validate_image_bytes(read_upload(upload))


def open_rgb(content: bytes) -> Image.Image:
    """Decode an accepted image into an upright 8-bit RGB picture, as a person would see it.

    First frame of animations, EXIF orientation applied, 16-bit scaled down,
    transparency flattened onto white, CMYK/palette/grey converted.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(BytesIO(content))
            image.seek(0)
            image = ImageOps.exif_transpose(image)
            return _to_rgb(image)
    except _DECODE_ERRORS as error:
        raise InvalidImage(
            gettext("The image could not be decoded: %(error)s") % {"error": error}
        ) from None


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        pixels = np.asarray(image, dtype=np.float32)
        scale = 257.0 if pixels.max(initial=0) > 255 else 1.0
        image = Image.fromarray(np.clip(pixels / scale, 0, 255).astype(np.uint8), mode="L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
