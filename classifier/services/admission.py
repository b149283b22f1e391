"""Whether an upload may go in: room in the queue, a free place among the user's waiting
jobs, and the user's daily quota.

Checked before anything is read or stored, in one Redis round trip that also reads which
models the live workers run (the result cache's key). The user's place among waiting jobs
and a slot of the daily quota are taken in that round trip, each by its own script
(atomically: exact under parallel uploads), for the prediction's id. Both are given back
when the upload stores nothing (`Admission.release`); the quota slot stays once the
prediction is stored (`Admission.keep_quota_slot`), the place once its job is enqueued.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from redis.exceptions import RedisError

from accounts import slots
from classifier import queueing
from monitoring.metrics import Outcome, RejectReason, count_upload

logger = logging.getLogger(__name__)

#: Retry-After bounds for a full queue: at least a second, at most a minute
RETRY_AFTER_RANGE = (1, 60)
#: what a full queue's Retry-After says when no worker has measured its pace yet
RETRY_AFTER_UNKNOWN = 5


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
    """The user has stored (or is storing) UPLOAD_QUOTA_PER_DAY uploads today (UTC);
    nothing was read or stored. `retry_after`: seconds until midnight UTC."""

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class TooManyWaiting(UploadQuotaExceeded):
    """The user already has MAX_QUEUED_PER_USER jobs waiting in the queue; nothing was read
    or stored (a 429, like the quota: it is this user's own limit)."""


@dataclass
class Admission:
    """An upload let in: the id its prediction must have (its place in the user's waiting
    jobs is held under it) and the models live workers run."""

    owner_id: int
    prediction_id: uuid.UUID
    live_model_names: list[str]
    holds_place: bool = field(default=False)
    #: the upload's slot of today's quota (None: no quota, or already kept or given back)
    quota_slot: slots.Reservation | None = field(default=None)

    def keep_quota_slot(self) -> None:
        """The prediction is stored: its slot counts against the quota until midnight."""
        self.quota_slot = None

    def release(self) -> None:
        """Give back what the upload still holds: it ended without storing a prediction
        (the quota slot) or without a job on the queue (the place). One round trip."""
        place, quota_slot = self.holds_place, self.quota_slot
        self.holds_place, self.quota_slot = False, None
        if not place and not (quota_slot and quota_slot.keys):
            return
        try:
            pipeline = queueing.inference_queue().connection.pipeline(transaction=False)
            if place:
                places = [(self.owner_id, str(self.prediction_id))]
                queueing.free_queue_places(pipeline, places)
            if quota_slot:
                quota_slot.release(pipeline)
            pipeline.execute()
        except RedisError as error:  # the place ages out with the deadline, the slot at midnight
            logger.warning("could not give back user %s's admission: %s", self.owner_id, error)


def _quota_key(user_id, day: datetime) -> str:
    return f"imageclassifier:upload-quota:{int(user_id)}:{day:%Y%m%d}"


def check_admission(*, user) -> Admission:
    """`check_queue_room`, a slot of the daily quota (`quota_limit`) and a place among the
    user's waiting jobs, taken in one round trip together with the models live workers run
    (the result cache's key; none when no worker is live). A refused upload holds nothing."""
    queue = queueing.inference_queue()
    cap = settings.MAX_QUEUED_PER_USER
    quota = quota_limit(user_id=user.pk)
    admission = Admission(owner_id=user.pk, prediction_id=uuid.uuid4(), live_model_names=[])
    token = str(admission.prediction_id)
    try:
        pipe = queue.connection.pipeline(transaction=False)
        pipe.llen(queue.key)
        queueing.read_live_models_into(pipe)
        if quota:
            slots.queue_reserve(pipe, [quota], token=token)
        if cap:
            queueing.reserve_queue_place(pipe, owner_id=user.pk, prediction_id=token, cap=cap)
        depth, live, *answers = pipe.execute()
    except RedisError as error:
        queue_unavailable(error)
    if quota:
        admission.quota_slot = slots.reservation_from(
            answers.pop(0), connection=queue.connection, limits=[quota], token=token
        )
    admission.holds_place = bool(cap and answers.pop(0))
    admission.live_model_names = queueing.live_model_names_from(live)
    try:
        check_queue_room(depth=int(depth))
        if admission.quota_slot and not admission.quota_slot.granted:
            refuse_upload_quota()
        if cap and not admission.holds_place:
            refuse_too_many_waiting(cap)
    except Exception:
        admission.release()
        raise
    return admission


def refuse_too_many_waiting(cap: int) -> NoReturn:
    retry_after = _retry_after(cap)
    count_upload(Outcome.REJECTED, RejectReason.QUOTA_EXCEEDED)
    raise TooManyWaiting(
        ngettext(
            "You already have %(count)d photo waiting to be classified. Upload more once "
            "it has been; try again in %(seconds)d seconds.",
            "You already have %(count)d photos waiting to be classified. Upload more once "
            "some have been; try again in %(seconds)d seconds.",
            cap,
        )
        % {"count": cap, "seconds": retry_after},
        retry_after=retry_after,
    )


def quota_limit(*, user_id) -> slots.Limit | None:
    """The user's UPLOAD_QUOTA_PER_DAY for today (UTC) as counted slots (None: no quota).

    One slot per upload stored or being stored, in the queue's Redis (never evicted, unlike
    the cache), so the upload path spends no database query on it. `check_admission` takes
    the slot atomically with the check, so parallel uploads never get past the quota; an
    upload that stores nothing gives its slot back. A slot lasts until midnight UTC, when
    the day's key goes too. A web process killed mid-upload leaves its slot counted until
    then: the quota may count one upload too many for it, never one too few.
    """
    quota = settings.UPLOAD_QUOTA_PER_DAY
    if not quota:
        return None
    now = timezone.now()
    return slots.Limit(
        key=_quota_key(user_id, now), count=quota, seconds=_until_midnight(now).total_seconds()
    )


def _until_midnight(now: datetime) -> timedelta:
    today = now.astimezone(UTC)
    midnight = (today + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - today


def refuse_upload_quota() -> NoReturn:
    """Refuse an upload: the user's UPLOAD_QUOTA_PER_DAY slots for today are all taken."""
    quota = settings.UPLOAD_QUOTA_PER_DAY
    retry_after = max(1, math.ceil(_until_midnight(timezone.now()).total_seconds()))
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


def queue_unavailable(error: RedisError) -> NoReturn:
    count_upload(Outcome.REJECTED, RejectReason.QUEUE_UNAVAILABLE)
    logger.warning("queue unavailable, upload rejected: %s", error)
    raise QueueUnavailable(
        _("The classification queue is unavailable. Try again shortly.")
    ) from None


def check_queue_room(*, depth: int) -> None:
    """Refuse an upload at once when the queue is full, before anything is read or stored.

    `depth` is read by `check_admission`, not atomically with the enqueue that follows:
    uploads arriving together at depth cap-1 all pass, so the queue can overshoot the cap
    by the number of uploads in flight at that moment (at most the web's thread count).
    The cap is a guard against unbounded growth, not an exact quota, so that is accepted.
    """
    cap = settings.MAX_QUEUE_DEPTH
    if not cap or depth < cap:
        return
    retry_after = _retry_after(depth / 10)
    count_upload(Outcome.REJECTED, RejectReason.QUEUE_FULL)
    raise QueueFull(
        _(
            "The service is busy: %(depth)d images are waiting to be classified. "
            "Nothing was stored; try again in %(seconds)d seconds."
        )
        % {"depth": depth, "seconds": retry_after},
        retry_after=retry_after,
    )


def _retry_after(images: float) -> int:
    """Time for the workers to get through `images` (a tenth of a full queue; a user's
    waiting jobs), from their measured pace."""
    try:
        rate = queueing.images_per_second()
    except RedisError:
        rate = None
    if not rate:
        return RETRY_AFTER_UNKNOWN
    low, high = RETRY_AFTER_RANGE
    return max(low, min(high, math.ceil(images / rate)))
