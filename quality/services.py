"""Writes: a reviewer's label for an image. Exports live in `quality.exports`."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from classifier.models import Prediction
from feedback.labels import labels_for_prediction, labels_for_version, rank_in_top
from feedback.services import canonicalise_label
from quality.models import ReviewedLabel


class NotAClassName(ValueError):
    """Reviewed labels are ground truth for training: only ImageNet class names."""


class NotReviewable(ValueError):
    pass


def review_prediction(*, reviewer, prediction: Prediction, label: str) -> tuple[str, int]:
    """Store `label` (canonicalised) as the reviewed label of every answered prediction of the
    same image bytes; return (the class name stored, how many predictions it labelled).

    The label is one of the answering version's labels, or of a shadow candidate's that
    answered the image too. Permission is checked by the caller
    (`quality.review_predictions`); the user's own feedback is left as it was.
    """
    labels = labels_for_prediction(prediction)
    named = canonicalise_label(label, labels)
    if not named.is_canonical:
        # A shadow candidate's label set is a valid answer too: reviews of its
        # disagreements are what its comparison with the live version is measured on.
        for version_id in prediction.shadow_answers.values_list("model_version_id", flat=True):
            shadow_named = canonicalise_label(label, labels_for_version(version_id))
            if shadow_named.is_canonical:
                named = shadow_named
                break
    if not named.is_canonical:
        raise NotAClassName(
            _("“%(label)s” is not one of the ImageNet class names.") % {"label": label}
            if labels.is_imagenet
            else _("“%(label)s” is not one of this model's labels.") % {"label": label}
        )
    if prediction.status != Prediction.Status.DONE:
        raise NotReviewable(_("Only answered predictions can be reviewed."))
    now = timezone.now()
    with transaction.atomic():
        same_bytes = list(
            Prediction.objects.filter(  # answered by the same model version: same labels
                image_sha256=prediction.image_sha256,
                status=Prediction.Status.DONE,
                model_version_id=prediction.model_version_id,
            ).values_list("pk", "top5")
        )
        ReviewedLabel.objects.bulk_create(
            [
                ReviewedLabel(
                    prediction_id=pk,
                    image_sha256=prediction.image_sha256,
                    label=named.label,
                    rank=rank_in_top(named.label, top5),
                    reviewer=reviewer,
                    reviewed_at=now,
                )
                for pk, top5 in same_bytes
            ],
            update_conflicts=True,
            unique_fields=["prediction"],
            update_fields=["label", "rank", "reviewer", "reviewed_at"],
        )
    return named.label, len(same_bytes)
