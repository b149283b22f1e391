"""Giving feedback on a prediction: one per user and prediction; sending again updates it.

Every path that stores a corrected label (the result page's form, the API, the legacy
`/feedback/` endpoint) goes through `canonicalise_label`, so the rule is written once.
"""

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext

from accounts.models import User
from classifier.models import Prediction
from feedback.labels import (
    CanonicalLabel,
    canonicalise_label,
    labels_for_prediction,
    rank_in_top,
)
from feedback.models import Feedback

__all__ = [
    "CanonicalLabel",
    "NoPrediction",
    "NotYourPrediction",
    "PredictionNotFinished",
    "canonicalise_label",
    "change_feedback",
    "give_feedback",
    "record_legacy_feedback",
]


class NotYourPrediction(PermissionError):
    pass


class PredictionNotFinished(ValueError):
    """Feedback is about an answer; a queued or failed prediction has none yet."""


class NoPrediction(ValueError):
    """Feedback from the older API may name no prediction: there is nothing to re-judge."""


def give_feedback(
    *,
    user: User,
    prediction: Prediction,
    is_correct: bool | None,
    correct_label: str = "",
    comment: str = "",
) -> tuple[Feedback, bool]:
    """Create or update the user's feedback on their own prediction; return (feedback, created).

    Callers look the prediction up through `classifier.selectors.predictions_visible_to`;
    the ownership check here is the last line of defence, not the access rule.
    """
    if prediction.owner_id != user.pk:
        raise NotYourPrediction(gettext("Feedback can only be given on your own predictions."))
    if prediction.status != prediction.Status.DONE:
        raise PredictionNotFinished(
            gettext("Feedback can be given once the prediction has an answer.")
        )
    stated = (
        CanonicalLabel("", "")
        if is_correct
        else canonicalise_label(correct_label, labels_for_prediction(prediction))
    )
    if is_correct is None:
        rank = None
    else:
        rank = 1 if is_correct else rank_in_top(stated.label, prediction.top5)
    return Feedback.objects.update_or_create(
        user=user,
        prediction=prediction,
        defaults={
            "is_correct": is_correct,
            "correct_label": stated.label,
            "other_label": stated.other,
            "correct_rank": rank,
            "comment": comment.strip(),
            "predicted_label": prediction.label,
            "score": prediction.score,
            "image_file_name": prediction.image_file_name,
        },
    )


def change_feedback(*, user: User, feedback: Feedback, changes: Mapping[str, Any]) -> Feedback:
    """Change some of the user's feedback (`is_correct`, `correct_label`, `comment`): what
    `changes` leaves out keeps its value, unlike sending the whole feedback again.

    The kept correction is the text the user stated (a class name or the other label), so it
    goes through `canonicalise_label` again with the rest.
    """
    if feedback.prediction is None:
        raise NoPrediction(
            gettext("This feedback names no prediction; it can only be sent again in full.")
        )
    updated, _ = give_feedback(
        user=user,
        prediction=feedback.prediction,
        is_correct=changes.get("is_correct", feedback.is_correct),
        correct_label=changes.get("correct_label", feedback.correct_label or feedback.other_label),
        comment=changes.get("comment", feedback.comment),
    )
    return updated


def record_legacy_feedback(
    *,
    user: User,
    prediction: Prediction | None,
    text: str,
    predicted_label: str,
    score: float | None,
    image_file_name: str,
) -> Feedback:
    """The older API's free-text feedback. Attached to the user's prediction when there is one.

    Text that is exactly a class name ("tabby", "Great white shark") is read as the correct
    label, through the same rule as the other paths: the predicted class means "right", any
    other class "wrong, it is that". Other text stays a comment, and a verdict given before
    is kept.
    """
    named = canonicalise_label(text, labels_for_prediction(prediction))
    is_correct: bool | None
    if prediction is not None:
        earlier = Feedback.objects.filter(user=user, prediction=prediction).first()
        if named.is_canonical:
            is_correct = named.label == prediction.label
            correct_label = named.label
        else:
            is_correct = earlier.is_correct if earlier else None
            correct_label = (earlier.correct_label or earlier.other_label) if earlier else ""
        feedback, _ = give_feedback(
            user=user,
            prediction=prediction,
            is_correct=is_correct,
            correct_label=correct_label,
            comment=text,
        )
        return feedback
    is_correct = (named.label == predicted_label) if named.is_canonical else None
    return Feedback.objects.create(
        user=user,
        is_correct=is_correct,
        correct_label="" if is_correct else named.label,
        comment=text.strip(),
        predicted_label=predicted_label,
        score=score,
        image_file_name=image_file_name,
    )
