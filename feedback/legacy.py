"""The older API's `/feedback/`: free-text feedback named by the image's file name.

The name's stem is the image's SHA-256 (what `POST /model/predict` answers), so the
feedback is attached to the caller's own prediction of those bytes when there is one;
someone else's image name never reaches their prediction.
"""

from pathlib import PurePosixPath

from drf_spectacular.utils import extend_schema
from rest_framework import generics, parsers, serializers, status
from rest_framework.response import Response

from accounts.authentication import VersionedJWTAuthentication
from classifier.models import Prediction
from classifier.selectors import predictions_visible_to
from feedback import selectors, services
from feedback.models import Feedback


class LegacyFeedbackSerializer(serializers.ModelSerializer):
    feedback = serializers.CharField(source="comment")
    predicted_class = serializers.CharField(source="predicted_label")
    score = serializers.SerializerMethodField()

    class Meta:
        model = Feedback
        fields = ["id", "score", "predicted_class", "image_file_name", "feedback"]
        read_only_fields = fields

    def get_score(self, feedback) -> float | None:
        return None if feedback.score is None else round(feedback.score, 4)


class LegacyFeedbackInputSerializer(serializers.Serializer):
    feedback = serializers.CharField(max_length=2000, allow_blank=True)
    score = serializers.FloatField()
    predicted_class = serializers.CharField(max_length=100, allow_blank=True)
    image_file_name = serializers.CharField(max_length=100)


def own_prediction_of_image(*, user, image_file_name: str) -> Prediction | None:
    """The caller's newest answered prediction whose bytes hash to the file name's stem."""
    sha256 = PurePosixPath(image_file_name).stem.lower()
    return (
        predictions_visible_to(user=user)
        .filter(image_sha256=sha256, status=Prediction.Status.DONE)
        .first()
    )


@extend_schema(exclude=True)  # documented in docs/MIGRATION.md
class LegacyFeedbackView(generics.ListCreateAPIView):
    authentication_classes = [VersionedJWTAuthentication]
    parser_classes = [parsers.JSONParser]
    serializer_class = LegacyFeedbackSerializer
    pagination_class = None  # the old clients expect a bare list

    def get_queryset(self):
        return selectors.feedback_visible_to(user=self.request.user)

    def create(self, request, *args, **kwargs):
        incoming = LegacyFeedbackInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        feedback = services.record_legacy_feedback(
            user=request.user,
            prediction=own_prediction_of_image(
                user=request.user, image_file_name=data["image_file_name"]
            ),
            text=data["feedback"],
            predicted_label=data["predicted_class"],
            score=data["score"],
            image_file_name=data["image_file_name"],
        )
        return Response(LegacyFeedbackSerializer(feedback).data, status=status.HTTP_201_CREATED)
