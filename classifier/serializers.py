from __future__ import annotations

from collections.abc import Callable
from functools import cache
from operator import attrgetter, itemgetter
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.relations import PKOnlyObject

from classifier import selectors
from classifier.labels import display_label
from classifier.models import Prediction


class DisplayLabelField(serializers.CharField):
    """A class name as people read it (`tiger_cat` → `tiger cat`), beside the raw one that
    clients match on: the pages' own `display_label`."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        kwargs.setdefault(
            "help_text", "The label as people read it (underscores as spaces), for display."
        )
        super().__init__(**kwargs)

    def to_representation(self, value) -> str:
        return display_label(str(value))


class LabelScoreSerializer(serializers.Serializer):
    label = serializers.CharField()
    label_display = DisplayLabelField(source="label")
    score = serializers.FloatField()


# --- A fast path derived from the declared fields --------------------------------------------
Step = tuple[str, Callable[[serializers.Serializer, Any], Any]]


def _reader(field: serializers.Field, *, from_mapping: bool) -> Callable[[Any], Any]:
    """How a field finds its value: a plain lookup for a one-step source (a key in a nested
    JSON entry, an attribute or property of the model); DRF's own `get_attribute` for
    anything else (dotted sources, related fields and their pk-only wrapper)."""
    if len(field.source_attrs) == 1 and not isinstance(field, serializers.RelatedField):
        (source,) = field.source_attrs
        return itemgetter(source) if from_mapping else attrgetter(source)
    return field.get_attribute


def _step(field: serializers.Field, *, from_mapping: bool = False) -> Step:
    """How one declared field turns a value into JSON: its value as DRF finds it, through
    the field's own `to_representation`; nested serializers by the same rule;
    `SerializerMethodField`s through the serializer at hand."""
    name = field.field_name
    if isinstance(field, serializers.SerializerMethodField):
        method_name = field.method_name
        return name, lambda serializer, instance: getattr(serializer, method_name)(instance)
    read = _reader(field, from_mapping=from_mapping)
    if isinstance(field, serializers.ListSerializer):
        child_steps = _steps_of(field.child, from_mapping=True)  # top5: JSON entries

        def many(serializer, instance):
            items = read(instance)
            if items is None:
                return None
            return [{key: make(serializer, item) for key, make in child_steps} for item in items]

        return name, many
    if isinstance(field, serializers.BaseSerializer):
        raise TypeError(f"{name}: only lists of nested serializers have a fast path")
    convert = field.to_representation
    if isinstance(field, serializers.RelatedField):

        def related(serializer, instance):
            value = read(instance)
            # DRF's pk-only optimisation wraps the key; an empty relation is None.
            empty = (value.pk if isinstance(value, PKOnlyObject) else value) is None
            return None if empty else convert(value)

        return name, related

    def plain(serializer, instance):
        value = read(instance)
        return None if value is None else convert(value)

    return name, plain


def _steps_of(
    serializer: serializers.Serializer, *, from_mapping: bool = False
) -> tuple[Step, ...]:
    return tuple(_step(field, from_mapping=from_mapping) for field in serializer._readable_fields)


@cache
def _plan(serializer_class: type[serializers.Serializer]) -> tuple[Step, ...]:
    """Built once per class from a prototype's fields: building a ModelSerializer's fields
    (model introspection, a deep copy) for every serializer instance is what made DRF's
    generic path cost ~2 ms per answer."""
    return _steps_of(serializer_class(context={}))


class FastRepresentation:
    """For read-only serializers on hot paths: the JSON DRF's generic `to_representation`
    gives, from the same declared fields (so the two cannot drift apart), without building
    the fields for every instance and without DRF's per-field bookkeeping."""

    def to_representation(self, instance) -> dict:
        return {name: make(self, instance) for name, make in _plan(type(self))}


class PredictionSerializer(FastRepresentation, serializers.ModelSerializer):
    label_display = DisplayLabelField(source="label")
    top5 = LabelScoreSerializer(many=True, read_only=True)
    url = serializers.SerializerMethodField()
    image_url = serializers.SerializerMethodField()
    wait_seconds = serializers.FloatField(read_only=True)
    run_seconds = serializers.FloatField(read_only=True)
    queue_position = serializers.SerializerMethodField(
        help_text="While pending: 1 = next in the queue, 0 = in the model now (approximate)."
    )
    estimated_seconds = serializers.SerializerMethodField(
        help_text="While pending: rough seconds until the answer, from measured batch times."
    )

    class Meta:
        model = Prediction
        fields = [
            "id",
            "url",
            "status",
            "label",
            "label_display",
            "score",
            "top5",
            "model_name",
            "model_version",
            "cached",
            "error",
            "original_filename",
            "image_sha256",
            "image_url",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
            "wait_seconds",
            "run_seconds",
            "queue_position",
            "estimated_seconds",
        ]
        read_only_fields = fields

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_url(self, prediction) -> str:
        return self._absolute(reverse("classifier-api:prediction-detail", args=[prediction.pk]))

    def get_image_url(self, prediction) -> str:
        return self._absolute(reverse("classifier:image", args=[prediction.pk]))

    def _standing(self, prediction) -> selectors.QueueStanding | None:
        if prediction.is_finished:
            return None
        if not hasattr(prediction, "_queue_standing"):
            # One pace read for a whole list of pending predictions (the context is shared),
            # read with the first one's position.
            if "queue_rate" not in self.context:
                standing = selectors.queue_standing(prediction=prediction)
                self.context["queue_rate"] = None if standing is None else standing.rate
            else:
                standing = selectors.queue_standing(
                    prediction=prediction, rate=self.context["queue_rate"]
                )
            prediction._queue_standing = standing
        return prediction._queue_standing

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_queue_position(self, prediction) -> int | None:
        standing = self._standing(prediction)
        return None if standing is None else standing.position

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_estimated_seconds(self, prediction) -> float | None:
        standing = self._standing(prediction)
        if standing is None or standing.estimated_seconds is None:
            return None
        return round(standing.estimated_seconds, 1)


class PredictionUploadSerializer(serializers.Serializer):
    image = serializers.FileField(
        allow_empty_file=True,  # emptiness gets our own clear message from the service
        help_text="A JPEG, PNG, GIF, WebP or BMP image.",
    )


#: the longest ?wait= a client may ask for (under nginx's proxy_read_timeout of 90 s)
MAX_WAIT_SECONDS = 60


class WaitQuerySerializer(serializers.Serializer):
    wait = serializers.FloatField(
        required=False,
        min_value=0,
        max_value=MAX_WAIT_SECONDS,
        default=0,
        help_text="Seconds to wait for a pending prediction (0-60).",
    )
