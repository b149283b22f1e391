"""Business operations on predictions: submit an upload, wait for it, record results.

Views (browser, API, legacy API) and the model worker call these functions; none of
them touch the queue or the result fields directly.
"""

from __future__ import annotations

import json
import logging
import math
import time
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import PureWindowsPath
from typing import Any, NoReturn
from uuid import UUID

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from redis.client import Pipeline
from redis.exceptions import RedisError

from accounts.models import User
from accounts.types import Requester
from classifier import live_models, queueing, selectors, wait_slots
from classifier.imaging import InvalidImage, ValidatedImage, validate_upload
from classifier.models import Prediction
from classifier.steps import step, timed_step
from classifier.storage import ChecksummedContent, StorageUnavailable
from monitoring.metrics import FailureReason, Outcome, RejectReason, count_failures, count_upload
from registry.selectors import live_version

logger = logging.getLogger(__name__)

MAX_FILENAME_LENGTH = 255


class QueueUnavailable(Exception):
    """The job queue (Redis) cannot be reached; nothing was queued or kept."""


class QueueFull(QueueUnavailable):
    """The queue holds MAX_QUEUE_DEPTH jobs already; nothing was stored or queued.

    `retry_after`: seconds after which trying again is likely to succeed.
    """

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class UploadQuotaExceeded(Exception):
    """The user has stored UPLOAD_QUOTA_PER_DAY uploads in the last 24 hours; nothing was
    read or stored. `retry_after`: seconds until the oldest of them leaves the window."""

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def _quota_key(user_id, day: datetime) -> str:
    return f"imageclassifier:upload-quota:{int(user_id)}:{day:%Y%m%d}"


def check_upload_quota(*, user, stored: int | None = None) -> None:
    """Refuse an upload once the user has stored UPLOAD_QUOTA_PER_DAY today (UTC).

    The count is a per-user, per-day counter in the queue's Redis (never evicted, unlike
    the cache), so the upload path spends no database query on it: one GET (read together
    with the queue's length by `check_admission`: `stored`), one INCR queued with the
    upload's job (`count_upload_for_quota`). Not atomic with the upload: a user's uploads in
    flight together at quota-1 all pass, so the quota can overshoot by that many (bounded
    by the upload rate limit). Redis unreachable: the upload itself fails on the queue.
    """
    quota = settings.UPLOAD_QUOTA_PER_DAY
    if not quota:
        return
    now = timezone.now()
    if stored is None:
        try:
            stored = int(queueing.inference_queue().connection.get(_quota_key(user.pk, now)) or 0)
        except RedisError as error:
            logger.warning("upload quota not checked, Redis unavailable: %s", error)
            return
    if stored < quota:
        return
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    retry_after = max(1, math.ceil((midnight - now).total_seconds()))
    count_upload(Outcome.REJECTED, RejectReason.QUOTA_EXCEEDED)
    hours = max(1, math.ceil(retry_after / 3600))
    raise UploadQuotaExceeded(
        ngettext(
            "You have reached your quota of %(quota)d uploads a day. Try again in about "
            "%(hours)d hour.",
            "You have reached your quota of %(quota)d uploads a day. Try again in about "
            "%(hours)d hours.",
            hours,
        )
        % {"quota": quota, "hours": hours},
        retry_after=retry_after,
    )


def count_upload_for_quota(pipeline: Pipeline, *, user) -> None:
    """Queue the INCR that counts one stored upload towards today's quota."""
    if not settings.UPLOAD_QUOTA_PER_DAY:
        return
    key = _quota_key(user.pk, timezone.now())
    pipeline.incr(key)
    pipeline.expire(key, 2 * 86400)


def record_upload_for_quota(*, user) -> None:
    """Count one stored upload towards today's quota (its own round trip)."""
    if not settings.UPLOAD_QUOTA_PER_DAY:
        return
    try:
        pipe = queueing.inference_queue().connection.pipeline(transaction=False)
        count_upload_for_quota(pipe, user=user)
        pipe.execute()
    except RedisError as error:
        logger.warning("upload not counted towards the quota, Redis unavailable: %s", error)


