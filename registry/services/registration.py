"""Register a model version: check what the web can check without loading the model (name,
format, size, labels, preprocessing), store the file under its digest and queue the worker's
validation."""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from functools import partial
from pathlib import PurePosixPath
from typing import IO

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from registry import spec
from registry.models import ModelEvent, ModelVersion
from registry.services.validation import request_validation
from registry.spec import InvalidSpec

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MIN_INPUT, MAX_INPUT = 8, 1024


def max_model_bytes() -> int:
    return int(settings.MODEL_MAX_UPLOAD_MB * 1024 * 1024)


def _check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise InvalidSpec(
            _("A model name is 1–60 lowercase letters, digits, '-' or '_' (e.g. 'parts').")
        )
    return name


def _check_input_size(height: int, width: int) -> None:
    if not (MIN_INPUT <= height <= MAX_INPUT and MIN_INPUT <= width <= MAX_INPUT):
        raise InvalidSpec(
            _("The input size must be between %(low)d and %(high)d pixels a side.")
            % {"low": MIN_INPUT, "high": MAX_INPUT}
        )


def _hash_and_sniff(content: IO[bytes], fmt: str) -> tuple[str, int]:
    """The file's SHA-256 and size, refusing it past the cap or when it is plainly no model
    of its format (a text file renamed `.keras`). Loading it is the worker's job."""
    cap = max_model_bytes()
    digest = hashlib.sha256()
    size = 0
    content.seek(0)
    head = content.read(8)
    content.seek(0)
    for chunk in iter(lambda: content.read(1 << 20), b""):
        size += len(chunk)
        if size > cap:
            raise InvalidSpec(
                _("The model file is larger than %(mb)g MB (MODEL_MAX_UPLOAD_MB).")
                % {"mb": settings.MODEL_MAX_UPLOAD_MB}
            )
        digest.update(chunk)
    content.seek(0)
    if fmt in (spec.KERAS, spec.SAVEDMODEL) and not zipfile.is_zipfile(content):
        raise InvalidSpec(
            _("This is not a %(format)s file (it is not a zip archive).")
            % {"format": ModelVersion.Format(fmt).label}
        )
    if fmt == spec.H5 and head != HDF5_SIGNATURE:
        raise InvalidSpec(_("This is not a Keras .h5 file (no HDF5 signature)."))
    if size == 0:
        raise InvalidSpec(_("The model file is empty."))
    content.seek(0)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class Registration:
    """A registration that passed every check the web can make without loading the model."""

    name: str
    content: IO[bytes]
    suffix: str
    format: str
    sha256: str
    size: int
    labels: list[str]
    preprocessing: str
    mean: list[float] | None
    std: list[float] | None
    input_size: tuple[int, int]
    filename: str


def check_registration(
    *,
    name: str,
    content: IO[bytes],
    filename: str,
    labels_text: str,
    preprocessing: str,
    input_size: tuple[int, int],
    mean: list[float] | None = None,
    std: list[float] | None = None,
) -> Registration:
    """Everything `register` needs, checked; raises `InvalidSpec` with the user's message."""
    _check_name(name)
    fmt = spec.format_for_filename(filename)
    labels = spec.parse_labels(labels_text)
    preset = spec.preset_for(preprocessing, mean=mean, std=std)
    _check_input_size(*input_size)
    sha256, size = _hash_and_sniff(content, fmt)
    custom = preprocessing == spec.MEANSTD
    return Registration(
        name=name,
        content=content,
        suffix=PurePosixPath(filename).suffix.lower(),
        format=fmt,
        sha256=sha256,
        size=size,
        labels=labels,
        preprocessing=preprocessing,
        mean=list(preset.mean) if custom else None,
        std=list(preset.std) if custom else None,
        input_size=input_size,
        filename=PurePosixPath(filename).name,
    )


def register_version(*, actor=None, **fields) -> ModelVersion:
    """`check_registration` then `register` (what `import_model` does)."""
    return register(registration=check_registration(**fields), actor=actor)


def register(*, registration: Registration, actor=None) -> ModelVersion:
    """Store the file, record the version (state `validating`) and queue its validation.

    The file's storage name is its digest, so the same bytes are stored once and a
    version's file never changes under it.
    """
    reg = registration
    reg.content.seek(0)
    storage_name = default_storage.save(
        f"models/{reg.name}/{reg.sha256}{reg.suffix}", File(reg.content)
    )
    for _attempt in range(3):  # two registrations of one name at once: one gets the next number
        try:
            with transaction.atomic():
                latest = ModelVersion.objects.filter(name=reg.name).aggregate(n=Max("version"))["n"]
                version = ModelVersion.objects.create(
                    name=reg.name,
                    version=(latest or 0) + 1,
                    format=reg.format,
                    weights=storage_name,
                    sha256=reg.sha256,
                    size_bytes=reg.size,
                    labels=reg.labels,
                    input_height=reg.input_size[0],
                    input_width=reg.input_size[1],
                    preprocessing=reg.preprocessing,
                    mean=reg.mean,
                    std=reg.std,
                    created_by=actor,
                )
                ModelEvent.objects.create(
                    version=version,
                    action=ModelEvent.Action.REGISTERED,
                    actor=actor,
                    detail=f"{reg.filename}, {reg.size} bytes, sha256 {reg.sha256}, "
                    f"{len(reg.labels)} labels",
                )
                transaction.on_commit(partial(request_validation, version=version))
            return version
        except IntegrityError:
            continue
    raise InvalidSpec(
        _("Another version of %(name)s was registered at the same time; try again.")
        % {"name": reg.name}
    )
