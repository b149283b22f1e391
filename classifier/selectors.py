"""Reads that encode who may see what. Every query for predictions goes through here."""

from django.db.models import QuerySet

from classifier.models import Prediction


def predictions_visible_to(*, user) -> QuerySet[Prediction]:
    """A user's own predictions, newest first. Anonymous users see none."""
    if not user.is_authenticated:
        return Prediction.objects.none()
    return Prediction.objects.filter(owner=user)


def prediction_image_visible_to(*, user, prediction_id) -> Prediction | None:
    """The prediction whose image the user may download: their own, or any for staff."""
    if not user.is_authenticated:
        return None
    queryset = Prediction.objects.all() if user.is_staff else Prediction.objects.filter(owner=user)
    return queryset.filter(pk=prediction_id).first()


def finished_prediction_for_image(*, sha256: str, model_name: str) -> Prediction | None:
    """Any earlier successful answer for the same bytes and model (the result cache)."""
    return (
        Prediction.objects.filter(
            image_sha256=sha256, model_name=model_name, status=Prediction.Status.DONE
        )
        .order_by("-finished_at")
        .first()
    )