#: Retry-After bounds for a full queue: at least a second, at most a minute
RETRY_AFTER_RANGE = (1, 60)
#: what a full queue's Retry-After says when no worker has measured its pace yet
RETRY_AFTER_UNKNOWN = 5


def check_admission(*, user) -> list[str]:
    """`check_queue_room` then `check_upload_quota`, their reads in one round trip together
    with the models live workers run, which it returns (the result cache's key; empty when
    no worker is live)."""
    queue = queueing.inference_queue()
    try:
        pipe = queue.connection.pipeline(transaction=False)
        pipe.llen(queue.key)
        pipe.get(_quota_key(user.pk, timezone.now()))
        live_models.read_into(pipe)
        depth, stored, live = pipe.execute()
    except RedisError as error:
        _queue_unavailable(error)
    check_queue_room(depth=int(depth))
    check_upload_quota(user=user, stored=int(stored or 0))
    return live_models.names_from(live)


def _queue_unavailable(error: RedisError) -> NoReturn:
    count_upload(Outcome.REJECTED, RejectReason.QUEUE_UNAVAILABLE)
    logger.warning("queue unavailable, upload rejected: %s", error)
    raise QueueUnavailable(
        _("The classification queue is unavailable. Try again shortly.")
    ) from None


def check_queue_room(*, depth: int | None = None) -> None:
    """Refuse an upload at once when the queue is full, before anything is read or stored.

    One LLEN (or its `depth`, read by `check_admission`), not atomic with the enqueue that
    follows: uploads arriving together at depth cap-1 all pass, so the queue can overshoot
    the cap by the number of uploads in flight at that moment (at most the web's thread
    count). The cap is a guard against unbounded growth, not an exact quota, so that is
    accepted.
    """
    cap = settings.MAX_QUEUE_DEPTH
    if not cap:
        return
    if depth is None:
        try:
            depth = queueing.queue_depth()
        except RedisError as error:
            _queue_unavailable(error)
    if depth < cap:
        return
    retry_after = _retry_after_full_queue(depth)
    count_upload(Outcome.REJECTED, RejectReason.QUEUE_FULL)
    raise QueueFull(
        _(
            "The service is busy: %(depth)d images are waiting to be classified. "
            "Nothing was stored; try again in %(seconds)d seconds."
        )
        % {"depth": depth, "seconds": retry_after},
        retry_after=retry_after,
    )


