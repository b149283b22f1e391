"""Which version serves: promote one (the live one is retired), roll back to the one before,
and publish the live version's id in Redis, which is how workers notice it."""

from __future__ import annotations

import logging
from functools import partial

import django_rq
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from registry import selectors, spec
from registry.models import ModelEvent, ModelVersion
from registry.services.trials import end_trials

logger = logging.getLogger(__name__)

State = ModelVersion.State


class PromotionRefused(Exception):
    """The version cannot go live (not validated, or nothing to roll back to)."""


PROMOTABLE = (State.READY, State.RETIRED)


def promote_version(
    *, version: ModelVersion, actor=None, rolled_back: bool = False
) -> ModelVersion:
    """Make `version` the one live version (the previous one is retired).

    New uploads are answered by it within MODEL_LIVE_CHECK_SECONDS: the web and the
    workers re-read the live version at most that often; a batch already in a worker
    finishes on the version it started with.
    """
    for _attempt in range(3):
        try:
            with transaction.atomic():
                target = ModelVersion.objects.select_for_update().get(pk=version.pk)
                if target.state == State.LIVE:
                    return target
                if target.state not in PROMOTABLE:
                    raise PromotionRefused(
                        _("%(version)s is %(state)s; only a validated version can go live.")
                        % {"version": target, "state": target.get_state_display()}
                    )
                now = timezone.now()
                # A trial compares a candidate with the live version: a new live ends it.
                end_trials(actor=actor, detail=_("%(version)s went live") % {"version": target})
                target.trial, target.trial_share, target.trial_started_at = "", 0, None
                for previous in ModelVersion.objects.select_for_update().filter(state=State.LIVE):
                    previous.state = State.RETIRED
                    previous.save(update_fields=["state"])
                    ModelEvent.objects.create(
                        version=previous,
                        action=ModelEvent.Action.RETIRED,
                        actor=actor,
                        detail=_("replaced by %(version)s") % {"version": target},
                    )
                target.state = State.LIVE
                target.promoted_at = now
                target.save(
                    update_fields=[
                        "state",
                        "promoted_at",
                        "trial",
                        "trial_share",
                        "trial_started_at",
                    ]
                )
                ModelEvent.objects.create(
                    version=target,
                    action=ModelEvent.Action.ROLLED_BACK
                    if rolled_back
                    else ModelEvent.Action.PROMOTED,
                    actor=actor,
                )
                selectors.forget_live_version()  # this process sees it at once (and again
                # after the commit, below, with every worker)
                transaction.on_commit(partial(publish_live_version, version_id=target.pk))
            return target
        except IntegrityError:  # another promotion won the race: look again
            continue
    raise PromotionRefused(_("Another promotion happened at the same time; try again."))


def rollback(*, actor=None) -> ModelVersion:
    """Put back the version that was live before the current one."""
    current = ModelVersion.objects.filter(state=State.LIVE).first()
    earlier = ModelVersion.objects.filter(state=State.RETIRED, promoted_at__isnull=False)
    if current is not None and current.promoted_at is not None:
        earlier = earlier.filter(promoted_at__lt=current.promoted_at)
    previous = earlier.order_by("-promoted_at").first()
    if previous is None:
        raise PromotionRefused(_("No earlier live version to roll back to."))
    return promote_version(version=previous, actor=actor, rolled_back=True)


def publish_live_version(*, version_id: int | None) -> None:
    """Tell the workers (and this process) which version is live now."""
    selectors.forget_live_version()
    try:
        connection = django_rq.get_connection(settings.INFERENCE_QUEUE)
        connection.set(spec.LIVE_VERSION_KEY, str(version_id or spec.NO_LIVE_VERSION))
    except RedisError as error:
        # Workers also re-read the database every MODEL_LIVE_RECHECK_SECONDS.
        logger.warning("live version %s not published to Redis: %s", version_id, error)
