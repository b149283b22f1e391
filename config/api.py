"""One error shape for every API 4xx: always a human-readable `detail`.

DRF answers validation errors as `{"field": ["msg"]}` and everything else as
`{"detail": "msg"}`. Clients should not have to know which is which, so validation
errors keep their field map under `errors` and gain a `detail` summarising them.
"""

from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


def _first_message(errors) -> str:
    if isinstance(errors, dict):
        for field, value in errors.items():
            message = _first_message(value)
            return message if field == "non_field_errors" else f"{field}: {message}"
    if isinstance(errors, list) and errors:
        return _first_message(errors[0])
    return str(errors)


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError):
        errors = response.data
        response.data = {"detail": _first_message(errors), "errors": errors}
    return response
