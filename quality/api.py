from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import staff_permission
from quality import comparison, selectors
from quality.forms import FIRST_DAY, LAST_DAY, MAX_DAYS, PeriodForm
from quality.serializers import DashboardSerializer, TrialsSerializer

DATE_BOUNDS = f"Between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}."
QUERY_NAMES = ("start", "end", "model", "bucket")


def _period_parameters() -> list[OpenApiParameter]:
    return [
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
    ]


def _period(request):
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
    return form.period()


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
            *_period_parameters(),
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
        return Response(DashboardSerializer(selectors.dashboard(_period(request))).data)


class TrialsAPIView(APIView):
    permission_classes = [staff_permission(selectors.DASHBOARD_PERMISSION)]

    @extend_schema(
        operation_id="quality_trials",
        summary="Candidate versus live: shadow and canary figures (staff with "
        "quality.view_dashboard)",
        description=(
            "Shadow, on the same uploads: agreement of the candidate with the answer users "
            "got, and accuracy of both against reviewed labels, each with a Wilson 95 % "
            "interval. Canary: accuracy from users' verdicts per version (Wilson 95 %), and "
            "the candidate against the live version (or, with no canary running, the live "
            "version against the one before it) with Newcombe's 95 % interval of the "
            "difference and a verdict: better, worse or undecided. By version, so figures "
            "stay after a promotion or roll back. Period as for the dashboard."
        ),
        parameters=_period_parameters(),
        responses={200: TrialsSerializer},
    )
    def get(self, request):
        return Response(TrialsSerializer(comparison.trials(_period(request))).data)
