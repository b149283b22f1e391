"""Reads for the review queue: which images are worth a reviewer's time, in which order.

The order is active learning's: a review teaches the next model most where the models
disagree or the live one is unsure. So images where the shadow candidate's top label
differs from the answer the user got come first, then the least confident answers
(lowest top score first), then the newest. docs/QUALITY.md states the rule.
"""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Window,
)
from django.db.models.functions import RowNumber

from classifier.models import Prediction, ShadowAnswer
from feedback.models import Feedback

LOW_CONFIDENCE = 0.25
REVIEW_REASONS = ("disagree", "wrong", "conflict", "low")


def conflicting_images() -> QuerySet:
    """SHA-256 of images that several users judged differently (one says right, another wrong,
    or they name different classes)."""
    return (
        Feedback.objects.filter(prediction__status=Prediction.Status.DONE)
        .values("prediction__image_sha256")
        .annotate(
            users=Count("user", distinct=True),
            right=Count("id", filter=Q(is_correct=True)),
            wrong=Count("id", filter=Q(is_correct=False)),
            labels=Count("correct_label", distinct=True, filter=~Q(correct_label="")),
        )
        .filter(Q(users__gte=2) & ((Q(right__gt=0) & Q(wrong__gt=0)) | Q(labels__gte=2)))
        .values("prediction__image_sha256")
    )


def shadow_disagrees() -> Exists:
    """A shadow candidate's top label differs from the one the prediction answered."""
    return Exists(
        ShadowAnswer.objects.filter(prediction=OuterRef("pk")).exclude(label=OuterRef("label"))
    )


def review_queue(*, reason: str = "", low_confidence: float = LOW_CONFIDENCE) -> QuerySet:
    """Images worth a look, one entry each (its newest answered, unreviewed prediction), with
    why: the shadow candidate disagrees, a user said wrong, users disagree about the bytes,
    or the model was unsure. Disagreements first, then lowest confidence, then newest. A
    review labels every prediction of the image.

    Runs one query (the conflicting images) when called; the queryset adds its own."""
    # The conflicting images are read once (a short list: images several users judged
    # differently), so neither the count nor the page re-aggregates all feedback per row.
    said_wrong = Q(
        image_sha256__in=Feedback.objects.filter(
            is_correct=False, prediction__status=Prediction.Status.DONE
        ).values("prediction__image_sha256")
    )
    conflict = Q(
        image_sha256__in=list(
            conflicting_images().values_list("prediction__image_sha256", flat=True)
        )
    )
    low = Q(score__lt=low_confidence)
    disagree = Q(shadow_disagrees())
    wanted = {"disagree": disagree, "wrong": said_wrong, "conflict": conflict, "low": low}
    candidates = Prediction.objects.filter(
        wanted[reason] if reason in wanted else reduce(or_, wanted.values()),
        status=Prediction.Status.DONE,
        reviewed_label__isnull=True,
    )
    newest_per_image = (
        candidates.annotate(
            newest=Window(
                RowNumber(),
                partition_by=[F("image_sha256")],
                order_by=[F("created_at").desc(), F("pk").desc()],
            )
        )
        .filter(newest=1)
        .values("pk")
    )
    return (
        Prediction.objects.filter(pk__in=newest_per_image)
        .annotate(
            disagree=shadow_disagrees(),
            said_wrong=ExpressionWrapper(said_wrong, output_field=BooleanField()),
            conflict=ExpressionWrapper(conflict, output_field=BooleanField()),
        )
        .select_related("owner")
        .prefetch_related("feedback_entries", "shadow_answers__model_version")
        .order_by(F("disagree").desc(), F("score").asc(nulls_last=True), "-created_at", "-pk")
    )


def feedback_on_same_images(predictions) -> dict[str, list[Feedback]]:
    """Everyone's feedback on these predictions' bytes, by SHA-256 (for conflicts). One query."""
    shas = {prediction.image_sha256 for prediction in predictions}
    grouped: dict[str, list[Feedback]] = {sha: [] for sha in shas}
    for entry in (
        Feedback.objects.filter(prediction__image_sha256__in=shas)
        .select_related("user", "prediction")
        .order_by("created_at")
    ):
        if entry.prediction is not None:
            grouped[entry.prediction.image_sha256].append(entry)
    return grouped
