"""The classification job the web enqueues, and the failure callback RQ runs for it.

`classifier.catalog.CLASSIFY_JOB` names `classify_prediction`, a `BatchJob`: the batched
worker (`run_model_worker`) imports what each job names and runs the `BatchJob`'s three
steps over many jobs at once (prepare → one forward pass → record). It is not a plain
function: a one-job-at-a-time `rqworker` is not deployed anywhere, and the model's forward
pass only pays off in batches, so calling it one by one is refused with a message that
says which worker to run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError
from redis.exceptions import RedisError

from classifier.storage import StorageUnavailable
from mlworker import candidates, inference, lifecycle
from monitoring.metrics import FailureReason

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchJob:
    """A kind of job the batched worker runs many at a time, in three steps."""

    #: (model, prediction ids) → inputs: mark running, decode (no model call)
    prepare: Callable[..., inference.PreparedInputs]
    #: (model, prepared inputs) → outcome: one forward pass
    forward: Callable[..., inference.BatchOutcome]
    #: (outcome, model name) → None: store results and per-image failures
    record: Callable[..., None]

    def __call__(self, *args, **kwargs):
        raise TypeError(
            "classification jobs run in batches: start `python manage.py run_model_worker`, "
            "not a plain rqworker"
        )


# The forward and record steps also run the registry's candidate (shadow or canary) on
# its share of the batch (`mlworker.candidates`); with no candidate they are inference's.
classify_prediction = BatchJob(
    prepare=inference.prepare_inputs,
    forward=candidates.forward,
    record=candidates.record,
)


def record_job_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ calls this when a job raises or its worker vanished (AbandonedJobError).

    RQ calls it before deciding on a retry, so `retries_left` still tells whether
    another attempt will follow.
    """
    prediction_id = job.args[0] if job.args else job.id
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
            lifecycle.requeue_prediction(prediction_id=prediction_id, message=message)
            lifecycle.back_on_queue(connection, job)
        else:
            logger.error("prediction %s failed for good: %s", prediction_id, reason)
            lifecycle.fail_prediction(
                prediction_id=prediction_id,
                message=f"Classification failed after repeated attempts ({reason}).",
                reason=metric_reason,
            )
    except (DatabaseError, RedisError) as error:
        # Raising here would stop RQ's registry cleanup (and the worker) mid-way; the
        # recovery sweep (mlworker.recovery) settles the prediction once the database is back.
        logger.warning("prediction %s: could not record the failure: %s", prediction_id, error)


def validate_model_version(version_id: int) -> dict:
    """The registry's job for a newly registered version: load it here, check it, record
    ready or failed (`mlworker.validation`)."""
    from mlworker.validation import validate_version

    return {"version": version_id, "ready": validate_version(version_id)}
