"""Giving feedback on a prediction: one per user and prediction; sending again updates it."""

from feedback.models import Feedback


class NotYourPrediction(PermissionError):
    pass


class PredictionNotFinished(ValueError):
    """Feedback is about an answer; a queued or failed prediction has none yet."""


def give_feedback(
    *,
    user,
    prediction,
    is_correct: bool | None,
    correct_label: str = "",
    comment: str = "",
) -> tuple[Feedback, bool]:
    """Create or update the user's feedback on their own prediction; return (feedback, created).

    Callers look the prediction up through `classifier.selectors.predictions_visible_to`;
    the ownership check here is the last line of defence, not the access rule.
    """
    if prediction.owner_id != user.pk:
        raise NotYourPrediction("Feedback can only be given on your own predictions.")
    if prediction.status != prediction.Status.DONE:
        raise PredictionNotFinished("Feedback can be given once the prediction has an answer.")
    return Feedback.objects.update_or_create(
        user=user,
        prediction=prediction,
        defaults={
            "is_correct": is_correct,
            "correct_label": "" if is_correct else correct_label.strip(),
            "comment": comment.strip(),
            "predicted_label": prediction.label,
            "score": prediction.score,
            "image_file_name": prediction.image_file_name,
        },
    )


def record_legacy_feedback(
    *, user, prediction, text: str, predicted_label: str, score: float | None, image_file_name: str
) -> Feedback:
    """The older API's free-text feedback. Attached to the user's prediction when there is one."""
    if prediction is not None:
        earlier = Feedback.objects.filter(user=user, prediction=prediction).first()
        feedback, _ = give_feedback(
            user=user,
            prediction=prediction,
            is_correct=earlier.is_correct if earlier else None,  # keep a verdict given before
            correct_label=earlier.correct_label if earlier else "",
            comment=text,
        )
        return feedback
    return Feedback.objects.create(
        user=user,
        comment=text.strip(),
        predicted_label=predicted_label,
        score=score,
        image_file_name=image_file_name,
    )
