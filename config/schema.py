"""The OpenAPI schema documents the error answers too, not only the 2xx.

Every 4xx/5xx we answer on purpose has one shape (`config.api`): `{"detail": ...}`, plus
`errors` (the per-field messages) on validation errors. Which ones an operation can give
follows from the view itself, so they are added here once instead of on every view:

| status | when | documented on |
| --- | --- | --- |
| 400 | bad input, a Host not served, too many fields | every operation |
| 401 | no or bad credentials (a bad token even on open views) | views that authenticate; tokens |
| 403 | no permission; session POST without CSRF token | views needing more than a login; POSTs |
| 404 | another user's or no such object; a page past the last | paths with an id, lists |
| 413 | a body over the upload limit | operations with a request body |
| 414 | a request line over 4 KB (nginx, gunicorn) | every operation |
| 429 | a rate limit or login lock-out, with Retry-After | views with throttles; tokens |
| 503 | the database, Redis or storage unavailable, with Retry-After | every operation |
"""

from drf_spectacular.openapi import AutoSchema
from rest_framework import permissions, serializers
from rest_framework_simplejwt.views import TokenViewBase


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for a person to read.")
    errors = serializers.DictField(
        required=False, help_text="Validation errors only: the messages per field."
    )


_DESCRIPTIONS = {
    "400": "Bad request: the input is not valid (see `detail` and `errors`).",
    "401": "Not logged in, or the token is missing, expired or revoked.",
    "403": "Logged in, but not allowed to do this.",
    "404": "No such object among yours.",
    "413": "The request body is larger than the upload limit.",
    "414": "The URL is too long (request line over 4 KB).",
    "429": "Rate limit reached; try again after `Retry-After` seconds.",
    "503": "A backing service (database, queue, storage) is unavailable; retry shortly.",
}
_LOGIN_ONLY = (permissions.IsAuthenticated, permissions.AllowAny)


class ApiSchema(AutoSchema):
    def get_auth(self):
        """A view that reads no credentials (registration) has no security requirement:
        drf-spectacular's `[{}]` ("optional") still draws a lock in Swagger UI."""
        if not self.view.get_authenticators():
            return []
        return super().get_auth()

    def _get_request_body(self, direction="request"):
        """drf-spectacular documents bodies on PUT, PATCH and POST only; a DELETE whose
        operation names a request serializer (`DELETE /api/auth/me/` takes the password)
        documents its body too, required like any other."""
        declared = type(self).get_request_serializer is not ApiSchema.get_request_serializer
        if self.method != "DELETE" or not declared:
            return super()._get_request_body(direction)
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        codes = {"400", "414", "503"}
        view_permissions = self.view.get_permissions()
        if (
            isinstance(self.view, TokenViewBase)
            or self.view.get_authenticators()
            or not all(isinstance(p, permissions.AllowAny) for p in view_permissions)
        ):
            codes.add("401")
        unsafe = method.upper() not in ("GET", "HEAD", "OPTIONS")
        if any(not isinstance(p, _LOGIN_ONLY) for p in view_permissions) or (
            unsafe and "401" in codes
        ):
            codes.add("403")
        if "{" in path or (self._is_list_view() and self._get_paginator() is not None):
            codes.add("404")
        if "requestBody" in operation:
            codes.add("413")
        # Token views: their lock-out (accounts.login_guard) answers 429 from middleware;
        # views that confirm a password count it there too (`confirms_password`).
        if (
            self.view.get_throttles()
            or isinstance(self.view, TokenViewBase)
            or (unsafe and getattr(self.view, "confirms_password", False))
        ):
            codes.add("429")
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation.setdefault("responses", {})
        for code in sorted(codes):
            responses.setdefault(
                code,
                {
                    "content": {"application/json": {"schema": error}},
                    "description": _DESCRIPTIONS[code],
                },
            )
        return operation
