"""Where uploaded images live (a local folder, the quick start, or an S3-compatible store),
and storing an upload's bytes there once, under their content hash.

`config/settings.py` picks this module's `ImageFileSystemStorage` or
`classifier.s3storage.ImageS3Storage` as Django's default storage;
web and worker only ever use the storage API, so a worker on another host needs no
shared disk. Both storages add what content-addressed images need:

- `holds(name, content=, sha256=)`: are exactly these bytes stored under this name? On
  S3 that is one HEAD request (size + the sha256 recorded in the object's metadata, or
  the ETag where it is the MD5), never a download;
- an unreachable store raises `StorageUnavailable`, which uploads answer with a 503.

Objects are private: no ACL is ever sent (the bucket's default, private, applies) and
images are served only through the owner-checked image view.
"""

from __future__ import annotations

import logging
import unicodedata
from pathlib import PureWindowsPath
from typing import TYPE_CHECKING

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.utils.translation import gettext_lazy as _

from classifier.steps import timed_step

if TYPE_CHECKING:
    from classifier.imaging import ValidatedImage

logger = logging.getLogger(__name__)

MAX_FILENAME_LENGTH = 255

STORAGE_UNAVAILABLE = _("The image store is unavailable. Try again shortly.")
#: user metadata key holding the object's SHA-256 (sent as x-amz-meta-sha256)
SHA256_METADATA = "sha256"


class StorageUnavailable(Exception):
    """The image store cannot be reached or refused the request; nothing was stored."""

    def __init__(self, message=STORAGE_UNAVAILABLE):
        super().__init__(str(message))


class ChecksummedContent(ContentFile):
    """Bytes to store, with their SHA-256 so the store can record it next to them."""

    def __init__(self, content: bytes, *, sha256: str, name: str | None = None):
        super().__init__(content, name=name)
        self.sha256 = sha256


class ImageFileSystemStorage(FileSystemStorage):
    """The local folder MEDIA_ROOT. Reading a file back is cheap here, so `holds` compares
    the bytes themselves (which also catches a file cut short by a crash mid-write)."""

    def holds(self, name: str, *, content: bytes, sha256: str) -> bool:
        try:
            with self.open(name, "rb") as stored:
                return stored.read() == content
        except OSError:
            return False


def clean_filename(name: str | None) -> str:
    """The client's file name, for display only: no directories, no control characters."""
    base = PureWindowsPath(name or "").name  # strips both "/" and "\" directory parts
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    if len(base) > MAX_FILENAME_LENGTH:
        stem, dot, suffix = base.rpartition(".")
        keep = MAX_FILENAME_LENGTH - len(suffix) - 1
        base = (
            f"{stem[:keep]}.{suffix}" if dot and len(suffix) <= 10 else base[:MAX_FILENAME_LENGTH]
        )
    return base


def store_image(image: ValidatedImage) -> str:
    """`save_image`, for callers that only need the storage name."""
    save_image(image)
    return image.storage_name


@timed_step("store the file")
def save_image(image: ValidatedImage) -> bool:
    """Save the bytes under their content hash once; True when they were written now (the
    store did not hold them), False when they were there already.

    Bytes already stored under that name are not written again. The check (`holds`, which
    both storages here offer) costs one HEAD request on S3 (size + recorded SHA-256, no
    download); on a local disk the file is read back, so one cut short (a crash mid-write)
    or damaged is written again instead of failing every later upload of the same photo.

    Raises `StorageUnavailable` when the store cannot be reached; nothing is stored then
    (an S3 PUT is all or nothing).
    """
    name = image.storage_name
    try:
        holds = default_storage.holds  # type: ignore[attr-defined]  # both our storages have it
        if holds(name, content=image.content, sha256=image.sha256):
            return False
        if not getattr(default_storage, "file_overwrite", False) and default_storage.exists(name):
            logger.warning("stored image %s does not match its hash; writing it again", name)
            default_storage.delete(name)
        saved = default_storage.save(name, ChecksummedContent(image.content, sha256=image.sha256))
        if saved != name:
            # A concurrent upload of the same bytes won the race; keep one copy.
            default_storage.delete(saved)
    except OSError as error:  # a local disk that is full, read-only or gone
        logger.error("cannot store image %s: %s", name, error)
        raise StorageUnavailable() from error
    return True
