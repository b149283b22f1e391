"""The worker's writes to a prediction's life: start, complete, fail, expire, requeue, and
the owner's place among their waiting jobs (MAX_QUEUED_PER_USER), freed when a job leaves
the queue and held again when it goes back.

Only model workers change a prediction after it is queued (the web creates it and then
only reads), so these writes live with the worker. Each is one statement: starting a batch
is one UPDATE … RETURNING and completing it one UPDATE … FROM (VALUES …) (PostgreSQL, the
only database the project runs on).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from classifier import queueing
from classifier.models import Prediction
from monitoring.metrics import FailureReason, count_failures

logger = logging.getLogger(__name__)


def _claimable(prediction_ids: Iterable[str]) -> QuerySet[Prediction]:
    return Prediction.objects.filter(
        id__in=list(prediction_ids),
        status__in=[Prediction.Status.QUEUED, Prediction.Status.RUNNING],
    )


#: what the worker reads of a prediction it starts (`mlworker.inference.prepare_inputs`)
_STARTED_FIELDS = ("id", "image", "status", "attempts", "started_at")


def start_predictions(*, prediction_ids: Iterable[str]) -> dict[str, Prediction]:
    """Mark predictions as running and count the attempt; return the ones still to do.

    Predictions that already finished (e.g. a retried job whose first attempt did
    complete) are left out, so no work is done twice, and so are queued ones past
    PREDICTION_DEADLINE_SECONDS (`expire_overdue_predictions` fails those). One UPDATE …
    RETURNING: one round trip instead of four (BEGIN, SELECT … FOR UPDATE, UPDATE, COMMIT);
    the UPDATE locks each row and re-checks its status itself.
    """
    ids = list(prediction_ids)
    if not ids:
        return {}
    meta = Prediction._meta
    fields = [field for field in meta.concrete_fields if field.name in _STARTED_FIELDS]
    quote = connection.ops.quote_name
    now = timezone.now()
    deadline = settings.PREDICTION_DEADLINE_SECONDS
    sql = (
        f"UPDATE {quote(meta.db_table)} SET status = %s, attempts = attempts + 1, "
        "started_at = %s WHERE id = ANY(%s::uuid[]) AND status IN (%s, %s) "
        + ("AND NOT (status = %s AND created_at < %s) " if deadline else "")
        + f"RETURNING {', '.join(quote(str(field.column)) for field in fields)}"
    )
    parameters: list[Any] = [
        Prediction.Status.RUNNING,
        now,
        ids,
        Prediction.Status.QUEUED,
        Prediction.Status.RUNNING,
    ]
    if deadline:
        parameters += [Prediction.Status.QUEUED, now - timedelta(seconds=deadline)]
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

    The whole batch is one UPDATE … FROM (VALUES …), so a batch of 16 costs one round trip
    instead of 16 (Django's bulk_update builds a CASE per row and field, twice the CPU of a
    per-row loop).
    """
    if not results:
        return
    now = timezone.now()
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


def leave_queue(connection, jobs: Iterable) -> None:
    """These RQ jobs left the queue (taken by a worker, or cancelled): their owners' places
    are free. One round trip; freeing twice is harmless."""
    pipeline = connection.pipeline(transaction=False)
    queueing.free_queue_places(
        pipeline, [(job.meta.get(queueing.OWNER_META), job.id) for job in jobs]
    )
    pipeline.execute()


def back_on_queue(connection, job) -> None:
    """RQ puts the job back on the queue (a retry): it holds its owner's place again."""
    owner_id = job.meta.get(queueing.OWNER_META)
    if owner_id is not None:
        queueing.hold_queue_place(connection, owner_id=owner_id, prediction_id=job.id)
