"""Storing an upload's bytes, once, under their content hash; the client's file name."""

from __future__ import annotations

import logging
import unicodedata
from pathlib import PureWindowsPath

from django.core.files.storage import default_storage

from classifier.imaging import ValidatedImage
from classifier.steps import timed_step
from classifier.storage import ChecksummedContent, StorageUnavailable

logger = logging.getLogger(__name__)

MAX_FILENAME_LENGTH = 255


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


@timed_step("store the file")
def store_image(image: ValidatedImage) -> str:
    """Save the bytes under their content hash once; return the storage name.

    Bytes already stored under that name are not written again. The check (`holds`, which
    both of `classifier.storage`'s storages offer) costs one HEAD request on S3 (size +
    recorded SHA-256, no download); on a local disk the file is read back, so one cut short
    (a crash mid-write) or damaged is written again instead of failing every later upload
    of the same photo.

    Raises `StorageUnavailable` when the store cannot be reached; nothing is stored then
    (an S3 PUT is all or nothing).
    """
    name = image.storage_name
    try:
        holds = default_storage.holds  # type: ignore[attr-defined]  # both our storages have it
        if holds(name, content=image.content, sha256=image.sha256):
            return name
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
    return name
