"""Reads comparing a candidate version with the live one: shadow and canary.

Shadow, on the same images: each `ShadowAnswer` sits beside the answer the user got, so
agreement is "same top label", and accuracy against reviewed labels is measured for both
on exactly the images that have both answers and a review. Canary, on different users:
accuracy from users' verdicts per version (predictions record the version that answered).
Every rate carries a Wilson 95 % interval; the verdict on a pair is `stats.Difference`'s
(the 95 % interval of the difference above zero, below zero, or across it).

Figures are grouped by version, never by trial, so a version's history stays visible
after a promotion or a roll back ends its trial. A fixed number of queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Q
from django.utils.translation import gettext as _

from classifier.models import Prediction, ShadowAnswer
from quality.selectors import Period, answered_predictions, verdict_counts
from quality.stats import BETTER, WORSE, Difference, Proportion
from registry.models import ModelVersion
from registry.selectors import candidate_in_database


def _names(version_ids) -> dict[int | None, str]:
    names: dict[int | None, str] = {None: _("built-in (no live version)")}
    for version in ModelVersion.objects.filter(pk__in=[pk for pk in version_ids if pk]):
        names[version.pk] = version.display_name
    return names


@dataclass
class ShadowComparison:
    """A shadow candidate against the version that answered the same uploads."""

    candidate_id: int
    candidate: str
    live_id: int | None
    live: str
    images: int
    #: share of images where both gave the same top label
    agreement: Proportion
    #: against reviewed labels, on the images with both answers and a review
    candidate_accuracy: Proportion
    live_accuracy: Proportion
    difference: Difference | None
    sentence: str


def shadow_comparisons(period: Period) -> list[ShadowComparison]:
    """Per (candidate, live) pair with shadow answers to uploads made in the period. One query
    for the counts, one for the names."""
    reviewed = "prediction__reviewed_label"
    rows = list(
        ShadowAnswer.objects.filter(
            prediction__status=Prediction.Status.DONE,
            prediction__created_at__gte=period.start,
            prediction__created_at__lt=period.end,
        )
        .values("model_version", "prediction__model_version")
        .annotate(
            images=Count("id"),
            agree=Count("id", filter=Q(label=F("prediction__label"))),
            reviewed=Count(reviewed),
            candidate_right=Count(reviewed, filter=Q(**{f"{reviewed}__label": F("label")})),
            live_right=Count(reviewed, filter=Q(**{f"{reviewed}__label": F("prediction__label")})),
        )
        .order_by("-model_version", "prediction__model_version")
    )
    names = _names(
        {row["model_version"] for row in rows} | {row["prediction__model_version"] for row in rows}
    )
    comparisons = []
    for row in rows:
        candidate_accuracy = Proportion.of(row["candidate_right"], row["reviewed"])
        live_accuracy = Proportion.of(row["live_right"], row["reviewed"])
        difference = Difference.of(candidate_accuracy, live_accuracy)
        candidate, live = names[row["model_version"]], names[row["prediction__model_version"]]
        comparisons.append(
            ShadowComparison(
                candidate_id=row["model_version"],
                candidate=candidate,
                live_id=row["prediction__model_version"],
                live=live,
                images=row["images"],
                agreement=Proportion.of(row["agree"], row["images"]),
                candidate_accuracy=candidate_accuracy,
                live_accuracy=live_accuracy,
                difference=difference,
                sentence=verdict_sentence(candidate, live, difference, evidence=_("reviews")),
            )
        )
    return comparisons


@dataclass
class VersionAccuracy:
    version_id: int | None
    version: str
    predictions: int
    #: users' verdicts on its answers (right / all verdicts)
    accuracy: Proportion


def accuracy_by_version(period: Period) -> list[VersionAccuracy]:
    """Accuracy from users' verdicts per version that answered in the period (retired and
    candidate versions included)."""
    counts: Any = (  # (the stubs do not see verdict_counts()'s keys)
        answered_predictions(period, by_model=False)
        .values("model_version")
        .annotate(predictions=Count("id"), **verdict_counts())
        .order_by("-model_version")
    )
    rows: list[dict[str, Any]] = list(counts)
    names = _names(row["model_version"] for row in rows)
    return [
        VersionAccuracy(
            version_id=row["model_version"],
            version=names[row["model_version"]],
            predictions=row["predictions"],
            accuracy=Proportion.of(row["correct"], row["feedback"]),
        )
        for row in rows
    ]


@dataclass
class CanaryComparison:
    """A version against the one it would replace, by users' verdicts."""

    candidate: VersionAccuracy
    baseline: VersionAccuracy
    #: "canary" while the candidate is on trial; "promoted" for the live version against
    #: the one live before it
    kind: str
    difference: Difference | None
    sentence: str


