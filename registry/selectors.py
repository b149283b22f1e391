"""Reads of the registry: the live version (what new uploads are answered by), the list.

The live version is read from the database at most every MODEL_LIVE_CHECK_SECONDS per
process, so an upload costs no query for it; a promotion made in this process is seen at
once (`forget_live_version`), one made elsewhere within that many seconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet

from registry.models import ModelVersion


@dataclass(frozen=True)
class LiveVersion:
    """The live version's identity, as uploads record it."""

    id: int
    name: str
    version: int
    builtin_key: str

    @property
    def display_name(self) -> str:
        return f"{self.name} v{self.version}"


_lock = threading.Lock()
_cached: tuple[float, LiveVersion | None] | None = None


def live_version_in_database() -> LiveVersion | None:
    row = (
        ModelVersion.objects.filter(state=ModelVersion.State.LIVE)
        .values_list("id", "name", "version", "builtin_key")
        .first()
    )
    return LiveVersion(*row) if row else None


def live_version() -> LiveVersion | None:
    """The live version, or None: then workers serve their configured built-in model."""
    global _cached
    now = time.monotonic()
    cached = _cached
    if cached is not None and now - cached[0] < settings.MODEL_LIVE_CHECK_SECONDS:
        return cached[1]
    live = live_version_in_database()
    with _lock:
        _cached = (now, live)
    return live


def forget_live_version() -> None:
    global _cached
    with _lock:
        _cached = None


def all_versions() -> QuerySet[ModelVersion]:
    """Every version, newest first per name (models are the operator's, not a user's data)."""
    return ModelVersion.objects.order_by("name", "-version")


def version_labels(version_id: int | None) -> tuple[str, ...] | None:
    """A version's labels in output order; None for a built-in (ImageNet) or no version."""
    if version_id is None:
        return None
    labels = _labels_cache.get(version_id)
    if labels is None:
        row = ModelVersion.objects.filter(pk=version_id).values_list("labels", flat=True).first()
        labels = tuple(row or ())
        _labels_cache[version_id] = labels  # immutable once registered: safe to keep
    return labels or None


_labels_cache: dict[int, tuple[str, ...]] = {}
