"""A version's validation: queue the worker's check, check a failed version again, and
record the worker's verdict (ready, or failed with a reason)."""

from __future__ import annotations

import logging

import django_rq
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from registry import spec
from registry.models import ModelEvent, ModelVersion
from registry.services.serving import PromotionRefused

logger = logging.getLogger(__name__)

State = ModelVersion.State


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
