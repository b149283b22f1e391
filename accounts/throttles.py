"""Rate limits for the endpoints people hammer: register, refresh tokens and upload.

(Failed logins have their own limits, counted behind every login door:
`accounts.login_guard`.)

Each throttle takes a slot in a sliding window (`accounts.slots`): checking and counting
are one atomic step in Redis, so N parallel requests against a limit of L get exactly L
through, across threads and processes. (DRF's own throttles read a history from the
cache, decide, then write it back: parallel requests all read the same history.)

Rates come from `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` (env THROTTLE_*), read when a
request arrives rather than when this module is imported, so changing the setting
changes the limit. Clients are counted by `accounts.client_ip` (a digest of a validated
address), users by id: no raw request text ever becomes a key.

They use the cache's Redis. If it is down they let requests through rather than turning
every request into a 500: losing rate limiting for a moment is better than locking
everybody out.

The HTML forms use the same throttles and buckets through `form_post_wait`.
"""

import logging
from types import SimpleNamespace

import redis
from django.core.exceptions import ImproperlyConfigured
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from accounts import slots
from accounts.client_ip import client_key

logger = logging.getLogger(__name__)

PREFIX = "imageclassifier:throttle"


class SlotThrottle(BaseThrottle):
    """A DRF throttle whose `allow_request` takes a slot atomically (see the module)."""

    scope: str | None = None

    def rate_for(self, scope: str) -> tuple[int, int]:
        try:
            return slots.parse_rate(api_settings.DEFAULT_THROTTLE_RATES[scope])
        except KeyError:
            message = f"No throttle rate set for the {scope!r} scope"
            raise ImproperlyConfigured(message) from None

    def scope_for(self, view) -> str | None:
        return self.scope

    def ident(self, request) -> str:
        return f"ip:{client_key(request)}"

    def allow_request(self, request, view) -> bool:
        self.retry_after = None
        scope = self.scope_for(view)
        if scope is None:
            return True
        count, window = self.rate_for(scope)
        limit = slots.Limit(f"{PREFIX}:{scope}:{self.ident(request)}", count, window)
        try:
            reservation = slots.reserve(slots.cache_connection(), [limit])
        except redis.RedisError as error:
            logger.warning("rate limiting skipped, cache unavailable: %r", error)
            return True
        self.retry_after = reservation.retry_after
        return reservation.granted

    def wait(self) -> float | None:
        return self.retry_after


class RefreshRateThrottle(SlotThrottle):
    """Per client address, whether or not the caller is logged in."""

    scope = "refresh"


class RegisterRateThrottle(SlotThrottle):
    scope = "register"


class UploadRateThrottle(SlotThrottle):
    """Per user (per address for anonymous callers), at the rate of the view's
    `throttle_scope`."""

    def scope_for(self, view) -> str | None:
        return getattr(view, "throttle_scope", None)

    def ident(self, request) -> str:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"user:{user.pk}"
        return super().ident(request)


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
    return max(1, int(throttle.wait() or 1))
