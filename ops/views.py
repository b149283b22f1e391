from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from ops.selectors import serving_readiness, system_health


class ProbeView(APIView):
    """Open to everyone and reads no credentials: monitors and load balancers call these."""

    permission_classes = [permissions.AllowAny]
    authentication_classes = []


def answer(health, **fields) -> Response:
    """200 with the checks when all pass, else 503 naming the problems."""
    body = {"status": "ok" if health.ok else "degraded", **fields, "problems": health.problems}
    return Response(body, status=200 if health.ok else 503)


class HealthView(ProbeView):
    """200 when the database, Redis, at least one worker and (when images live in one) the
    object store are up; 503 naming what is not."""

    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request):
        health = system_health()
        return answer(
            health,
            database=health.database,
            redis=health.redis,
            live_workers=health.live_workers,
            queue_depth=health.queue_depth,
            object_store=health.object_store,
        )


class ReadinessView(ProbeView):
    """200 when this web process can serve: database and the queue's Redis answer; 503
    naming what does not. Kubernetes' readiness probe (deploy/chart/)."""

    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request):
        health = serving_readiness()
        return answer(health, database=health.database, redis=health.redis)


class LivenessView(ProbeView):
    """200 while the process answers at all: touches neither the database nor Redis, so an
    outage of either never makes Kubernetes restart every web pod at once."""

    @extend_schema(responses={200: dict})
    def get(self, request):
        return Response({"status": "ok"})
