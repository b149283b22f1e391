from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from classifier import selectors
from classifier.models import Prediction


class LabelScoreSerializer(serializers.Serializer):
    label = serializers.CharField()
    score = serializers.FloatField()


class PredictionSerializer(serializers.ModelSerializer):
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

    def to_representation(self, prediction) -> dict:
        """The same JSON as the declared fields give, built directly: DRF's generic path (a
        field object per value, a nested serializer per top-5 entry) was 1.4 ms of the
        upload's ~7 ms of web CPU. `test_plain_representation_matches_drf` keeps the two
        equal; the declared fields still describe the API (OpenAPI)."""
        return {
            "id": str(prediction.id),
            "url": self.get_url(prediction),
            "status": prediction.status,
            "label": prediction.label,
            "score": None if prediction.score is None else float(prediction.score),
            "top5": [
                {"label": str(entry["label"]), "score": float(entry["score"])}
                for entry in prediction.top5 or ()
            ],
            "model_name": prediction.model_name,
            "model_version": prediction.model_version_id,
            "cached": prediction.cached,
            "error": prediction.error,
            "original_filename": prediction.original_filename,
            "image_sha256": prediction.image_sha256,
            "image_url": self.get_image_url(prediction),
            "attempts": prediction.attempts,
            "created_at": _iso(prediction.created_at),
            "started_at": _iso(prediction.started_at),
            "finished_at": _iso(prediction.finished_at),
            "wait_seconds": prediction.wait_seconds,
            "run_seconds": prediction.run_seconds,
            "queue_position": self.get_queue_position(prediction),
            "estimated_seconds": self.get_estimated_seconds(prediction),
        }

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


_DATETIME = serializers.DateTimeField()


def _iso(value) -> str | None:
    return None if value is None else _DATETIME.to_representation(value)


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
