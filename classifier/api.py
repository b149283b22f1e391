"""JSON API for predictions: upload, list own, read own (optionally waiting for it)."""

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, parsers, status, viewsets
from rest_framework.exceptions import APIException, NotFound, Throttled, ValidationError
from rest_framework.response import Response

from accounts.throttles import UploadRateThrottle
from classifier import selectors, services
from classifier.imaging import InvalidImage
from classifier.serializers import (
    PredictionSerializer,
    PredictionUploadSerializer,
    WaitQuerySerializer,
)
from classifier.steps import step

#: seconds a client refused a wait slot is asked to wait before asking again
RETRY_AFTER_WAIT_SLOTS_FULL = 2


class ServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("The service is temporarily unavailable.")
    default_code = "service_unavailable"


class QueueFullError(ServiceUnavailable):
    """Overload: 503 with Retry-After (DRF's handler turns `wait` into the header).

    503, not 429: 429 says this client sent too much; a full queue is the service's
    capacity, whoever asks, so it is "temporarily unable to handle the request" (RFC 9110).
    """

    default_code = "queue_full"

    def __init__(self, detail: str, *, retry_after: int):
        super().__init__(detail)
        self.wait = retry_after


def service_error(error: services.QueueUnavailable) -> ServiceUnavailable:
    if isinstance(error, services.QueueFull):
        return QueueFullError(str(error), retry_after=error.retry_after)
    return ServiceUnavailable(str(error))


def submit_or_raise(*, user, upload):
    """Run the submit service, turning its errors into this API's errors."""
    try:
        return services.submit_prediction(user=user, upload=upload)
    except InvalidImage as error:
        raise ValidationError({"image": [str(error)]}) from None
    except services.UploadQuotaExceeded as error:
        raise Throttled(wait=error.retry_after, detail=str(error)) from None
    except services.QueueUnavailable as error:
        raise service_error(error) from None
    # services.StorageUnavailable goes on to config.api's handler: 503 + Retry-After.


class PredictionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = PredictionSerializer
    lookup_value_converter = "uuid"  # a malformed id is a plain 404, never a 500
    parser_classes = [parsers.MultiPartParser, parsers.FormParser]
    throttle_scope = "uploads"

    def get_queryset(self):
        return selectors.predictions_visible_to(user=self.request.user)

    # DRF's checks as named steps (classifier.steps): what a benchmark or test listens to.
    def initial(self, request, *args, **kwargs):
        with step("DRF checks (auth, permissions, throttle)"):
            super().initial(request, *args, **kwargs)

    def perform_authentication(self, request):
        with step("JWT authentication"):
            super().perform_authentication(request)

    def check_throttles(self, request):
        with step("upload throttle (cache)"):
            super().check_throttles(request)

    @extend_schema(
        responses={204: None},
        description="Delete one of your predictions, its feedback and (when no other "
        "prediction uses the same bytes) its stored image.",
    )
    def destroy(self, request, pk=None):
        if not services.delete_prediction(user=request.user, prediction_id=pk):
            raise NotFound()
        return Response(status=status.HTTP_204_NO_CONTENT)

    def get_throttles(self):
        return [UploadRateThrottle()] if self.action == "create" else []

    @extend_schema(
        request=PredictionUploadSerializer,
        responses={201: PredictionSerializer, 202: PredictionSerializer},
        description="Upload an image. Answers 201 with the finished prediction, or 202 "
        "(with a Location header) if the model has not answered within the wait limit; a "
        "202 tells the queue position and an estimated time. 503 with Retry-After when the "
        "queue is full (nothing was stored).",
    )
    def create(self, request):
        with step("multipart parsing"):
            data = request.data
        upload = PredictionUploadSerializer(data=data)
        upload.is_valid(raise_exception=True)
        prediction = submit_or_raise(user=request.user, upload=upload.validated_data["image"])
        headers = {}
        try:
            prediction = services.wait_for_prediction(
                prediction=prediction, timeout=settings.PREDICT_WAIT_SECONDS
            )
        except services.WaitSlotsFull:
            headers["Retry-After"] = str(RETRY_AFTER_WAIT_SLOTS_FULL)
        with step("serialize the answer"):
            data = self.get_serializer(prediction).data
        if prediction.is_finished:
            return Response(data, status=status.HTTP_201_CREATED)
        headers["Location"] = data["url"]
        return Response(data, status=status.HTTP_202_ACCEPTED, headers=headers)

    @extend_schema(
        parameters=[WaitQuerySerializer],
        responses={200: PredictionSerializer, 202: PredictionSerializer},
        description="One of your predictions. With `wait` (seconds, 0-60) a pending one is "
        "held until the model answers or the time passes (then 200, still pending). When you "
        "already have WAIT_SLOTS_PER_USER waits open (or the server is at its bound), the "
        "answer comes at once: 202, still pending, with Retry-After.",
    )
    def retrieve(self, request, pk=None):
        query = WaitQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        prediction = get_object_or_404(self.get_queryset(), pk=pk)
        try:
            prediction = services.wait_for_prediction(
                prediction=prediction, timeout=query.validated_data["wait"]
            )
        except services.WaitSlotsFull:
            # Answered at once, still pending: the client should come back later, not now.
            return Response(
                self.get_serializer(prediction).data,
                status=status.HTTP_202_ACCEPTED,
                headers={"Retry-After": str(RETRY_AFTER_WAIT_SLOTS_FULL)},
            )
        return Response(self.get_serializer(prediction).data)