def _retry_after_full_queue(depth: int) -> int:
    """Time for the workers to get through a tenth of the queue, from their measured pace."""
    try:
        rate = queueing.images_per_second()
    except RedisError:
        rate = None
    if not rate:
        return RETRY_AFTER_UNKNOWN
    low, high = RETRY_AFTER_RANGE
    return max(low, min(high, math.ceil(depth / 10 / rate)))


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

    Bytes already stored under that name are not written again. The check costs one
    HEAD request on S3 (size + recorded SHA-256, no download); on a local disk the file
    is read back, so one cut short (a crash mid-write) or damaged is written again
    instead of failing every later upload of the same photo.

    Raises `StorageUnavailable` when the store cannot be reached; nothing is stored then
    (an S3 PUT is all or nothing).
    """
    name = image.storage_name
    try:
        if _holds(name, image):
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


def _holds(name: str, image: ValidatedImage) -> bool:
    holds = getattr(default_storage, "holds", None)
    if holds is not None:
        return holds(name, content=image.content, sha256=image.sha256)
    try:  # a storage of another kind: compare what it holds
        with default_storage.open(name, "rb") as stored:
            return stored.read() == image.content
    except OSError:
        return False


@timed_step("submit_prediction")
def submit_prediction(*, user: User, upload: UploadedFile) -> Prediction:
    """Validate and store an upload, then answer it from cache or put it on the queue.

    Raises `QueueFull` (checked first: nothing read or stored), `UploadQuotaExceeded`
    (nothing read or stored), `classifier.imaging.
    InvalidImage` (nothing stored), `StorageUnavailable` (nothing stored, no prediction
    kept) or `QueueUnavailable` (nothing queued, no prediction kept).
    """
    live_model_names = check_admission(user=user)
    try:
        with step("validate (decode the image, hash)"):
            image = validate_upload(upload)
    except InvalidImage:
        count_upload(Outcome.REJECTED, RejectReason.INVALID_IMAGE)
        raise
    # The registry's live version answers new uploads (None: the workers' built-in); the
    # worker that runs the job records the version and the name that answered it.
    live = live_version()
    model_version_id = live.id if live is not None else None
    storage_name = store_image(image)
    fields = {
        "model_version_id": model_version_id,
        "owner_id": user.pk,  # not the object: a token's user is then never read
        "image": storage_name,
        "image_sha256": image.sha256,
        "original_filename": clean_filename(getattr(upload, "name", "")),
    }
    previous = None
    if live_model_names:  # no worker live: no model to answer for, so no cached answer
        with step("result-cache lookup (query)"):
            previous = selectors.finished_prediction_for_image(
                sha256=image.sha256,
                model_names=live_model_names,
                model_version_id=model_version_id,
            )
    if previous is not None:
        record_upload_for_quota(user=user)
        now = timezone.now()
        count_upload(Outcome.CACHED)
        return Prediction.objects.create(
            **fields,
            model_name=previous.model_name,
            status=Prediction.Status.DONE,
            label=previous.label,
            score=previous.score,
            top5=previous.top5,
            cached=True,
            started_at=now,
            finished_at=now,
        )
    # No model name yet: the worker that runs it records its own (`complete_predictions`).
    prediction = Prediction.objects.create(**fields)
    try:
        with step("enqueue (RQ)"):
            # The quota's INCR rides in the job's own transaction: one round trip.
            queueing.enqueue_prediction(
                prediction_id=str(prediction.id),
                also=lambda pipeline: count_upload_for_quota(pipeline, user=user),
            )
    except RedisError as error:
        prediction.delete()
        _queue_unavailable(error)
    count_upload(Outcome.QUEUED)
    return prediction


class WaitSlotsFull(Exception):
    """Too many requests already wait (this user's or this process's bound): answer now."""


@timed_step("wait_for_prediction (reads, XREAD)")
def wait_for_prediction(*, prediction: Prediction, timeout: float) -> Prediction:
    """Block until the prediction is finished or `timeout` seconds pass; return it refreshed.

    Wakes on the job's RQ result stream (XREAD BLOCK), so no sleep-polling. Retried
    jobs also write to that stream; then we simply keep waiting. A wait holds a server
    thread, so it first takes a wait slot (`classifier.wait_slots`); with none free this
    raises WaitSlotsFull at once and the caller answers with the pending prediction.
    """
    if prediction.is_finished or timeout <= 0:
        return prediction
    with wait_slots.wait_slot(user_id=prediction.owner_id, seconds=timeout) as granted:
        if granted is None:  # Redis is down: answer with the stored status
            prediction.refresh_from_db()
            return prediction
        if not granted:
            raise WaitSlotsFull(
                _("Too many requests are waiting for the model; this one was answered at once.")
            )
        return _wait(prediction=prediction, timeout=timeout)


def _wait(*, prediction: Prediction, timeout: float) -> Prediction:
    """`prediction` was just read or created: wait first, read again only after an event.

    The stream is read from its start ("0-0"), so an answer written before the first XREAD
    still wakes it at once; the re-read of a row we already hold is one query saved.
    """
    deadline = time.monotonic() + timeout
    last_entry = "0-0"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            prediction.refresh_from_db()
            return prediction
        try:
            last_entry = queueing.wait_for_job_event(
                job_id=str(prediction.id), after=last_entry, timeout=remaining
            )
        except RedisError as error:
            logger.warning("stopped waiting for %s: %s", prediction.id, error)
            prediction.refresh_from_db()
            return prediction
        prediction.refresh_from_db()
        if prediction.is_finished:
            return prediction


def _claimable(prediction_ids: Iterable[str]) -> QuerySet[Prediction]:
    return Prediction.objects.filter(
        id__in=list(prediction_ids),
        status__in=[Prediction.Status.QUEUED, Prediction.Status.RUNNING],
    )


def start_predictions(*, prediction_ids: Iterable[str]) -> dict[str, Prediction]:
    """Mark predictions as running and count the attempt; return the ones still to do.

    Predictions that already finished (e.g. a retried job whose first attempt did
    complete) are left out, so no work is done twice.
    """
    now = timezone.now()
    if connection.vendor == "postgresql":
        return _start_in_one_statement(prediction_ids=list(prediction_ids), now=now)
    with transaction.atomic():
        predictions = list(_claimable(prediction_ids).select_for_update())
        # One UPDATE for the whole batch: every row gets the same values (bulk_update's
        # per-row CASE expressions cost ~4x the CPU).
        Prediction.objects.filter(pk__in=[p.pk for p in predictions]).update(
            status=Prediction.Status.RUNNING, attempts=F("attempts") + 1, started_at=now
        )
        for prediction in predictions:
            prediction.status = Prediction.Status.RUNNING
            prediction.attempts += 1
            prediction.started_at = now
    return {str(p.id): p for p in predictions}


#: what the worker reads of a prediction it starts (`mlworker.inference.prepare_inputs`)
_STARTED_FIELDS = ("id", "image", "status", "attempts", "started_at")


def _start_in_one_statement(*, prediction_ids: list[str], now: datetime) -> dict[str, Prediction]:
    """UPDATE … RETURNING: one round trip instead of four (BEGIN, SELECT … FOR UPDATE,
    UPDATE, COMMIT). The UPDATE locks each row and re-checks its status itself, so a
    prediction finished meanwhile is left out just as the locking read left it out."""
    if not prediction_ids:
        return {}
    meta = Prediction._meta
    fields = [field for field in meta.concrete_fields if field.name in _STARTED_FIELDS]
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(meta.db_table)} SET status = %s, attempts = attempts + 1, "
        "started_at = %s WHERE id = ANY(%s::uuid[]) AND status IN (%s, %s) "
        f"RETURNING {', '.join(quote(str(field.column)) for field in fields)}"
    )
    parameters: list[Any] = [
        Prediction.Status.RUNNING,
        now,
        prediction_ids,
        Prediction.Status.QUEUED,
        Prediction.Status.RUNNING,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        rows = cursor.fetchall()
    names = [field.attname for field in fields]
    started = [
        Prediction.from_db(
            connection.alias,
            names,
            [field.to_python(value) for field, value in zip(fields, row, strict=True)],
        )
        for row in rows
    ]
    return {str(p.id): p for p in started}


def complete_predictions(
    *, results: dict[str, list[dict]], model_name: str, model_version_id: int | None = None
) -> None:
    """Store each prediction's top-5 (list of {label, score}, best first): one statement.

    On PostgreSQL the whole batch is one UPDATE … FROM (VALUES …), so a batch of 16 costs
    one round trip instead of 16 (Django's bulk_update builds a CASE per row and field,
    twice the CPU of the per-row loop). Other databases get the per-row loop.
    """
    if not results:
        return
    now = timezone.now()
    if connection.vendor == "postgresql":
        _complete_in_one_statement(
            results=results, model_name=model_name, model_version_id=model_version_id, now=now
        )
        return
    with transaction.atomic():
        for prediction_id, top5 in results.items():
            _claimable([prediction_id]).update(
                status=Prediction.Status.DONE,
                top5=top5,
                label=top5[0]["label"],
                score=top5[0]["score"],
                model_name=model_name,
                model_version_id=model_version_id,
                error="",
                finished_at=now,
            )


def _complete_in_one_statement(
    *,
    results: dict[str, list[dict]],
    model_name: str,
    model_version_id: int | None,
    now: datetime,
) -> None:
    table = connection.ops.quote_name(Prediction._meta.db_table)
    rows = ", ".join(["(%s::uuid, %s, %s::double precision, %s::jsonb)"] * len(results))
    parameters: list = []
    for prediction_id, top5 in results.items():
        parameters += [prediction_id, top5[0]["label"], top5[0]["score"], json.dumps(top5)]
    sql = (
        f"UPDATE {table} AS p SET status = %s, label = v.label, score = v.score, "
        "top5 = v.top5, model_name = %s, model_version_id = %s, error = '', finished_at = %s "
        f"FROM (VALUES {rows}) AS v(id, label, score, top5) "
        "WHERE p.id = v.id AND p.status IN (%s, %s)"
    )
    done, queued, running = (
        Prediction.Status.DONE,
        Prediction.Status.QUEUED,
        Prediction.Status.RUNNING,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [done, model_name, model_version_id, now, *parameters, queued, running])


def fail_prediction(
    *,
    prediction_id: str,
    message: str,
    reason: str = FailureReason.ERROR,
    finished_at: datetime | None = None,
) -> bool:
    """Mark a pending prediction failed; False if it had finished already (nothing counted).

    `reason` is the `predictions_failed_total` label (`monitoring.metrics.FailureReason`).
    """
    updated = _claimable([prediction_id]).update(
        status=Prediction.Status.FAILED, error=message, finished_at=finished_at or timezone.now()
    )
    if updated:
        _count_failures(reason, updated)
    return updated > 0


def _count_failures(reason: str, count: int) -> None:
    try:
        count_failures(queueing.inference_queue().connection, reason, count)
    except RedisError as error:  # the failure itself is recorded; only its count is lost
        logger.warning("could not count %d failed predictions (%s): %s", count, reason, error)


def expired_message() -> str:
    return _(
        "Expired: it waited in the queue longer than %(seconds)g seconds, so it was not run. "
        "Upload it again."
    ) % {"seconds": settings.PREDICTION_DEADLINE_SECONDS}


def is_past_deadline(created_at: datetime, *, now: datetime | None = None) -> bool:
    deadline = settings.PREDICTION_DEADLINE_SECONDS
    if not deadline:
        return False
    return ((now or timezone.now()) - created_at).total_seconds() > deadline


def expire_overdue_predictions(*, prediction_ids: Iterable[str]) -> dict[str, str]:
    """Fail the predictions uploaded more than PREDICTION_DEADLINE_SECONDS ago that have not
    run yet; return id → message for those. Called before their forward pass, so a backlog
    left by an outage is cleared without running the model for answers nobody waits for."""
    if not settings.PREDICTION_DEADLINE_SECONDS:
        return {}
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.PREDICTION_DEADLINE_SECONDS)
    overdue = Prediction.objects.filter(
        id__in=list(prediction_ids), status=Prediction.Status.QUEUED, created_at__lt=cutoff
    )
    message = expired_message()
    expired = [str(pk) for pk in overdue.values_list("pk", flat=True)]
    if not expired:
        return {}
    updated = Prediction.objects.filter(pk__in=expired, status=Prediction.Status.QUEUED).update(
        status=Prediction.Status.FAILED, error=message, finished_at=now
    )
    if updated:
        logger.warning(
            "%d predictions expired in the queue (deadline %gs)",
            updated,
            settings.PREDICTION_DEADLINE_SECONDS,
        )
        _count_failures(FailureReason.EXPIRED, updated)
    return dict.fromkeys(expired, message)


def requeue_prediction(*, prediction_id: str, message: str) -> bool:
    """An attempt was lost (worker died or crashed); the job will run again.

    False if the prediction has finished meanwhile (nothing to run again).
    """
    updated = _claimable([prediction_id]).update(status=Prediction.Status.QUEUED, error=message)
    return updated > 0


def retry_limit() -> int:
    return settings.PREDICTION_MAX_ATTEMPTS


def delete_prediction(*, user: Requester, prediction_id: UUID | str) -> bool:
    """Delete one of the user's own predictions (its feedback goes with it).

    False when the user has no such prediction (someone else's is the same as none).
    The stored image is removed once no prediction references those bytes any more
    (see `forget_image_when_unused`, run for every deleted prediction).
    """
    with transaction.atomic():
        deleted, _ = selectors.predictions_visible_to(user=user).filter(pk=prediction_id).delete()
    return deleted > 0


def forget_image_when_unused(*, name: str) -> None:
    """After the deleting transaction commits: delete the stored file if nothing uses it.

    Identical bytes share one file, so the file outlives a deleted prediction while any
    other prediction (another user's upload of the same photo, or a cached answer)
    still references it. Deleted through the storage API, so it works on any backend.
    """

    def delete_if_unused() -> None:
        if Prediction.objects.filter(image=name).exists():
            return
        try:
            default_storage.delete(name)
        except OSError as error:
            logger.warning("could not delete unused image %s: %s", name, error)

    transaction.on_commit(delete_if_unused)
