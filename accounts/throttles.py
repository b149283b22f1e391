"""Rate limits for the endpoints people hammer: register, refresh tokens and upload.

(Failed logins have their own limits, counted behind every login door:
`accounts.login_guard`.)

Rates come from `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` (env THROTTLE_*), read when a
request arrives rather than when this module is imported, so changing the setting
changes the limit. Clients are counted by `accounts.client_ip` (a digest of a validated
address), users by id: no raw request text ever becomes a cache key.

They use the default cache (the cache Redis). If it is down they let requests through
rather than turning every request into a 500: losing rate limiting for a moment is better
than locking everybody out. Only the cache's own failures are forgiven; a request whose
body cannot be parsed still gets its 400.

The HTML forms use the same throttles and buckets through `form_post_wait`.
"""

import logging
import math
from types import SimpleNamespace

from django.core.cache import cache as default_cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle

from accounts.client_ip import client_key

logger = logging.getLogger(__name__)


class CacheUnavailable(Exception):
    pass


class GuardedCache:
    """The throttles' view of the cache: any failure of the cache itself is CacheUnavailable."""

    def __init__(self, cache):
        self._cache = cache

    def get(self, key, default=None):
        try:
            return self._cache.get(key, default)
        except Exception as error:  # the cache backend's connection errors vary by client
            raise CacheUnavailable(str(error)) from error

    def set(self, key, value, timeout=None):
        try:
            return self._cache.set(key, value, timeout)
        except Exception as error:
            raise CacheUnavailable(str(error)) from error


class FailOpenMixin:
    cache = GuardedCache(default_cache)

    def get_rate(self):
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError:
            message = f"No throttle rate set for the {self.scope!r} scope"
            raise ImproperlyConfigured(message) from None

    def get_ident(self, request) -> str:
        return client_key(request)

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except CacheUnavailable as error:
            logger.warning("rate limiting skipped, cache unavailable: %s", error)
            return True


class PerAddressThrottle(FailOpenMixin, AnonRateThrottle):
    """Per client address, whether or not the caller is logged in."""

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class RefreshRateThrottle(PerAddressThrottle):
    scope = "refresh"


class RegisterRateThrottle(PerAddressThrottle):
    scope = "register"


class UploadRateThrottle(FailOpenMixin, ScopedRateThrottle):
    """Per user (per IP for anonymous callers), at the rate of the view's `throttle_scope`."""


class _FormPost:
    """What the throttles read from a request, for a plain Django form POST."""

    def __init__(self, request):
        self.META = request.META
        self.headers = request.headers
        self.user = request.user


def form_post_wait(request, throttle, *, scope: str | None = None) -> int | None:
    """Count a browser form POST against an API throttle's bucket.

    Returns None when allowed, else the seconds to wait (for Retry-After).
    """
    view = SimpleNamespace(throttle_scope=scope)
    if throttle.allow_request(_FormPost(request), view):
        return None
    return max(1, math.ceil(throttle.wait() or 1))
