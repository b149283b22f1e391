"""A model version (one file, its labels and preprocessing) and who did what to it, when."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from registry import spec


class ModelVersion(models.Model):
    class Format(models.TextChoices):
        KERAS = spec.KERAS, "Keras (.keras)"
        H5 = spec.H5, "Keras HDF5 (.h5)"
        SAVEDMODEL = spec.SAVEDMODEL, "TensorFlow SavedModel (zipped)"
        ONNX = spec.ONNX, "ONNX"
        BUILTIN = spec.BUILTIN, _("Built-in")

    class Trial(models.TextChoices):
        NONE = "", _("None")
        SHADOW = spec.SHADOW, _("Shadow")
        CANARY = spec.CANARY, _("Canary")

    class State(models.TextChoices):
        VALIDATING = "validating", _("Validating")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")
        LIVE = "live", _("Live")
        RETIRED = "retired", _("Retired")

    name = models.SlugField(max_length=60)
    version = models.PositiveIntegerField()
    format = models.CharField(max_length=12, choices=Format.choices)
    #: for built-ins: the worker's model key (`classifier.catalog.MODEL_KEYS`)
    builtin_key = models.CharField(max_length=40, blank=True)
    #: the file in the configured storage (any host's worker fetches it from there)
    weights = models.FileField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    labels = models.JSONField(default=list)
    input_height = models.PositiveSmallIntegerField(default=224)
    input_width = models.PositiveSmallIntegerField(default=224)
    preprocessing = models.CharField(
        max_length=12, choices=[(key, key) for key in spec.PRESETS], default="unit"
    )
    #: per channel, for `meanstd` only
    mean = models.JSONField(null=True, blank=True)
    std = models.JSONField(null=True, blank=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.VALIDATING)
    failure_reason = models.TextField(blank=True)
    #: what validation measured (sample top-1s, output kind, runtime agreement)
    report = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    #: the candidate's trial beside the live version: shadow (a share of uploads, answers kept
    #: apart) or canary (a share of users answered by it); empty for every other version
    trial = models.CharField(max_length=8, choices=Trial.choices, blank=True, default="")
    #: percent of uploads (shadow) or of users (canary), 0–100
    trial_share = models.PositiveSmallIntegerField(default=0)
    trial_started_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="registry_name_version"),
            # Exactly one live version at most: the database refuses a second.
            models.UniqueConstraint(
                fields=["state"], condition=Q(state="live"), name="registry_one_live_version"
            ),
            # One candidate at a time: a candidate is ready (below), and one ready row at most
            # has a trial.
            models.UniqueConstraint(
                fields=["state"], condition=~Q(trial=""), name="registry_one_candidate"
            ),
            models.CheckConstraint(
                condition=Q(trial="") | Q(state="ready"), name="registry_candidate_is_ready"
            ),
            models.CheckConstraint(
                condition=Q(trial_share__lte=100), name="registry_trial_share_percent"
            ),
        ]
        permissions = [("promote_modelversion", "Can promote and roll back model versions")]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def input_size(self) -> tuple[int, int]:
        return (self.input_height, self.input_width)


class ModelEvent(models.Model):
    """One line of a version's history: registered, validated, failed, promoted, retired, its
    shadow or canary trial started or ended."""

    class Action(models.TextChoices):
        REGISTERED = "registered", _("Registered")
        VALIDATED = "validated", _("Validated")
        FAILED = "failed", _("Failed validation")
        PROMOTED = "promoted", _("Promoted")
        ROLLED_BACK = "rolled_back", _("Rolled back to")
        RETIRED = "retired", _("Retired")
        SHADOW = "shadow", _("Shadow started")
        CANARY = "canary", _("Canary started")
        TRIAL_ENDED = "trial_ended", _("Trial ended")

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=12, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    detail = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.version} {self.action}"
