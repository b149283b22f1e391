"""`/metrics`: the Prometheus text format, for operators holding the metrics token.

Access is a bearer token (`METRICS_TOKEN`), not a login: Prometheus sends one with
`authorization: {credentials: ...}` in its scrape config, it needs no session, cookie
or CSRF dance, works the same on every web host, and can be rotated without touching
user accounts. Without `METRICS_TOKEN` the endpoint does not exist (404).

`?include=web` gives only this host's web series and `?include=shared` only the fleet-wide
series kept in Redis (the same on every web host): with several web hosts, scrape each
for `web` and one address for `shared`, so fleet totals are not counted once per host.
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


#: ?include= values: this web host's own series, the fleet-wide ones from Redis, or both
INCLUDE_CHOICES = ("all", "web", "shared")


def build_registry(*, web: bool = True, shared: bool = True) -> CollectorRegistry:
    """This host's web metrics (every gunicorn process's, in multiprocess mode) and/or the
    fleet-wide ones read from Redis (queue, workers)."""
    registry = CollectorRegistry(auto_describe=False)
    if web:
        if _multiprocess():
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(registry)
        else:
            registry.register(REGISTRY)
    if shared:
        for collector in redis_collectors():
            registry.register(collector)
    return registry


def token_matches(request) -> bool:
    expected = settings.METRICS_TOKEN
    scheme, _sep, given = request.headers.get("Authorization", "").partition(" ")
    # Bytes: compare_digest refuses non-ASCII str, and a header may hold anything.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "surrogateescape"), expected.encode()
    )


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
    include = request.GET.get("include", "all")
    if include not in INCLUDE_CHOICES:
        return HttpResponse(
            _("include must be one of: %(choices)s.") % {"choices": ", ".join(INCLUDE_CHOICES)},
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    web, shared = include in ("all", "web"), include in ("all", "shared")
    try:
        body = generate_latest(build_registry(web=web, shared=shared))
    except RedisError:
        # Without Redis the web metrics are still worth having; the Redis-backed ones
        # are absent from this scrape (Prometheus shows gaps, `up` stays 1).
        body = generate_latest(build_registry(web=web, shared=False))
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
