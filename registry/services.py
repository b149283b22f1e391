"""Writes to the registry: register a version, record its validation, promote, roll back,
put a candidate on trial (shadow or canary) and end it.

Every step leaves a `ModelEvent` (who, what, when). Nothing here loads a model: a new
version is handed to a worker (`spec.VALIDATE_JOB`), which reports back through
`record_validation`. The live version's id is published in the queue's Redis
(`spec.LIVE_VERSION_KEY`) after each change commits, which is how workers notice it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import zipfile
from dataclasses import dataclass
from functools import partial
from pathlib import PurePosixPath
from typing import IO

import django_rq
from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from registry import selectors, spec
from registry.models import ModelEvent, ModelVersion
from registry.spec import InvalidSpec

logger = logging.getLogger(__name__)

State = ModelVersion.State
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MIN_INPUT, MAX_INPUT = 8, 1024


class PromotionRefused(Exception):
    """The version cannot go live (not validated, or nothing to roll back to)."""


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


def request_validation(*, version: ModelVersion) -> bool:
    """Queue the worker's check of `version`; False (logged) when the queue is unreachable."""
    try:
        queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
        queue.enqueue(
            spec.VALIDATE_JOB,
            version.pk,
            job_timeout=settings.MODEL_VALIDATION_TIMEOUT_SECONDS,
            result_ttl=3600,
        )
    except RedisError as error:
        logger.warning("validation of %s not queued: %s", version, error)
        return False
    return True


def revalidate(*, version: ModelVersion, actor=None) -> ModelVersion:
    """Check a failed (or stuck) version again, e.g. after a worker with more memory joined."""
    updated = ModelVersion.objects.filter(
        pk=version.pk, state__in=[State.FAILED, State.VALIDATING]
    ).update(state=State.VALIDATING, failure_reason="")
    if not updated:
        raise PromotionRefused(_("Only a failed or validating version can be checked again."))
    version.refresh_from_db()
    request_validation(version=version)
    return version


def record_validation(*, version_id: int, failure: str = "", report: dict | None = None) -> bool:
    """The worker's verdict on a version still `validating`: ready, or failed with a reason."""
    state = State.FAILED if failure else State.READY
    with transaction.atomic():
        updated = ModelVersion.objects.filter(pk=version_id, state=State.VALIDATING).update(
            state=state, failure_reason=failure, report=report or {}, validated_at=timezone.now()
        )
        if updated:
            ModelEvent.objects.create(
                version_id=version_id,
                action=ModelEvent.Action.FAILED if failure else ModelEvent.Action.VALIDATED,
                detail=failure or _summary(report or {}),
            )
    return updated > 0


def _summary(report: dict) -> str:
    return ", ".join(f"{key}: {value}" for key, value in report.items() if key != "samples")


PROMOTABLE = (State.READY, State.RETIRED)


def promote_version(
    *, version: ModelVersion, actor=None, rolled_back: bool = False
) -> ModelVersion:
    """Make `version` the one live version (the previous one is retired).

    New uploads are answered by it within MODEL_LIVE_CHECK_SECONDS: the web and the
    workers re-read the live version at most that often; a batch already in a worker
    finishes on the version it started with.
    """
    for _attempt in range(3):
        try:
            with transaction.atomic():
                target = ModelVersion.objects.select_for_update().get(pk=version.pk)
                if target.state == State.LIVE:
                    return target
                if target.state not in PROMOTABLE:
                    raise PromotionRefused(
                        _("%(version)s is %(state)s; only a validated version can go live.")
                        % {"version": target, "state": target.get_state_display()}
                    )
                now = timezone.now()
                # A trial compares a candidate with the live version: a new live ends it.
                _end_trials(actor=actor, detail=_("%(version)s went live") % {"version": target})
                target.trial, target.trial_share, target.trial_started_at = "", 0, None
                for previous in ModelVersion.objects.select_for_update().filter(state=State.LIVE):
                    previous.state = State.RETIRED
                    previous.save(update_fields=["state"])
                    ModelEvent.objects.create(
                        version=previous,
                        action=ModelEvent.Action.RETIRED,
                        actor=actor,
                        detail=_("replaced by %(version)s") % {"version": target},
                    )
                target.state = State.LIVE
                target.promoted_at = now
                target.save(
                    update_fields=[
                        "state",
                        "promoted_at",
                        "trial",
                        "trial_share",
                        "trial_started_at",
                    ]
                )
                ModelEvent.objects.create(
                    version=target,
                    action=ModelEvent.Action.ROLLED_BACK
                    if rolled_back
                    else ModelEvent.Action.PROMOTED,
                    actor=actor,
                )
                selectors.forget_live_version()  # this process sees it at once (and again
                # after the commit, below, with every worker)
                transaction.on_commit(partial(publish_live_version, version_id=target.pk))
            return target
        except IntegrityError:  # another promotion won the race: look again
            continue
    raise PromotionRefused(_("Another promotion happened at the same time; try again."))


