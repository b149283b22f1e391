"""Submit an upload (admit, validate, store, answer from cache or enqueue) and wait for it.

The web side's whole part of an upload: after `submit_prediction` the prediction belongs to
the worker that runs it (`mlworker.lifecycle`); the web only reads it again.
"""

from __future__ import annotations

import logging
import time

from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from accounts.models import User
from classifier import queueing, selectors, wait_slots
from classifier.imaging import InvalidImage, validate_upload
from classifier.models import Prediction
from classifier.services.admission import (
    Admission,
    check_admission,
    queue_unavailable,
)
from classifier.steps import step, timed_step
from classifier.storage import clean_filename, save_image
from monitoring.metrics import Outcome, RejectReason, count_upload
from registry.selectors import version_for_upload

logger = logging.getLogger(__name__)


@timed_step("submit_prediction")
def submit_prediction(*, user: User, upload: UploadedFile) -> Prediction:
    """Validate and store an upload, then answer it from cache or put it on the queue.

    Raises `QueueFull` (checked first: nothing read or stored), `UploadQuotaExceeded`
    (nothing read or stored), `classifier.imaging.InvalidImage` (nothing stored),
    `StorageUnavailable` (nothing stored, no prediction kept) or `QueueUnavailable`
    (nothing queued, no prediction kept).
    """
    admission = check_admission(user=user)
    try:
        return _submit(user=user, upload=upload, admission=admission)
    finally:
        admission.release()  # what the upload still holds: nothing once stored and queued


def _submit(*, user: User, upload: UploadedFile, admission: Admission) -> Prediction:
    try:
        with step("validate (decode the image, hash)"):
            image = validate_upload(upload)
    except InvalidImage:
        count_upload(Outcome.REJECTED, RejectReason.INVALID_IMAGE)
        raise
    # The registry's live version answers new uploads (None: the workers' built-in), or a
    # canary candidate for the users in its share; the worker that runs the job records
    # the version and the name that answered it. The result cache is keyed by it.
    model_version_id = version_for_upload(user_id=user.pk)
    written = save_image(image)
    fields = {
        "id": admission.prediction_id,
        "model_version_id": model_version_id,
        "owner_id": user.pk,  # not the object: a token's user is then never read
        "image": image.storage_name,
        "image_sha256": image.sha256,
        "original_filename": clean_filename(getattr(upload, "name", "")),
    }
    previous = None
    # Bytes the store did not hold have no earlier answer (an answered prediction keeps its
    # image stored), so only bytes seen before cost the query. No worker live: no model to
    # answer for, no cache answer.
    if not written and admission.live_model_names:
        with step("result-cache lookup (query)"):
            previous = selectors.finished_prediction_for_image(
                owner_id=user.pk,
                sha256=image.sha256,
                model_names=admission.live_model_names,
                model_version_id=model_version_id,
            )
    if previous is not None:
        now = timezone.now()
        prediction = Prediction.objects.create(
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
        admission.keep_quota_slot()
        count_upload(Outcome.CACHED)
        return prediction
    # No model name yet: the worker that runs it records its own.
    prediction = Prediction.objects.create(**fields)
    try:
        with step("enqueue (RQ)"):
            queueing.enqueue_prediction(prediction_id=str(prediction.id), owner_id=user.pk)
    except RedisError as error:
        prediction.delete()
        queue_unavailable(error)
    admission.keep_quota_slot()
    admission.holds_place = False  # the job holds it now; the worker that takes it frees it
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
