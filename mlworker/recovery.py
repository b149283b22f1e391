"""Find predictions the database calls pending whose job Redis no longer has pending.

RQ carries a job over its worker's death (the StartedJobRegistry lease, then a retry),
but not over Redis losing its data (a restart without persistence), and a job RQ gives
up on outside its failure callback (stuck in the intermediate queue; a callback that
could not reach the database) never updates its prediction. Workers run this sweep as
part of their maintenance: each such prediction is queued again while it has attempts
left, else marked failed with a message. So nothing stays queued or running forever.
Predictions still waiting past PREDICTION_DEADLINE_SECONDS are failed as expired here too,
and their jobs taken off the queue.

One worker sweeps per `grace_seconds` (a Redis lock), and only predictions older than
that, so a prediction between its row being written and its job being enqueued is never
taken for lost.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from rq.exceptions import InvalidJobOperation
from rq.job import Job, JobStatus

from classifier import queueing
from classifier.models import Prediction
from mlworker import lifecycle
from monitoring.metrics import FailureReason

logger = logging.getLogger(__name__)

LOCK_KEY = "mlworker:recovery-sweep"
#: the job will still run (or is running): leave its prediction alone
LIVE_JOB_STATUSES = {
    JobStatus.QUEUED,
    JobStatus.STARTED,
    JobStatus.SCHEDULED,
    JobStatus.DEFERRED,
}
CANCELLED_JOB_STATUSES = {JobStatus.CANCELED, JobStatus.STOPPED}
LOST_MESSAGE = "Classification failed after repeated attempts (its job was lost)."
CANCELLED_MESSAGE = "Classification was cancelled by an operator."


def sweep_lost_predictions(queue, *, grace_seconds: int, limit: int = 200) -> dict[str, int]:
    """Requeue or fail pending predictions without a live job; return what was done."""
    connection = queue.connection
    if not connection.set(LOCK_KEY, "1", nx=True, ex=max(int(grace_seconds), 1)):
        return {}  # another worker swept recently
    try:
        return _sweep(queue, grace_seconds=grace_seconds, limit=limit)
    except DatabaseError as error:
        logger.warning("recovery sweep skipped, database unavailable: %s", error)
        return {}


def _sweep(queue, *, grace_seconds: int, limit: int) -> dict[str, int]:
    now = timezone.now()
    deadline = settings.PREDICTION_DEADLINE_SECONDS
    # Past the deadline a prediction is expired whatever its job is doing (unless running),
    # so look that far back even when the deadline is shorter than the grace period.
    lookback = min(grace_seconds, deadline) if deadline else grace_seconds
    pending = list(
        Prediction.objects.filter(
            status__in=[Prediction.Status.QUEUED, Prediction.Status.RUNNING],
            created_at__lt=now - timedelta(seconds=lookback),
        )
        .order_by("created_at")
        .values_list("id", "attempts", "created_at", "owner_id")[:limit]
    )
    if not pending:
        return {}
    with queue.connection.pipeline() as pipeline:
        for prediction_id, *_ in pending:
            pipeline.hget(Job.key_for(str(prediction_id)), "status")
        job_statuses = pipeline.execute()
    done = {"requeued": 0, "failed": 0, "expired": 0}
    grace_cutoff = now - timedelta(seconds=grace_seconds)
    for (prediction_id, attempts, created_at, owner_id), raw_status in zip(
        pending, job_statuses, strict=True
    ):
        status = raw_status.decode() if raw_status else None
        prediction_id = str(prediction_id)
        if status != JobStatus.STARTED and lifecycle.is_past_deadline(created_at, now=now):
            # Waiting (or lost) past its deadline: fail it, and take its job off the queue
            # so the backlog shrinks now rather than one batch at a time.
            if lifecycle.fail_prediction(
                prediction_id=prediction_id,
                message=lifecycle.expired_message(),
                reason=FailureReason.EXPIRED,
            ):
                done["expired"] += 1
                if status in LIVE_JOB_STATUSES:
                    _cancel_job(queue, prediction_id)
            continue
        if status in LIVE_JOB_STATUSES or created_at >= grace_cutoff:
            continue
        if status in CANCELLED_JOB_STATUSES:
            lifecycle.fail_prediction(
                prediction_id=prediction_id,
                message=CANCELLED_MESSAGE,
                reason=FailureReason.CANCELLED,
            )
            done["failed"] += 1
            continue
        attempts_left = settings.PREDICTION_MAX_ATTEMPTS - attempts
        if attempts_left <= 0:
            logger.error("prediction %s: job %s and no attempts left", prediction_id, status)
            lifecycle.fail_prediction(
                prediction_id=prediction_id, message=LOST_MESSAGE, reason=FailureReason.JOB_LOST
            )
            done["failed"] += 1
            continue
        reason = "its job was lost" if status is None else "its last attempt was not recorded"
        message = f"Retrying: {reason}."
        if not lifecycle.requeue_prediction(prediction_id=prediction_id, message=message):
            continue  # it finished between our two reads
        logger.warning("prediction %s: job %s, queued again", prediction_id, status or "lost")
        queue.failed_job_registry.remove(prediction_id)
        queueing.enqueue_prediction(
            prediction_id=prediction_id, owner_id=owner_id, attempts=attempts_left
        )
        done["requeued"] += 1
    if done["expired"]:
        logger.warning("recovery sweep: %d predictions expired in the queue", done["expired"])
    return done


def _cancel_job(queue, job_id: str) -> None:
    """Off the queue, into RQ's canceled registry (the dashboard shows why it never ran)."""
    job = queue.fetch_job(job_id)
    if job is not None:
        # Already cancelled meanwhile: fine. (Taken by a worker meanwhile: it finds the
        # prediction failed and skips it.)
        with suppress(InvalidJobOperation):
            job.cancel()
        lifecycle.leave_queue(queue.connection, [job])
