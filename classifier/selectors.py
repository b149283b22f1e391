"""Reads that encode who may see what. Every query for predictions goes through here."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from django.db.models import Q, QuerySet
from redis.exceptions import RedisError

from accounts.permissions import staff_may
from accounts.types import Requester
from classifier import queueing
from classifier.models import Prediction


def predictions_visible_to(*, user: Requester) -> QuerySet[Prediction]:
    """A user's own predictions, newest first. Anonymous users see none."""
    if not user.is_authenticated:
        return Prediction.objects.none()
    return Prediction.objects.filter(owner_id=user.pk)  # the id: no read of a token's user


# Permissions (besides `classifier.view_prediction`) whose staff holders see the photos of
# answered predictions: apps that show photos to staff (the review queue, the quality
# dashboard's examples) register theirs, so this app never imports them.
_ANSWERED_IMAGE_PERMISSIONS: set[str] = set()


def let_staff_see_answered_images(*, permission: str) -> None:
    """Called from an app's `ready()`: holders of `permission` may see any answered photo."""
    _ANSWERED_IMAGE_PERMISSIONS.add(permission)


def prediction_image_visible_to(*, user: Requester, prediction_id: UUID | str) -> Prediction | None:
    """The prediction whose image the user may download: their own; any for staff who may
    view predictions (`classifier.view_prediction`, as in the admin); any answered one for
    staff holding a registered permission (they are shown those photos to judge them)."""
    if not user.is_authenticated:
        return None
    if staff_may(user, "classifier.view_prediction"):
        queryset = Prediction.objects.all()
    elif any(staff_may(user, name) for name in sorted(_ANSWERED_IMAGE_PERMISSIONS)):
        queryset = Prediction.objects.filter(Q(owner=user) | Q(status=Prediction.Status.DONE))
    else:
        queryset = Prediction.objects.filter(owner=user)
    return queryset.filter(pk=prediction_id).first()


def finished_prediction_for_image(
    *, owner_id: int, sha256: str, model_names: list[str], model_version_id: int | None = None
) -> Prediction | None:
    """The owner's own earlier successful answer for the same bytes by the same model (the
    result cache): the registry's live version when one is live, else one of the built-ins
    live workers run (`live_model_names`). Only the owner's: an answer to someone else's
    upload of the same bytes would tell this user that someone uploaded them
    (docs/RELIABILITY.md)."""
    if model_version_id is not None:
        key: dict = {"model_version_id": model_version_id}
    else:
        key = {"model_name__in": model_names, "model_version__isnull": True}
    return (
        Prediction.objects.filter(
            owner_id=owner_id, image_sha256=sha256, status=Prediction.Status.DONE, **key
        )
        .order_by("-finished_at")
        .first()
    )


def live_model_names() -> list[str]:
    """The models live workers run (as they publish them); empty when none is live or Redis
    cannot be reached."""
    try:
        return queueing.live_model_names(queueing.inference_queue().connection)
    except RedisError:
        return []


@dataclass(frozen=True)
class QueueStanding:
    """Where a pending prediction stands: `position` 1 is next, 0 is in the model now."""

    position: int
    #: seconds until its answer, from the workers' measured pace; None before any is known
    estimated_seconds: float | None
    #: the workers' pace it was estimated from (images/s), to reuse for a list's others
    rate: float | None = field(default=None, compare=False)


_READ = object()


def queue_standing(*, prediction: Prediction, rate: object = _READ) -> QueueStanding | None:
    """Approximate: the queue moves while this is read. None when finished or Redis is down.

    `rate` (images/s, `queueing.images_per_second`) may be passed in to read it once
    for many predictions.
    """
    if prediction.is_finished:
        return None
    images_per_second: float | None
    try:
        if rate is _READ:  # both in one round trip
            position, images_per_second = queueing.queue_position_and_rate(
                job_id=str(prediction.pk)
            )
        else:
            assert rate is None or isinstance(rate, int | float)
            position = queueing.queue_position(job_id=str(prediction.pk))
            images_per_second = rate
    except RedisError:
        return None
    position = position or 0  # not in the queue: taken by a worker (or about to be)
    estimate = queueing.estimated_seconds(position=max(position, 1), rate=images_per_second)
    return QueueStanding(position=position, estimated_seconds=estimate, rate=images_per_second)
