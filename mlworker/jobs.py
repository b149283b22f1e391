"""The RQ job function and failure callback for classification jobs.

`classify_prediction` is what the web enqueues. The batched worker
(`run_model_worker`) recognises these jobs and runs many in one forward pass; a plain
`python manage.py rqworker inference --worker-class rq.worker.SimpleWorker` runs the
same jobs one by one through this function.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError
from rq import get_current_job

from classifier import services
from classifier.storage import StorageUnavailable
from mlworker.catalog import load_model
from mlworker.inference import classify_predictions
from monitoring.metrics import FailureReason

logger = logging.getLogger(__name__)

_model = None


class PredictionFailed(Exception):
    """The image itself cannot be classified; retrying will not help."""


def get_model():
    """The process's model, built on first use (this is where TensorFlow is imported)."""
    global _model
    if _model is None:
        _model = load_model(settings.CLASSIFIER_MODEL)
    return _model


def use_model(model) -> None:
    """Install an already-built model (the batched worker builds its own at start-up)."""
    global _model
    _model = model


def classify_prediction(prediction_id: str) -> dict:
    outcome = classify_predictions(get_model(), [prediction_id])
    if prediction_id in outcome.failures:
        job = get_current_job()
        if job is not None:
            job.retries_left = 0  # a broken image stays broken
        raise PredictionFailed(outcome.failures[prediction_id])
    return {"prediction": prediction_id, "skipped": prediction_id in outcome.skipped}


def record_job_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ calls this when a job raises or its worker vanished (AbandonedJobError).

    RQ calls it before deciding on a retry, so `retries_left` still tells whether
    another attempt will follow.
    """
    prediction_id = job.args[0] if job.args else job.id
    if exc_type is not None and issubclass(exc_type, PredictionFailed):
        return  # already recorded by classify_predictions
    if exc_type is not None and exc_type.__name__ == "AbandonedJobError":
        reason = "the worker stopped"
        metric_reason = FailureReason.WORKER_LOST
    elif exc_type is not None and issubclass(exc_type, StorageUnavailable):
        logger.warning("prediction %s: image store unavailable: %s", prediction_id, exc_value)
        reason = "the image store was unavailable"
        metric_reason = FailureReason.ERROR
    else:
        metric_reason = FailureReason.ERROR
        # The details go to the log, not to the user's screen.
        logger.error("prediction %s raised %s: %s", prediction_id, exc_type, exc_value)
        reason = "an internal error"
    try:
        if job.retries_left:
            logger.warning("prediction %s will be retried: %s", prediction_id, reason)
            message = f"Retrying: {reason}."
            services.requeue_prediction(prediction_id=prediction_id, message=message)
        else:
            logger.error("prediction %s failed for good: %s", prediction_id, reason)
            services.fail_prediction(
                prediction_id=prediction_id,
                message=f"Classification failed after repeated attempts ({reason}).",
                reason=metric_reason,
            )
    except DatabaseError as error:
        # Raising here would stop RQ's registry cleanup (and the worker) mid-way; the
        # recovery sweep (mlworker.recovery) settles the prediction once the database is back.
        logger.warning("prediction %s: could not record the failure: %s", prediction_id, error)


def validate_model_version(version_id: int) -> dict:
    """The registry's job for a newly registered version: load it here, check it, record
    ready or failed (`mlworker.validation`)."""
    from mlworker.validation import validate_version

    return {"version": version_id, "ready": validate_version(version_id)}
