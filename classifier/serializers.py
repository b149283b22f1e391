from django.urls import reverse
from rest_framework import serializers

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
        ]
        read_only_fields = fields

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_url(self, prediction) -> str:
        return self._absolute(reverse("classifier-api:prediction-detail", args=[prediction.pk]))

    def get_image_url(self, prediction) -> str:
        return self._absolute(reverse("classifier:image", args=[prediction.pk]))


class PredictionUploadSerializer(serializers.Serializer):
    image = serializers.FileField(
        allow_empty_file=True,  # emptiness gets our own clear message from the service
        help_text="A JPEG, PNG, GIF, WebP or BMP image.",
    )


#: the longest ?wait= a client may ask for (under nginx's proxy_read_timeout of 90 s)
MAX_WAIT_SECONDS = 60


class WaitQuerySerializer(serializers.Serializer):
    wait = serializers.FloatField(
        required=False, min_value=0, max_value=MAX_WAIT_SECONDS, default=0
    )
