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

from registry import spec
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


@dataclass(frozen=True)
class Candidate:
    """The version on trial beside the live one: shadow or canary, on `share` percent."""

    id: int
    name: str
    version: int
    trial: str
    share: int

    @property
    def display_name(self) -> str:
        return f"{self.name} v{self.version}"

    def shadows(self, prediction_id: object) -> bool:
        """Does the candidate also run on this upload (shadow, by a hash of its id)?"""
        return self.trial == spec.SHADOW and spec.in_share(spec.SHADOW, prediction_id, self.share)

    def answers_user(self, user_id: object) -> bool:
        """Are this user's uploads answered by the candidate (canary, by a hash of the id)?"""
        return self.trial == spec.CANARY and spec.in_share(spec.CANARY, user_id, self.share)


class _RecentRead:
    """A read kept for MODEL_LIVE_CHECK_SECONDS in this process, so an upload costs no query;
    `forget` makes the next call read again (a change made in this process is seen at once)."""

    def __init__(self, read):
        self._read = read
        self._lock = threading.Lock()
        self._kept: tuple[float, object] | None = None

    def __call__(self):
        now = time.monotonic()
        kept = self._kept
        if kept is not None and now - kept[0] < settings.MODEL_LIVE_CHECK_SECONDS:
            return kept[1]
        value = self._read()
        with self._lock:
            self._kept = (now, value)
        return value

    def forget(self) -> None:
        with self._lock:
            self._kept = None


def live_version_in_database() -> LiveVersion | None:
    row = (
        ModelVersion.objects.filter(state=ModelVersion.State.LIVE)
        .values_list("id", "name", "version", "builtin_key")
        .first()
    )
    return LiveVersion(*row) if row else None


def candidate_in_database() -> Candidate | None:
    row = (
        ModelVersion.objects.exclude(trial="")
        .values_list("id", "name", "version", "trial", "trial_share")
        .first()
    )
    return Candidate(*row) if row else None


_recent_live = _RecentRead(live_version_in_database)
_recent_candidate = _RecentRead(candidate_in_database)


def live_version() -> LiveVersion | None:
    """The live version, or None: then workers serve their configured built-in model."""
    return _recent_live()


def candidate() -> Candidate | None:
    """The version on trial, if any; re-read at most every MODEL_LIVE_CHECK_SECONDS."""
    return _recent_candidate()


def forget_live_version() -> None:
    _recent_live.forget()
    _recent_candidate.forget()


def version_for_upload(*, user_id: int) -> int | None:
    """The version that answers this user's next upload: the canary candidate for the users
    in its share (sticky: a hash of the user id), else the live one (None: a built-in)."""
    trial = candidate()
    if trial is not None and trial.answers_user(user_id):
        return trial.id
    live = live_version()
    return live.id if live is not None else None


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
