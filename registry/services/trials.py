"""Put a ready version on trial beside the live one (shadow or canary) and end the trial."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from registry import selectors, spec
from registry.models import ModelEvent, ModelVersion

State = ModelVersion.State


class TrialRefused(Exception):
    """The version cannot be put on trial (not ready, a bad share, or another is on trial)."""


def start_trial(*, version: ModelVersion, trial: str, share: int, actor=None) -> ModelVersion:
    """Make a ready version the candidate: `shadow` on `share` % of uploads (its answers kept
    apart, never shown) or `canary` answering `share` % of users (sticky by a hash of the user
    id). Changing the share of the running candidate is allowed; a second candidate is not
    (the database refuses it too: `registry_one_candidate`)."""
    if trial not in (spec.SHADOW, spec.CANARY):
        raise TrialRefused(_("A trial is shadow or canary."))
    if not 0 <= share <= 100:
        raise TrialRefused(_("The share is a percentage, 0 to 100."))
    try:
        with transaction.atomic():
            target = ModelVersion.objects.select_for_update().get(pk=version.pk)
            if target.state != State.READY:
                raise TrialRefused(
                    _("%(version)s is %(state)s; only a ready version can be a candidate.")
                    % {"version": target, "state": target.get_state_display()}
                )
            other = ModelVersion.objects.exclude(trial="").exclude(pk=target.pk).first()
            if other is not None:
                raise TrialRefused(
                    _("%(version)s is the candidate already; end its trial first.")
                    % {"version": other}
                )
            target.trial, target.trial_share = trial, share
            target.trial_started_at = timezone.now()
            target.save(update_fields=["trial", "trial_share", "trial_started_at"])
            ModelEvent.objects.create(
                version=target,
                action=ModelEvent.Action.SHADOW
                if trial == spec.SHADOW
                else ModelEvent.Action.CANARY,
                actor=actor,
                detail=_("%(share)d %% of uploads") % {"share": share}
                if trial == spec.SHADOW
                else _("%(share)d %% of users") % {"share": share},
            )
            selectors.forget_live_version()
    except IntegrityError:  # another candidate was set at the same time
        raise TrialRefused(_("Another version became the candidate at the same time.")) from None
    return target


def end_trial(*, actor=None) -> ModelVersion | None:
    """End the running shadow or canary (the candidate stays ready); None if none ran."""
    with transaction.atomic():
        ended = end_trials(actor=actor, detail="")
        selectors.forget_live_version()
    return ended[0] if ended else None


def end_trials(*, actor, detail: str) -> list[ModelVersion]:
    """End every running trial, one event each (inside the caller's transaction)."""
    ended = list(ModelVersion.objects.select_for_update().exclude(trial=""))
    for version in ended:
        ModelEvent.objects.create(
            version=version,
            action=ModelEvent.Action.TRIAL_ENDED,
            actor=actor,
            detail=f"{version.get_trial_display()} {version.trial_share} %"
            + (f", {detail}" if detail else ""),
        )
    ModelVersion.objects.filter(pk__in=[v.pk for v in ended]).update(
        trial="", trial_share=0, trial_started_at=None
    )
    return ended
