from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from classifier.selectors import predictions_visible_to
from config.schema import ErrorSerializer
from feedback import selectors, services
from feedback.serializers import (
    FeedbackChangeSerializer,
    FeedbackInputSerializer,
    FeedbackSerializer,
)


class FeedbackViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = FeedbackSerializer
    lookup_value_converter = "int"

    def get_queryset(self):
        return selectors.feedback_visible_to(user=self.request.user)

    @extend_schema(
        request=FeedbackInputSerializer,
        responses={201: FeedbackSerializer, 200: FeedbackSerializer, 404: ErrorSerializer},
        description="Give feedback on one of your predictions. Sending it again for the same "
        "prediction replaces the whole record (200): a field left out is cleared, as "
        "`comment` or `correct_label`. To change some fields only, `PATCH "
        "/api/feedback/{id}/`. A prediction that is not yours (or does not exist) is a 404.",
    )
    def create(self, request):
        incoming = FeedbackInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        prediction = get_object_or_404(
            predictions_visible_to(user=request.user), pk=data["prediction"]
        )
        try:
            feedback, created = services.give_feedback(
                user=request.user,
                prediction=prediction,
                is_correct=data["is_correct"],
                correct_label=data.get("correct_label", ""),
                comment=data.get("comment", ""),
            )
        except services.PredictionNotFinished as error:
            raise ValidationError({"prediction": [str(error)]}) from None
        return Response(
            FeedbackSerializer(feedback).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        request=FeedbackChangeSerializer,
        responses={200: FeedbackSerializer, 404: ErrorSerializer},
        description="Change some fields of your feedback; the fields left out keep their "
        "value. Someone else's feedback is a 404.",
    )
    def partial_update(self, request, pk=None):
        feedback = self.get_object()
        incoming = FeedbackChangeSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            updated = services.change_feedback(
                user=request.user, feedback=feedback, changes=incoming.validated_data
            )
        except (services.PredictionNotFinished, services.NoPrediction) as error:
            raise ValidationError({"prediction": [str(error)]}) from None
        return Response(FeedbackSerializer(updated).data)
