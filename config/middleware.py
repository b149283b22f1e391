"""Pages answer 503 with a message, not a 500, when the database or Redis cannot be reached.

The API gets the same treatment from `config.api.exception_handler`; this covers every
other view (pages, admin, the queue dashboard). The response is plain HTML that needs
neither the database nor a template context, so it renders during the outage itself.
"""

from __future__ import annotations

import logging

from django.http import HttpResponse
from django.utils.html import escape

from config.api import DATABASE_ERRORS, DATABASE_UNAVAILABLE, REDIS_ERRORS, REDIS_UNAVAILABLE

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Temporarily unavailable</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Temporarily unavailable</h1><p>{message}</p>
<p><a href="">Try again</a></p></main></body></html>
"""


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
        else:
            return None
        logger.warning(
            "answering 503 for %s, a backing service failed: %r", request.path, exception
        )
        response = HttpResponse(PAGE.format(message=escape(message)), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response["Cache-Control"] = "no-store"
        return response
