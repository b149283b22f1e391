"""Reviewed ground truth: a staff member's label for a prediction, kept apart from user feedback.

The quality app sits above `classifier` and `feedback` and reads both; neither knows it.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from classifier.models import Prediction


class ReviewedLabel(models.Model):
    """What a reviewer says the image shows. One per prediction; a review of some bytes is
    written to every answered prediction of those bytes (the label belongs to the image)."""

    prediction = models.OneToOneField(
        Prediction, on_delete=models.CASCADE, related_name="reviewed_label"
    )
    image_sha256 = models.CharField(max_length=64, db_index=True)
    label = models.CharField(_("label"), max_length=200, help_text=_("An ImageNet class name."))
    # Where the label sits in the prediction's top 5 (1 = the model was right), else empty.
    rank = models.PositiveSmallIntegerField(null=True, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="reviewed_labels",
    )
    reviewed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-reviewed_at"]
        verbose_name = _("reviewed label")
        verbose_name_plural = _("reviewed labels")
        permissions = [
            ("view_dashboard", _("Can view the model quality dashboard")),
            ("review_predictions", _("Can review predictions and set their label")),
            ("export_dataset", _("Can export the labelled dataset")),
        ]

    def __str__(self) -> str:
        return f"{self.image_sha256[:12]} → {self.label}"


class DatasetExport(Prediction):
    """The admin's export page: answered predictions, filtered like the export command."""

    class Meta:
        proxy = True
        verbose_name = _("dataset export")
        verbose_name_plural = _("dataset export")
