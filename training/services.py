"""Writes for training runs: start (checked and queued), progress, result, cancel.

Starting happens in the web or the command; the training itself is a job on the training
queue (`TRAIN_JOB`), run by a worker host with TensorFlow, which reports back here.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import partial

import django_rq
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from registry import spec
from registry.models import ModelVersion
from training import selectors
from training.models import TRAIN_JOB, TrainingRun

logger = logging.getLogger(__name__)
State = TrainingRun.State
TRAINABLE_FORMATS = (spec.KERAS, spec.H5)
TRAINABLE_BUILTINS = ("efficientnet_lite0",)


class TrainingRefused(ValueError):
    """The run cannot start; the message says why and what to do."""


def _classes_for(*, base: ModelVersion, label_set: str, classes: list[str]) -> tuple[str, ...]:
    if label_set == TrainingRun.LabelSet.BASE:
        return tuple(base.labels) if base.labels else _imagenet_labels()
    try:
        parsed = spec.parse_labels("\n".join(classes))
    except spec.InvalidSpec as error:
        raise TrainingRefused(str(error)) from None
    if len(parsed) < 2:
        raise TrainingRefused(_("New classes need at least two names."))
    return tuple(parsed)


def _imagenet_labels() -> tuple[str, ...]:
    from classifier.labels import IMAGENET_LABELS

    return IMAGENET_LABELS


def _check_base(base: ModelVersion) -> None:
    if base.state in (ModelVersion.State.VALIDATING, ModelVersion.State.FAILED):
        raise TrainingRefused(
            _("%(version)s is %(state)s; train from a validated version.")
            % {"version": base, "state": base.get_state_display()}
        )
    trainable = base.format in TRAINABLE_FORMATS or (
        base.format == spec.BUILTIN and base.builtin_key in TRAINABLE_BUILTINS
    )
    if not trainable:
        raise TrainingRefused(
            _("%(version)s cannot be a base: training needs a Keras file or EfficientNet-Lite0.")
            % {"version": base}
        )


@dataclass(frozen=True)
class Plan:
    """A run that passed every check: its classes, its fixed dataset and the counts."""

    base: ModelVersion
    name: str
    label_set: str
    classes: tuple[str, ...]
    images: list[selectors.LabelledImage]
    counts: dict


def plan_training(
    *,
    base: ModelVersion,
    name: str,
    label_set: str = TrainingRun.LabelSet.BASE,
    classes: list[str] | None = None,
) -> Plan:
    """Collect the trusted labels and check there are enough; raises `TrainingRefused`."""
    _check_base(base)
    if not spec_name_ok(name):
        raise TrainingRefused(
            _("A model name is 1–60 lowercase letters, digits, '-' or '_' (e.g. 'parts').")
        )
    wanted = _classes_for(base=base, label_set=label_set, classes=classes or [])
    images = selectors.labelled_images(classes=wanted)
    if label_set == TrainingRun.LabelSet.BASE:
        present = {image.label for image in images}
        wanted = tuple(label for label in wanted if label in present)  # labels with examples
    counts = selectors.class_counts(images, wanted)
    minimum = settings.TRAINING_MIN_IMAGES_PER_CLASS
    short = {label: n for label, n in counts["total"].items() if n < minimum}
    if len(wanted) < 2 or short:
        listed = ", ".join(f"{label}: {n}" for label, n in sorted(short.items())) or "-"
        raise TrainingRefused(
            _(
                "Too few labelled images: every class needs at least %(minimum)d "
                "(TRAINING_MIN_IMAGES_PER_CLASS) and there must be two classes or more. "
                "Short: %(short)s."
            )
            % {"minimum": minimum, "short": listed}
        )
    return Plan(base, name, label_set, wanted, images, counts)


def start_training(*, actor=None, **fields) -> TrainingRun:
    """`plan_training`, then `queue_run`."""
    return queue_run(plan=plan_training(**fields), actor=actor)


def queue_run(*, plan: Plan, actor=None) -> TrainingRun:
    """Record a planned run (its dataset fixed now) and queue it for a training worker."""
    with transaction.atomic():
        run = TrainingRun.objects.create(
            base=plan.base,
            name=plan.name,
            label_set=plan.label_set,
            classes=list(plan.classes),
            dataset=[[i.sha256, i.image_name, i.label, i.split] for i in plan.images],
            counts=plan.counts,
            created_by=actor,
            stage=_("Waiting for a training worker"),
        )
        transaction.on_commit(partial(_enqueue, run_id=run.pk))
    return run


def spec_name_ok(name: str) -> bool:
    return bool(re.match(r"^[a-z0-9][a-z0-9_-]{0,59}$", name or ""))


def _enqueue(*, run_id: int) -> None:
    try:
        job = django_rq.get_queue(settings.TRAINING_QUEUE).enqueue(
            TRAIN_JOB, run_id, job_timeout=settings.TRAINING_TIMEOUT_SECONDS, result_ttl=3600
        )
    except RedisError as error:
        logger.warning("training run %s not queued: %s", run_id, error)
        record_failure(run_id=run_id, reason=_("The training queue is unreachable."))
        return
    TrainingRun.objects.filter(pk=run_id).update(job_id=job.id)


def begin(*, run_id: int) -> bool:
    """The worker takes the run; False when it was cancelled (or taken) meanwhile."""
    return bool(
        TrainingRun.objects.filter(pk=run_id, state=State.QUEUED).update(
            state=State.RUNNING, started_at=timezone.now()
        )
    )


def record_progress(*, run_id: int, progress: float, stage: str) -> bool:
    """Store progress; False when the run was cancelled, which tells the worker to stop."""
    return bool(
        TrainingRun.objects.filter(pk=run_id, state=State.RUNNING).update(
            progress=max(0.0, min(progress, 1.0)), stage=stage[:200]
        )
    )


def record_failure(*, run_id: int, reason: str) -> None:
    TrainingRun.objects.filter(pk=run_id, state__in=[State.QUEUED, State.RUNNING]).update(
        state=State.FAILED, failure_reason=reason, finished_at=timezone.now()
    )


def record_result(*, run_id: int, result: dict, version: ModelVersion) -> None:
    TrainingRun.objects.filter(pk=run_id).update(
        state=State.DONE,
        progress=1.0,
        stage=_("Done: %(version)s registered") % {"version": version},
        result=result,
        version=version,
        finished_at=timezone.now(),
    )


def cancel(*, run: TrainingRun) -> bool:
    """Stop a queued or running run; the worker notices at its next batch or epoch."""
    return bool(
        TrainingRun.objects.filter(pk=run.pk, state__in=[State.QUEUED, State.RUNNING]).update(
            state=State.CANCELLED, stage=_("Cancelled"), finished_at=timezone.now()
        )
    )


LOST = (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)


def settle_lost_run(*, run: TrainingRun) -> bool:
    """Fail a run whose job the queue has given up on (its worker died, timed out or was
    stopped), so the admin and `train_model` say so instead of showing it running forever."""
    if run.is_finished or not run.job_id:
        return False
    try:
        job = Job.fetch(run.job_id, connection=django_rq.get_connection(settings.TRAINING_QUEUE))
        status = job.get_status()
    except NoSuchJobError:
        status = None
    except RedisError:
        return False
    if status is not None and status not in LOST:
        return False
    record_failure(
        run_id=run.pk,
        reason=_("The training worker stopped without finishing it (job %(status)s).")
        % {"status": status.value if status is not None else _("gone")},
    )
    run.refresh_from_db()
    return True
