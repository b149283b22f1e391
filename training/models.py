"""A training run: a new head on a registry version's frozen backbone, from our own labels."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from registry.models import ModelVersion

#: the worker-host job that trains a run (TensorFlow; never imported by the web)
TRAIN_JOB = "training.jobs.train"


class TrainingRun(models.Model):
    class LabelSet(models.TextChoices):
        BASE = "base", _("The base version's labels")
        NEW = "new", _("New classes")

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    base = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    #: the registry name the trained version gets
    name = models.SlugField(max_length=60)
    label_set = models.CharField(max_length=8, choices=LabelSet.choices, default=LabelSet.BASE)
    classes = models.JSONField(default=list)
    #: [[image sha256, stored image name, label, "train" | "validation"], ...] fixed at start
    dataset = models.JSONField(default=list)
    #: images per class in each split, and the imbalance (largest / smallest)
    counts = models.JSONField(default=dict)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=200, blank=True)
    failure_reason = models.TextField(blank=True)
    #: validation accuracy, per class, confusion matrix, training curve, timings
    result = models.JSONField(default=dict, blank=True)
    version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    job_id = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("training run")
        verbose_name_plural = _("training runs")

    def __str__(self) -> str:
        return f"{self.name} from {self.base} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED, self.State.CANCELLED)
