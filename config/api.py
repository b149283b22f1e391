"""One error shape for every API 4xx/5xx we answer on purpose: always a human-readable `detail`.

DRF answers validation errors as `{"field": ["msg"]}` and everything else as
`{"detail": "msg"}`. Clients should not have to know which is which, so validation
errors keep their field map under `errors` and gain a `detail` summarising them.

Failures that are not bugs in the view get an answer instead of a 500: a request body
nested too deeply for the JSON parser (400), an unreachable database or Redis (503).
"""

import logging
from pathlib import Path

from django.db import InterfaceError, OperationalError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions, pagination, serializers, status
from rest_framework.fields import empty
from rest_framework.views import exception_handler as drf_exception_handler

from classifier.storage import STORAGE_UNAVAILABLE, StorageUnavailable

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (OperationalError, InterfaceError)
REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError)
DATABASE_UNAVAILABLE = _("The database is unavailable. Try again shortly.")
REDIS_UNAVAILABLE = _("The queue and cache service is unavailable. Try again shortly.")
_PARSERS_MODULE = str(Path(exceptions.__file__).with_name("parsers.py"))


class DatabaseUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = DATABASE_UNAVAILABLE
    default_code = "database_unavailable"


class ImageStoreUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = STORAGE_UNAVAILABLE
    default_code = "storage_unavailable"


class RedisUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = REDIS_UNAVAILABLE
    default_code = "redis_unavailable"


def _raised_by_a_parser(exc: BaseException) -> bool:
    traceback = exc.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == _PARSERS_MODULE:
            return True
        traceback = traceback.tb_next
    return False


def _first_message(errors) -> str:
    if isinstance(errors, dict):
        for field, value in errors.items():
            message = _first_message(value)
            return message if field == "non_field_errors" else f"{field}: {message}"
    if isinstance(errors, list) and errors:
        return _first_message(errors[0])
    return str(errors)


def exception_handler(exc, context):
    if isinstance(exc, RecursionError) and _raised_by_a_parser(exc):
        exc = exceptions.ParseError(
            gettext("JSON parse error - the document is nested too deeply.")
        )
    elif isinstance(exc, (*DATABASE_ERRORS, *REDIS_ERRORS, StorageUnavailable)):
        logger.warning("answering 503, a backing service failed: %r", exc)
        if isinstance(exc, StorageUnavailable):
            unavailable = ImageStoreUnavailable()
        elif isinstance(exc, DATABASE_ERRORS):
            unavailable = DatabaseUnavailable()
        else:
            unavailable = RedisUnavailable()
        response = drf_exception_handler(unavailable, context)
        response["Retry-After"] = "5"
        return response
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError):
        errors = response.data
        response.data = {"detail": _first_message(errors), "errors": errors}
    return response


class PageNumberPagination(pagination.PageNumberPagination):
    """DRF's page numbers, with a malformed `page` refused as a 400 (DRF: 404 "Invalid page").

    `?page=abc`, `?page=0` or `?page=1&page=2` are bad input, not a missing page; a page
    past the last stays a 404.
    """

    def get_page_number(self, request, paginator):
        values = request.query_params.getlist(self.page_query_param)
        if not values:
            return 1
        if values == ["last"]:
            return paginator.num_pages
        if len(values) > 1 or not (values[0].isascii() and values[0].isdigit()):
            raise exceptions.ValidationError(
                {self.page_query_param: ["A page number is one whole number from 1."]}
            )
        if int(values[0]) < 1:
            raise exceptions.ValidationError(
                {self.page_query_param: ["A page number is one whole number from 1."]}
            )
        return int(values[0])

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] = "A page number, from 1; past the last page: 404."
        return parameters


class StrictCharField(serializers.CharField):
    """Text only: a JSON number, true or a list is a 400, not quietly turned into text."""

    def run_validation(self, data=empty):
        # The schema's maxLength bounds the text as sent: trimming white space first must
        # not let a longer one through.
        if isinstance(data, str) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().run_validation(data)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
