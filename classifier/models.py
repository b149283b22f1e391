"""A prediction: one uploaded image and what the model said about it."""

import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from classifier.labels import display_label


class Prediction(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="predictions"
    )
    # Content-addressed: identical bytes share one stored file.
    image = models.FileField(max_length=255)
    image_sha256 = models.CharField(max_length=64, db_index=True)
    original_filename = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    label = models.CharField(max_length=100, blank=True)
    score = models.FloatField(null=True, blank=True)
    top5 = models.JSONField(default=list, blank=True)
    model_name = models.CharField(max_length=100)
    #: the registry version that answered (None: a worker's configured built-in, no version live)
    model_version = models.ForeignKey(
        "registry.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="predictions",
    )
    error = models.TextField(blank=True)
    cached = models.BooleanField(
        default=False, help_text="Answered from an earlier prediction of the same bytes."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["image_sha256", "model_name", "status"]),
            models.Index(fields=["image_sha256", "model_version", "status"]),
        ]
        permissions = [
            # The job queue serves predictions; its dashboard (/admin/rq/) needs this.
            ("view_queue", "Can view the job queue dashboard"),
            # Emptying, requeueing, deleting or stopping jobs loses or repeats users' work.
            ("manage_queue", "Can empty, requeue, delete and stop jobs in the queue"),
        ]

    def __str__(self) -> str:
        outcome = display_label(self.label) if self.label else self.status
        return f"{self.original_filename or self.image_sha256[:12]} → {outcome}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def wait_seconds(self) -> float | None:
        """Time spent in the queue before a worker picked it up."""
        if self.started_at is None:
            return None
        return (self.started_at - self.created_at).total_seconds()

    @property
    def run_seconds(self) -> float | None:
        """Time from a worker picking it up to the answer (its batch's decode + forward pass)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def image_file_name(self) -> str:
        """The older API's name: content hash plus the extension the client sent."""
        suffix = PurePosixPath(self.original_filename).suffix.lower()
        if not suffix or len(suffix) > 6 or not suffix[1:].isalnum():
            suffix = PurePosixPath(self.image.name).suffix
        return f"{self.image_sha256}{suffix}"


class ShadowAnswer(models.Model):
    """A shadow candidate's answer to an upload the live version answered: kept apart from
    the prediction and never shown to its user; the quality dashboard compares the two."""

    prediction = models.ForeignKey(
        Prediction, on_delete=models.CASCADE, related_name="shadow_answers"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="shadow_answers"
    )
    label = models.CharField(max_length=100)
    score = models.FloatField()
    top5 = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["prediction", "model_version"], name="classifier_one_shadow_answer"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_version_id}: {self.label}"
