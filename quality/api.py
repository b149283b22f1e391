from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import staff_permission
from quality import selectors
from quality.forms import FIRST_DAY, LAST_DAY, MAX_DAYS, PeriodForm
from quality.serializers import DashboardSerializer

DATE_BOUNDS = f"Between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}."
QUERY_NAMES = ("start", "end", "model", "bucket")


class DashboardAPIView(APIView):
    permission_classes = [staff_permission(selectors.DASHBOARD_PERMISSION)]

    @extend_schema(
        operation_id="quality_dashboard",
        summary="Model quality figures (staff with quality.view_dashboard)",
        description=(
            "The staff dashboard's figures: per model, accuracy from feedback with a Wilson "
            "95 % interval, top-5 hit rate, accuracy on reviewed labels; accuracy per day or "
            "week; per predicted label; the most frequent confusions; calibration buckets. "
            "Without dates: the last 30 days up to `end` (or today). A period spans at "
            f"most {MAX_DAYS} days (400 otherwise); a parameter given empty is a 400 "
            "(leave it out instead)."
        ),
        parameters=[
            OpenApiParameter(
                "start",
                OpenApiTypes.DATE,
                allow_blank=False,
                description=f"First day (inclusive). {DATE_BOUNDS}",
            ),
            OpenApiParameter(
                "end",
                OpenApiTypes.DATE,
                allow_blank=False,
                description=f"Last day (inclusive), at most {MAX_DAYS} days after `start`. "
                + DATE_BOUNDS,
            ),
            OpenApiParameter(
                "model",
                {"type": "string", "minLength": 1, "maxLength": 100},
                description="Model name, as recorded.",
            ),
            OpenApiParameter("bucket", OpenApiTypes.STR, enum=["day", "week"], allow_blank=False),
        ],
        responses={200: DashboardSerializer},
    )
    def get(self, request):
        given_empty = [name for name in QUERY_NAMES if request.query_params.get(name, None) == ""]
        if given_empty:
            raise ValidationError(
                {name: [_("Give a value or leave the parameter out.")] for name in given_empty}
            )
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
