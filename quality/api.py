from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from quality import selectors
from quality.forms import PeriodForm
from quality.permissions import staff_permission
from quality.serializers import DashboardSerializer


class DashboardAPIView(APIView):
    permission_classes = [staff_permission(selectors.DASHBOARD_PERMISSION)]

    @extend_schema(
        operation_id="quality_dashboard",
        summary="Model quality figures (staff with quality.view_dashboard)",
        description=(
            "The staff dashboard's figures: per model, accuracy from feedback with a Wilson "
            "95 % interval, top-5 hit rate, accuracy on reviewed labels; accuracy per day or "
            "week; per predicted label; the most frequent confusions; calibration buckets. "
            "Without dates: the last 30 days."
        ),
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATE, description="First day (inclusive)."),
            OpenApiParameter("end", OpenApiTypes.DATE, description="Last day (inclusive)."),
            OpenApiParameter("model", OpenApiTypes.STR, description="Model name, as recorded."),
            OpenApiParameter("bucket", OpenApiTypes.STR, enum=["day", "week"]),
        ],
        responses={200: DashboardSerializer},
    )
    def get(self, request):
        form = PeriodForm(request.query_params)
        if not form.is_valid():
            raise ValidationError(
                {
                    name: [error["message"] for error in errors]
                    for name, errors in form.errors.get_json_data().items()
                }
            )
        figures = selectors.dashboard(form.period())
        return Response(DashboardSerializer(figures).data)
