"""What a user says about one of their predictions: right or wrong, and what it really is."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Feedback(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feedback"
    )
    # Null only for feedback sent through the legacy API about an image this user never
    # classified here; everything else hangs off the user's own prediction.
    prediction = models.ForeignKey(
        "classifier.Prediction",
        on_delete=models.CASCADE,
        related_name="feedback_entries",
        null=True,
        blank=True,
    )
    is_correct = models.BooleanField(null=True, help_text="Empty when the client did not say.")
    # Always one of the ImageNet class names (feedback.labels.canonicalise_label) or empty;
    # free text naming no class goes to `other_label` and is reported apart.
    correct_label = models.CharField(max_length=200, blank=True)
    other_label = models.CharField(max_length=200, blank=True)
    # Position of the true label in the prediction's top 5 (1 when the user says right),
    # empty when it is not there or unknown (feedback.labels.rank_in_top).
    correct_rank = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True, max_length=2000)
    # Snapshot of what was predicted when the feedback was given (filters, legacy clients).
    predicted_label = models.CharField(max_length=100, blank=True, db_index=True)
    score = models.FloatField(null=True, blank=True)
    image_file_name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        verbose_name_plural = "feedback"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "prediction"],
                condition=Q(prediction__isnull=False),
                name="one_feedback_per_user_and_prediction",
            )
        ]

    def __str__(self) -> str:
        if self.is_correct is None:
            verdict = "no verdict"
        elif self.is_correct:
            verdict = "correct"
        else:
            verdict = f"wrong, is {self.stated_label or '?'}"
        return f"{self.predicted_label or self.image_file_name} — {verdict}"

    @property
    def stated_label(self) -> str:
        """What the user said it really is: the class name, else their own words."""
        return self.correct_label or self.other_label
