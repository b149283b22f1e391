from rest_framework import serializers

from feedback.models import Feedback


class FeedbackSerializer(serializers.ModelSerializer):
    class Meta:
        model = Feedback
        fields = [
            "id",
            "prediction",
            "is_correct",
            "correct_label",
            "other_label",
            "comment",
            "predicted_label",
            "score",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "other_label",
            "predicted_label",
            "score",
            "created_at",
            "updated_at",
        ]


class FeedbackChangeSerializer(serializers.Serializer):
    """PATCH: only the fields sent change."""

    is_correct = serializers.BooleanField(required=False)
    correct_label = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="As for POST; kept when left out (ignored while `is_correct` is true).",
    )
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class FeedbackInputSerializer(serializers.Serializer):
    prediction = serializers.UUIDField()
    is_correct = serializers.BooleanField()
    correct_label = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text=(
            "An ImageNet class name in any case, with spaces or underscores; stored in the "
            "model's spelling. Text naming no class is kept as `other_label`."
        ),
    )
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True)
