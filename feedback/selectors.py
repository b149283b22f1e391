from django.db.models import QuerySet

from accounts.types import Requester
from classifier.models import Prediction
from feedback.models import Feedback


def feedback_visible_to(*, user: Requester) -> QuerySet[Feedback]:
    """A user's own feedback, newest first. Anonymous users see none."""
    if not user.is_authenticated:
        return Feedback.objects.none()
    return Feedback.objects.filter(user=user).select_related("prediction")


def feedback_for_prediction(*, user: Requester, prediction: Prediction) -> Feedback | None:
    return feedback_visible_to(user=user).filter(prediction=prediction).first()
