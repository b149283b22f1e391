"""Images in an S3-compatible bucket (AWS S3, SeaweedFS, MinIO, Ceph, R2, ...).

Chosen by `STORAGE_BACKEND=s3` (or `S3_BUCKET` set); see `classifier.storage` for what
every image storage offers. Kept apart from it so the filesystem default never imports
boto3.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.core.files.base import File
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

from classifier.storage import SHA256_METADATA, StorageUnavailable

logger = logging.getLogger(__name__)


def _status(error: ClientError) -> int | None:
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _errors_as_unavailable(method):
    """Connection failures, timeouts and errors answered by the store become
    `StorageUnavailable`; a missing object is FileNotFoundError, as on a disk."""

    @functools.wraps(method)
    def wrapper(self, name, *args, **kwargs):
        try:
            return method(self, name, *args, **kwargs)
        except ClientError as error:
            if _status(error) == 404:
                raise FileNotFoundError(f"No such object: {name}") from None
            logger.error("object store refused %s(%s): %s", method.__name__, name, error)
            raise StorageUnavailable() from error
        except BotoCoreError as error:
            logger.warning("object store unreachable in %s(%s): %s", method.__name__, name, error)
            raise StorageUnavailable() from error

    return wrapper


class ImageS3Storage(S3Storage):
    """Content-addressed names, so an object is never renamed nor overwritten with other
    bytes. No ACL is ever sent, so every object keeps the bucket's default: private."""

    default_acl = None
    file_overwrite = True  # same name ⇒ same bytes: save() needs no exists() round trip
    querystring_auth = True  # any URL this storage makes is signed and expires

    def get_default_settings(self):
        return {
            **super().get_default_settings(),
            "connect_timeout": 3.0,
            "read_timeout": 10.0,
            "max_attempts": 2,
        }

    def __init__(self, **settings):
        super().__init__(**settings)
        # Short timeouts and one retry: an upload facing a dead store gets its 503 in
        # seconds, not after botocore's default minute of connecting and retrying.
        self.client_config = Config(
            s3={"addressing_style": self.addressing_style},
            signature_version=self.signature_version,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"mode": "standard", "max_attempts": self.max_attempts},
            # No CRC32 of every body sent and received beyond what S3 asks for: the bytes'
            # SHA-256 is recorded with them and checked by `holds` (and stores other than
            # AWS S3 often do not know the newer checksum headers).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            # This module's few calls have fixed shapes: checking every call's parameters
            # against the API model finds nothing and costs CPU on every upload.
            parameter_validation=False,
        )

    @property
    def client(self):
        return self.connection.meta.client

    def _key(self, name: str) -> str:
        return self._normalize_name(clean_name(name))

    def holds(self, name: str, *, content: bytes, sha256: str) -> bool:
        """One HEAD request: same size and the same recorded SHA-256 (or, for an object put
        there by another tool, an ETag equal to the MD5 of the bytes)."""
        try:
            head = self._head(name)
        except FileNotFoundError:
            return False
        if head.get("ContentLength") != len(content):
            return False
        recorded = head.get("Metadata", {}).get(SHA256_METADATA)
        if recorded:
            return recorded == sha256
        # A single-part upload's ETag is its MD5; multipart ETags contain "-", never match.
        return head.get("ETag", "").strip('"') == hashlib.md5(content).hexdigest()

    @_errors_as_unavailable
    def _head(self, name: str) -> dict:
        return self.client.head_object(Bucket=self.bucket_name, Key=self._key(name))

    @_errors_as_unavailable
    def _open(self, name, mode="rb"):
        if "w" in mode:
            return super()._open(name, mode)
        # One GET (the parent class HEADs, then downloads on first read), and any failure
        # happens here, inside the caller's try, not while a response is streaming.
        response = self.client.get_object(Bucket=self.bucket_name, Key=self._key(name))
        return File(io.BytesIO(response["Body"].read()), name=name)

    @_errors_as_unavailable
    def _save(self, name, content):
        # One PutObject: images are at most MAX_UPLOAD_MB and already in memory, so the
        # parent's transfer manager (a thread pool per upload, multipart above 8 MB) buys
        # nothing here.
        cleaned = clean_name(name)
        key = self._normalize_name(cleaned)
        params = self._get_write_parameters(key, content)
        content.seek(0)
        self.client.put_object(Bucket=self.bucket_name, Key=key, Body=content.read(), **params)
        return cleaned

    @_errors_as_unavailable
    def delete(self, name):
        return super().delete(name)

    @_errors_as_unavailable
    def exists(self, name):
        return super().exists(name)

    @_errors_as_unavailable
    def size(self, name):
        return super().size(name)

    def _get_write_parameters(self, name, content=None):
        params = super()._get_write_parameters(name, content)
        params.pop("ACL", None)  # never public, whatever AWS_DEFAULT_ACL says
        sha256 = getattr(content, "sha256", None)
        if sha256:
            params["Metadata"] = {**params.get("Metadata", {}), SHA256_METADATA: sha256}
        return params
