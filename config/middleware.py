"""Middleware: outages answered 503, login lock-outs answered 429, oversized bodies refused.

Pages answer 503 with a message, not a 500, when the database, Redis or the image store
cannot be reached. The API gets the same treatment from `config.api.exception_handler`; this
covers every other view (pages, admin, the queue dashboard). The response is plain HTML
that needs neither the database nor a template context, so it renders during the outage.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import (
    DisallowedHost,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpResponse, JsonResponse
from django.shortcuts import resolve_url
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext, gettext_lazy, ngettext

from classifier.storage import STORAGE_UNAVAILABLE, StorageUnavailable
from config.api import DATABASE_ERRORS, DATABASE_UNAVAILABLE, REDIS_ERRORS, REDIS_UNAVAILABLE

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
PAGE = """<!doctype html>
<html lang="{language}"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>{title}</h1><p>{message}</p>
<p><a href="">{try_again}</a></p></main></body></html>
"""


def plain_page(
    *, title: str, message: str, status: int, retry_after: int | None = None
) -> HttpResponse:
    """A page that renders without the database, templates or a context."""
    page = PAGE.format(
        language=translation.get_language() or settings.LANGUAGE_CODE,
        title=escape(title),
        message=escape(message),
        try_again=escape(gettext("Try again")),
    )
    response = HttpResponse(page, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    return response


class LoginRedirectLengthMiddleware:
    """A redirect to the login page carries `next` only when it is short.

    Django puts the whole requested URL in `?next=`; a long query string made a Location
    header bigger than a front server's buffer for response headers (nginx answered 502).
    Beyond NEXT_URL_MAX_LENGTH the query is dropped from `next` (the page itself is kept),
    and a path that is itself that long is dropped too.
    """

    NEXT_URL_MAX_LENGTH = 1024

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code != 302
            or len(response.get("Location", "")) <= self.NEXT_URL_MAX_LENGTH
        ):
            return response
        login_url = resolve_url(settings.LOGIN_URL)
        if not response["Location"].startswith(login_url + "?"):
            return response
        short = (
            redirect_to_login(request.path)
            if len(request.path) <= self.NEXT_URL_MAX_LENGTH
            else None
        )
        response["Location"] = short["Location"] if short else login_url
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
            title=gettext("Temporarily unavailable"),
            message=message,
            status=503,
            retry_after=RETRY_AFTER_SECONDS,
        )


class LoginLockoutMiddleware:
    """Whichever door a refused login came through, the answer is a 429 with Retry-After.

    `accounts.backends.EmailBackend` marks the request when a failed-login limit refused
    the attempt (the door itself only saw "no user"). APIs (JSON answers) get
    `{"detail": ...}`; pages get a page saying how long to wait.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from accounts.backends import RETRY_AFTER_ATTRIBUTE

        response = self.get_response(request)
        wait = getattr(request, RETRY_AFTER_ATTRIBUTE, None)
        if wait is None:
            return response
        message = ngettext(
            "Too many failed login attempts. Try again in %(seconds)d second.",
            "Too many failed login attempts. Try again in %(seconds)d seconds.",
            wait,
        ) % {"seconds": wait}
        if response.get("Content-Type", "").startswith("application/json"):
            locked = JsonResponse({"detail": message}, status=429)
            locked["Retry-After"] = str(wait)
            return locked
        return plain_page(
            title=gettext("Too many login attempts"),
            message=message,
            status=429,
            retry_after=wait,
        )


