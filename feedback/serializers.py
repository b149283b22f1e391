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
            "comment",
            "predicted_label",
            "score",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "predicted_label", "score", "created_at", "updated_at"]


class FeedbackInputSerializer(serializers.Serializer):
    prediction = serializers.UUIDField()
    is_correct = serializers.BooleanField()
    correct_label = serializers.CharField(max_length=200, required=False, allow_blank=True)
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True)
