"""The older API's `POST /model/predict`: upload, wait, answer in one request.

Same submit and wait services as /api/predictions/. Old clients cannot follow a 202, so
a prediction that is still pending at PREDICT_WAIT_SECONDS is a 504 (it stays queued and
its result appears under /api/predictions/ later).
"""

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import parsers, permissions, serializers, status
from rest_framework.exceptions import APIException, Throttled
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import VersionedJWTAuthentication
from accounts.throttles import UploadRateThrottle
from classifier import services
from classifier.api import service_error
from classifier.imaging import InvalidImage, UnsupportedImageType
from classifier.models import Prediction

UNSUPPORTED_FILE_TYPE = "File type is not supported."  # the old API's exact words


class UploadRejected(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = UNSUPPORTED_FILE_TYPE
    default_code = "upload_rejected"


class ModelTimedOut(APIException):
    status_code = status.HTTP_504_GATEWAY_TIMEOUT
    default_detail = "The model did not answer in time."
    default_code = "model_timeout"


class TooManyWaiting(APIException):
    """No wait slot (classifier.wait_slots): answered at once instead of holding a thread."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Too many requests are waiting for the model."
    default_code = "too_many_waiting"

    def __init__(self, detail=None):
        super().__init__(detail)
        self.wait = 2  # DRF's handler turns this into Retry-After


class ClassificationFailed(APIException):
    """The upload was a valid image but the model side gave up on it (see Prediction.error)."""

    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The model could not classify this image."
    default_code = "classification_failed"


class LegacyPredictionSerializer(serializers.Serializer):
    success = serializers.SerializerMethodField()
    prediction = serializers.CharField(source="label")
    score = serializers.SerializerMethodField()
    image_file_name = serializers.CharField()

    def get_success(self, prediction) -> bool:
        return prediction.status == Prediction.Status.DONE

    def get_score(self, prediction) -> float:
        return round(prediction.score, 4)


@extend_schema(exclude=True)  # documented in docs/MIGRATION.md
class LegacyPredictView(APIView):
    authentication_classes = [VersionedJWTAuthentication]
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [parsers.MultiPartParser, parsers.FormParser]
    throttle_classes = [UploadRateThrottle]
    throttle_scope = "uploads"

    def post(self, request):
        prediction = submit_legacy_upload(user=request.user, upload=request.FILES.get("file"))
        timeout = settings.PREDICT_WAIT_SECONDS
        result_url = reverse("classifier-api:prediction-detail", args=[prediction.pk])
        try:
            prediction = services.wait_for_prediction(prediction=prediction, timeout=timeout)
        except services.WaitSlotsFull:
            raise TooManyWaiting(
                "Too many of your requests are waiting for the model. The image stays "
                f"queued; its result will appear at {result_url}."
            ) from None
        if prediction.status == Prediction.Status.DONE:
            return Response(LegacyPredictionSerializer(prediction).data)
        if prediction.status == Prediction.Status.FAILED:
            raise ClassificationFailed(
                f"The model could not classify this image; see {result_url} for why. "
                "Try again or send another image."
            )
        raise ModelTimedOut(
            f"The model did not answer within {timeout:g} seconds. The image stays queued; "
            f"its result will appear at {result_url}."
        )


def submit_legacy_upload(*, user, upload) -> Prediction:
    """The submit service with its errors in the old API's words."""
    try:
        return services.submit_prediction(user=user, upload=upload)
    except UnsupportedImageType:
        raise UploadRejected(UNSUPPORTED_FILE_TYPE) from None
    except InvalidImage as error:  # missing, empty, too big, damaged, too many pixels
        raise UploadRejected(str(error)) from None
    except services.UploadQuotaExceeded as error:
        raise Throttled(wait=error.retry_after, detail=str(error)) from None
    except (services.QueueUnavailable, services.StorageUnavailable) as error:
        raise service_error(error) from None  # a full queue adds Retry-After