class TrialRefused(Exception):
    """The version cannot be put on trial (not ready, a bad share, or another is on trial)."""


def start_trial(*, version: ModelVersion, trial: str, share: int, actor=None) -> ModelVersion:
    """Make a ready version the candidate: `shadow` on `share` % of uploads (its answers kept
    apart, never shown) or `canary` answering `share` % of users (sticky by a hash of the user
    id). Changing the share of the running candidate is allowed; a second candidate is not
    (the database refuses it too: `registry_one_candidate`)."""
    if trial not in (spec.SHADOW, spec.CANARY):
        raise TrialRefused(_("A trial is shadow or canary."))
    if not 0 <= share <= 100:
        raise TrialRefused(_("The share is a percentage, 0 to 100."))
    try:
        with transaction.atomic():
            target = ModelVersion.objects.select_for_update().get(pk=version.pk)
            if target.state != State.READY:
                raise TrialRefused(
                    _("%(version)s is %(state)s; only a ready version can be a candidate.")
                    % {"version": target, "state": target.get_state_display()}
                )
            other = ModelVersion.objects.exclude(trial="").exclude(pk=target.pk).first()
            if other is not None:
                raise TrialRefused(
                    _("%(version)s is the candidate already; end its trial first.")
                    % {"version": other}
                )
            target.trial, target.trial_share = trial, share
            target.trial_started_at = timezone.now()
            target.save(update_fields=["trial", "trial_share", "trial_started_at"])
            ModelEvent.objects.create(
                version=target,
                action=ModelEvent.Action.SHADOW
                if trial == spec.SHADOW
                else ModelEvent.Action.CANARY,
                actor=actor,
                detail=_("%(share)d %% of uploads") % {"share": share}
                if trial == spec.SHADOW
                else _("%(share)d %% of users") % {"share": share},
            )
            selectors.forget_live_version()
    except IntegrityError:  # another candidate was set at the same time
        raise TrialRefused(_("Another version became the candidate at the same time.")) from None
    return target


def end_trial(*, actor=None) -> ModelVersion | None:
    """End the running shadow or canary (the candidate stays ready); None if none ran."""
    with transaction.atomic():
        ended = _end_trials(actor=actor, detail="")
        selectors.forget_live_version()
    return ended[0] if ended else None


def _end_trials(*, actor, detail: str) -> list[ModelVersion]:
    ended = list(ModelVersion.objects.select_for_update().exclude(trial=""))
    for version in ended:
        ModelEvent.objects.create(
            version=version,
            action=ModelEvent.Action.TRIAL_ENDED,
            actor=actor,
            detail=f"{version.get_trial_display()} {version.trial_share} %"
            + (f", {detail}" if detail else ""),
        )
    ModelVersion.objects.filter(pk__in=[v.pk for v in ended]).update(
        trial="", trial_share=0, trial_started_at=None
    )
    return ended


def rollback(*, actor=None) -> ModelVersion:
    """Put back the version that was live before the current one."""
    current = ModelVersion.objects.filter(state=State.LIVE).first()
    earlier = ModelVersion.objects.filter(state=State.RETIRED, promoted_at__isnull=False)
    if current is not None and current.promoted_at is not None:
        earlier = earlier.filter(promoted_at__lt=current.promoted_at)
    previous = earlier.order_by("-promoted_at").first()
    if previous is None:
        raise PromotionRefused(_("No earlier live version to roll back to."))
    return promote_version(version=previous, actor=actor, rolled_back=True)


def publish_live_version(*, version_id: int | None) -> None:
    """Tell the workers (and this process) which version is live now."""
    selectors.forget_live_version()
    try:
        connection = django_rq.get_connection(settings.INFERENCE_QUEUE)
        connection.set(spec.LIVE_VERSION_KEY, str(version_id or spec.NO_LIVE_VERSION))
    except RedisError as error:
        # Workers also re-read the database every MODEL_LIVE_RECHECK_SECONDS.
        logger.warning("live version %s not published to Redis: %s", version_id, error)
