from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from ops.selectors import system_health


class HealthView(APIView):
    """200 when the database, Redis, at least one worker and (when images live in one) the
    object store are up; 503 naming what is not."""

    permission_classes = [permissions.AllowAny]
    authentication_classes = []

    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request):
        health = system_health()
        body = {
            "status": "ok" if health.ok else "degraded",
            "database": health.database,
            "redis": health.redis,
            "live_workers": health.live_workers,
            "queue_depth": health.queue_depth,
            "object_store": health.object_store,
            "problems": health.problems,
        }
        return Response(body, status=200 if health.ok else 503)
