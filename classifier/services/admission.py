"""Whether an upload may go in: room in the queue, a free place among the user's waiting
jobs, and the user's daily quota.

Checked before anything is read or stored, in one Redis round trip that also reads which
models the live workers run (the result cache's key). The user's place is taken in that
round trip (atomically: exact under parallel uploads) for the prediction's id, and given
back unless its job is enqueued (`Admission.release`).
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NoReturn

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from redis.exceptions import RedisError

from classifier import live_models, queueing
from monitoring.metrics import Outcome, RejectReason, count_upload

logger = logging.getLogger(__name__)

#: Retry-After bounds for a full queue: at least a second, at most a minute
RETRY_AFTER_RANGE = (1, 60)
#: what a full queue's Retry-After says when no worker has measured its pace yet
RETRY_AFTER_UNKNOWN = 5
#: how long a day's quota counter is kept (past its day, for the day after midnight)
QUOTA_KEY_SECONDS = 2 * 86400


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

    def release(self) -> None:
        """Give the place back: the upload ended without a job on the queue."""
        if not self.holds_place:
            return
        self.holds_place = False
        try:
            pipeline = queueing.inference_queue().connection.pipeline(transaction=False)
            queueing.free_queue_places(pipeline, [(self.owner_id, str(self.prediction_id))])
            pipeline.execute()
        except RedisError as error:  # the place ages out with the deadline
            logger.warning("could not free a queue place of user %s: %s", self.owner_id, error)


def _quota_key(user_id, day: datetime) -> str:
    return f"imageclassifier:upload-quota:{int(user_id)}:{day:%Y%m%d}"


def check_admission(*, user) -> Admission:
    """`check_queue_room`, `check_upload_quota` and a place among the user's waiting jobs
    (`check_queued_for_user`), their reads and the place's reservation in one round trip
    together with the models live workers run (the result cache's key; none when no worker
    is live). A refused upload holds no place."""
    queue = queueing.inference_queue()
    cap = settings.MAX_QUEUED_PER_USER
    admission = Admission(owner_id=user.pk, prediction_id=uuid.uuid4(), live_model_names=[])
    try:
        pipe = queue.connection.pipeline(transaction=False)
        pipe.llen(queue.key)
        pipe.get(_quota_key(user.pk, timezone.now()))
        live_models.read_into(pipe)
        if cap:
            queueing.reserve_queue_place(
                pipe, owner_id=user.pk, prediction_id=str(admission.prediction_id), cap=cap
            )
        depth, stored, live, *reserved = pipe.execute()
    except RedisError as error:
        queue_unavailable(error)
    admission.holds_place = bool(reserved and reserved[0])
    admission.live_model_names = live_models.names_from(live)
    try:
        check_queue_room(depth=int(depth))
        check_upload_quota(user=user, stored=int(stored or 0))
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


def check_upload_quota(*, user, stored: int) -> None:
    """Refuse an upload once the user has stored UPLOAD_QUOTA_PER_DAY today (UTC).

    `stored`: the user's per-day counter in the queue's Redis (never evicted, unlike the
    cache), read by `check_admission`; it is counted up with the upload's job
    (`quota_count`), so the upload path spends no database query on it. Not atomic with
    the upload: a user's uploads in flight together at quota-1 all pass, so the quota can
    overshoot by that many (bounded by the upload rate limit).
    """
    quota = settings.UPLOAD_QUOTA_PER_DAY
    if not quota or stored < quota:
        return
    now = timezone.now()
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


def quota_count(*, user) -> queueing.Count | None:
    """The counter one stored upload adds to (None: no quota)."""
    if not settings.UPLOAD_QUOTA_PER_DAY:
        return None
    return queueing.Count(key=_quota_key(user.pk, timezone.now()), ttl=QUOTA_KEY_SECONDS)


def record_upload_for_quota(*, user) -> None:
    """Count one stored upload towards today's quota (its own round trip: no job goes with
    it, as for an answer from the result cache)."""
    count = quota_count(user=user)
    if count is None:
        return
    try:
        queueing.add_counts(queueing.inference_queue().connection, [count])
    except RedisError as error:
        logger.warning("upload not counted towards the quota, Redis unavailable: %s", error)


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