def canary_comparison(period: Period, versions: list[VersionAccuracy]) -> CanaryComparison | None:
    """The canary candidate against the live version; with no canary running, the live
    version against the one live before it (how the last promotion turned out)."""
    trial = candidate_in_database()
    live = ModelVersion.objects.filter(state=ModelVersion.State.LIVE).first()
    if trial is not None and trial.trial == "canary":
        pair, kind = (trial.id, live.pk if live else None), "canary"
    elif live is not None:
        before = ModelVersion.objects.filter(
            state=ModelVersion.State.RETIRED, promoted_at__lt=live.promoted_at
        ).order_by("-promoted_at")
        previous = before.values_list("pk", flat=True).first()
        if previous is None:
            return None
        pair, kind = (live.pk, previous), "promoted"
    else:
        return None
    by_id = {row.version_id: row for row in versions}
    names = _names(pair)
    candidate, baseline = (
        by_id.get(pk) or VersionAccuracy(pk, names[pk], 0, Proportion.of(0, 0)) for pk in pair
    )
    difference = Difference.of(candidate.accuracy, baseline.accuracy)
    return CanaryComparison(
        candidate=candidate,
        baseline=baseline,
        kind=kind,
        difference=difference,
        sentence=verdict_sentence(
            candidate.version, baseline.version, difference, evidence=_("feedback")
        ),
    )


def verdict_sentence(
    candidate: str, baseline: str, difference: Difference | None, *, evidence: str
) -> str:
    """The verdict in words (the rule: `stats.Difference.verdict`)."""
    if difference is None:
        return _("Not enough %(evidence)s yet to compare %(candidate)s with %(baseline)s.") % {
            "evidence": evidence,
            "candidate": candidate,
            "baseline": baseline,
        }
    figures: dict[str, str | float] = {
        "candidate": candidate,
        "baseline": baseline,
        "low": 100 * difference.low,
        "high": 100 * difference.high,
        "neg_high": -100 * difference.high,
        "neg_low": -100 * difference.low,
    }
    if difference.verdict == BETTER:
        return (
            _(
                "%(candidate)s is more accurate than %(baseline)s at 95 %% confidence "
                "(by %(low).1f to %(high).1f points)."
            )
            % figures
        )
    if difference.verdict == WORSE:
        return (
            _(
                "%(candidate)s is less accurate than %(baseline)s at 95 %% confidence "
                "(by %(neg_high).1f to %(neg_low).1f points)."
            )
            % figures
        )
    return (
        _(
            "%(candidate)s and %(baseline)s are not yet distinguishable at 95 %% confidence "
            "(difference %(low)+.1f to %(high)+.1f points)."
        )
        % figures
    )


@dataclass
class Trials:
    """The dashboard's candidate section."""

    period: Period
    candidate: str
    shadow: list[ShadowComparison]
    versions: list[VersionAccuracy]
    canary: CanaryComparison | None


def trials(period: Period) -> Trials:
    versions = accuracy_by_version(period)
    trial = candidate_in_database()
    running = (
        _("%(version)s: %(trial)s on %(share)d %%")
        % {"version": trial.display_name, "trial": trial.trial, "share": trial.share}
        if trial is not None
        else ""
    )
    return Trials(
        period=period,
        candidate=running,
        shadow=shadow_comparisons(period),
        versions=versions,
        canary=canary_comparison(period, versions),
    )
