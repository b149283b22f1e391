"""Middleware: outages answered 503, login forms rate-limited, oversized bodies refused.

Pages answer 503 with a message, not a 500, when the database, Redis or the image store
cannot be reached. The API gets the same treatment from `config.api.exception_handler`; this
covers every other view (pages, admin, the queue dashboard). The response is plain HTML
that needs neither the database nor a template context, so it renders during the outage.
"""

from __future__ import annotations

import logging
import math

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.html import escape

from classifier.storage import STORAGE_UNAVAILABLE, StorageUnavailable
from config.api import DATABASE_ERRORS, DATABASE_UNAVAILABLE, REDIS_ERRORS, REDIS_UNAVAILABLE

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>{title}</h1><p>{message}</p>
<p><a href="">Try again</a></p></main></body></html>
"""


def plain_page(
    *, title: str, message: str, status: int, retry_after: int | None = None
) -> HttpResponse:
    """A page that renders without the database, templates or a context."""
    response = HttpResponse(
        PAGE.format(title=escape(title), message=escape(message)), status=status
    )
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    return response


class ServiceUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DATABASE_ERRORS):
            message = DATABASE_UNAVAILABLE
        elif isinstance(exception, REDIS_ERRORS):
            message = REDIS_UNAVAILABLE
        elif isinstance(exception, StorageUnavailable):
            message = STORAGE_UNAVAILABLE
        else:
            return None
        logger.warning(
            "answering 503 for %s, a backing service failed: %r", request.path, exception
        )
        return plain_page(
            title="Temporarily unavailable",
            message=message,
            status=503,
            retry_after=RETRY_AFTER_SECONDS,
        )


class _FormPost:
    """What the throttles read from a request, for a plain Django form POST."""

    def __init__(self, request):
        self.META = request.META
        self.headers = request.headers
        self.data = request.POST
        self.user = request.user


class LoginFormThrottleMiddleware:
    """The HTML login forms (the site's and the admin's) get the API's login limits.

    Same throttles and same buckets as /api/auth/token/ and the older /login, so moving
    between them buys an attacker nothing. Over the limit: 429 with Retry-After.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    @staticmethod
    def _login_forms() -> set[str]:
        return {reverse("accounts:login"), reverse("admin:login")}

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method != "POST" or request.path_info not in self._login_forms():
            return None
        from accounts.throttles import LoginAccountThrottle, LoginRateThrottle

        post = _FormPost(request)
        for throttle in (LoginRateThrottle(), LoginAccountThrottle()):
            if not throttle.allow_request(post, None):
                wait = math.ceil(throttle.wait() or 1)
                return plain_page(
                    title="Too many login attempts",
                    message=f"Too many login attempts. Try again in {wait} seconds.",
                    status=429,
                    retry_after=wait,
                )
        return None


class RequestSizeLimitMiddleware:
    """Refuse a request whose declared body is over the upload limit before reading it.

    Django caps form fields (DATA_UPLOAD_MAX_MEMORY_SIZE) but streams files of any size
    to disk before a view can refuse them; this stops a multi-gigabyte upload at its
    headers with a 413. The limit is the upload cap plus the room the form needs.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if declared > limit:
            message = f"The request is larger than the {settings.MAX_UPLOAD_MB:g} MB upload limit."
            if "text/html" in request.headers.get("Accept", ""):
                response = plain_page(title="Too large", message=message, status=413)
            else:
                response = JsonResponse({"detail": message}, status=413)
            response["Connection"] = "close"  # the unread body must not be taken as a request
            return response
        return self.get_response(request)
