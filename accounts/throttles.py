"""Rate limits for the endpoints people hammer: log in, register and upload.

Rates come from `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` (env THROTTLE_*), read when a
request arrives rather than when this module is imported, so changing the setting
changes the limit.

They use the default cache (Redis). If Redis is down they let requests through rather
than turning every login into a 500: losing rate limiting for a moment is better
than locking everybody out. Only the cache's own failures are forgiven; a request
whose body cannot be parsed still gets its 400.
"""

import logging

from django.core.cache import cache as default_cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle, SimpleRateThrottle

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

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except CacheUnavailable as error:
            logger.warning("rate limiting skipped, cache unavailable: %s", error)
            return True


class LoginRateThrottle(FailOpenMixin, AnonRateThrottle):
    """Per client IP."""

    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginAccountThrottle(FailOpenMixin, SimpleRateThrottle):
    """Per account being logged into, whichever IP the attempts come from."""

    scope = "login_account"

    def get_cache_key(self, request, view):
        data = request.data
        account = (data.get("email") or data.get("username")) if hasattr(data, "get") else None
        if not account or not isinstance(account, str):
            return None
        return self.cache_format % {"scope": self.scope, "ident": account.strip().lower()}


class RegisterRateThrottle(FailOpenMixin, AnonRateThrottle):
    scope = "register"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class UploadRateThrottle(FailOpenMixin, ScopedRateThrottle):
    """Per user (per IP for anonymous callers), at the rate of the view's `throttle_scope`."""
