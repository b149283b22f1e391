"""Rate limits for the endpoints people hammer: log in and register.

They use the default cache (Redis). If Redis is down they let requests through rather
than turning every login into a 500: losing rate limiting for a moment is better
than locking everybody out.
"""

import logging

from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle

logger = logging.getLogger(__name__)


class FailOpenMixin:
    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception as error:  # the cache backend's connection errors vary by client
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
        account = request.data.get("email") or request.data.get("username")
        if not account or not isinstance(account, str):
            return None
        return self.cache_format % {"scope": self.scope, "ident": account.strip().lower()}


class RegisterRateThrottle(FailOpenMixin, AnonRateThrottle):
    scope = "register"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
