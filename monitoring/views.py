"""`/metrics`: the Prometheus text format, for operators holding the metrics token.

Access is a bearer token (`METRICS_TOKEN`), not a login: Prometheus sends one with
`authorization: {credentials: ...}` in its scrape config, it needs no session, cookie
or CSRF dance, works the same on every web host, and can be rotated without touching
user accounts. Without `METRICS_TOKEN` the endpoint does not exist (404).
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

from monitoring.collectors import redis_collectors


def _multiprocess() -> bool:
    """Whether prometheus_client keeps values in PROMETHEUS_MULTIPROC_DIR files: the library
    decides this from the environment when it is imported, so ask the library."""
    return values.ValueClass is not values.MutexValue


def build_registry(*, with_redis: bool = True) -> CollectorRegistry:
    """This process's metrics (in multiprocess mode every process's), plus Redis's."""
    registry = CollectorRegistry(auto_describe=False)
    if _multiprocess():
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)
    if with_redis:
        for collector in redis_collectors():
            registry.register(collector)
    return registry


def token_matches(request) -> bool:
    expected = settings.METRICS_TOKEN
    scheme, _sep, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), expected)


@never_cache
@require_GET
def metrics(request):
    if not settings.METRICS_TOKEN:
        raise Http404(_("Metrics are turned off (METRICS_TOKEN is not set)."))
    if not token_matches(request):
        response = HttpResponse(
            _("A valid metrics token is required (Authorization: Bearer <METRICS_TOKEN>)."),
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    try:
        body = generate_latest(build_registry())
    except RedisError:
        # Without Redis the web metrics are still worth having; the Redis-backed ones
        # disappear, which Prometheus shows as absent series (and `up` stays 1).
        body = generate_latest(build_registry(with_redis=False))
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