class NulInQueryMiddleware:
    """A NUL character anywhere in the query string is a 400 for every route.

    PostgreSQL cannot hold NUL in text, so a filter such as the admin's
    `?status=%00` or `?predicted_label=%00` would reach the database and fail as a 500.
    No legitimate parameter of ours contains one.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.META.get("QUERY_STRING", "") or any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            message = gettext("The address contains a NUL character.")
            if API_PATH.match(request.path_info):
                return JsonResponse({"detail": message}, status=400)
            return plain_page(title=gettext("Bad request"), message=message, status=400)
        return self.get_response(request)


class RequestSizeLimitMiddleware:
    """Refuse a request whose declared body is over its limit before reading it.

    A multipart body (a file upload) may hold the upload cap plus the form's room
    (MAX_REQUEST_BODY_BYTES); any other body (JSON, a form without files) at most
    DATA_UPLOAD_MAX_MEMORY_SIZE. Django checks the latter only when `request.body` is read,
    and DRF's parsers read the stream instead, so a 10 MB JSON body reached the parser;
    Django also streams files of any size to disk before a view can refuse them. Both stop
    here, at the headers, with a 413.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        is_upload = request.META.get("CONTENT_TYPE", "").lower().startswith("multipart/")
        limit = (
            settings.MAX_REQUEST_BODY_BYTES if is_upload else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        )
        if declared > limit:
            # Before LocaleMiddleware: pick the request's language here.
            with translation.override(translation.get_language_from_request(request)):
                return self.too_large(request, is_upload=is_upload)
        return self.get_response(request)

    @staticmethod
    def too_large(request, *, is_upload: bool = True):
        if is_upload:
            message = gettext("The request is larger than the %(limit)s MB upload limit.") % {
                "limit": f"{settings.MAX_UPLOAD_MB:g}"
            }
        else:
            message = gettext("The request body is larger than %(limit)s KB.") % {
                "limit": f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1024:g}"
            }
        if "text/html" in request.headers.get("Accept", ""):
            response = plain_page(title=gettext("Too large"), message=message, status=413)
        else:
            response = JsonResponse({"detail": message}, status=413)
        response["Connection"] = "close"  # the unread body must not be taken as a request
        return response


# Paths of the JSON APIs: /api/ and the older system's routes (config/legacy_urls.py).
API_PATH = re.compile(r"^/(api/|login/?$|user(/|$)|model/predict/?$|feedback/?$)")

_GENERIC_DETAIL = {
    400: gettext_lazy("Bad request."),
    401: gettext_lazy("Authentication credentials were not provided."),
    403: gettext_lazy("You do not have permission to do this."),
    404: gettext_lazy("Not found."),
    405: gettext_lazy("Method not allowed."),
    413: gettext_lazy("The request is larger than the upload limit."),
}


def _suspicious_detail(exception: Exception) -> tuple[int, str]:
    if isinstance(exception, TooManyFieldsSent):
        return 400, gettext("Too many form fields (more than %(limit)d).") % {
            "limit": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        }
    if isinstance(exception, TooManyFilesSent):
        return 400, gettext("Too many files (more than %(limit)d).") % {
            "limit": settings.DATA_UPLOAD_MAX_NUMBER_FILES
        }
    if isinstance(exception, RequestDataTooBig):
        return 413, gettext("The request is larger than the %(limit)s MB upload limit.") % {
            "limit": f"{settings.MAX_UPLOAD_MB:g}"
        }
    if isinstance(exception, DisallowedHost):
        return 400, gettext("The Host header names a host this site does not serve.")
    return 400, gettext("Bad request.")


class ApiErrorShapeMiddleware:
    """Every 4xx on an API route is JSON with `detail`, even when DRF never saw the request.

    Django refuses some requests before or around the view, with its own HTML page: too
    many form fields or files, a body over DATA_UPLOAD_MAX_MEMORY_SIZE, a Host not in
    ALLOWED_HOSTS, an unknown /api/ URL. Outermost in MIDDLEWARE, this answers those (and
    any other non-JSON 4xx on an API path) in the API's shape.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # Outermost, so possibly before LocaleMiddleware ran: answer in the request's language.
        with translation.override(translation.get_language_from_request(request)):
            return self._json_shape(request, response)

    def _json_shape(self, request, response):
        if (
            400 <= response.status_code < 500
            and API_PATH.match(request.path_info)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            status = response.status_code
            detail = str(_GENERIC_DETAIL.get(status, response.reason_phrase))
            if status == 400:
                try:
                    request.get_host()
                except DisallowedHost as error:
                    status, detail = _suspicious_detail(error)
            converted = JsonResponse({"detail": detail}, status=status)
            for header in ("Retry-After", "Allow", "WWW-Authenticate", "Connection"):
                if header in response:
                    converted[header] = response[header]
            return converted
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, SuspiciousOperation) and API_PATH.match(request.path_info):
            if isinstance(exception, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent):
                request._mark_post_parse_error()  # as Django does: the body is not read again
            with translation.override(translation.get_language_from_request(request)):
                status, detail = _suspicious_detail(exception)
            logging.getLogger("django.security." + type(exception).__name__).warning(
                "%s: %s", request.path, exception
            )
            return JsonResponse({"detail": detail}, status=status)
        return None
