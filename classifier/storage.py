"""Where uploaded images live: a local folder (the quick start) or an S3-compatible store.

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

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)

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
