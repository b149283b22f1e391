"""Answers that belong to no app."""

from functools import cache

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_safe

FAVICON = settings.BASE_DIR / "static" / "favicon.ico"  # drawn by scripts/make_favicon.py


@cache
def _favicon_bytes() -> bytes:
    return FAVICON.read_bytes()


@require_safe
def favicon(request):
    """Browsers ask for /favicon.ico on pages that name no icon (the admin, the API)."""
    response = HttpResponse(_favicon_bytes(), content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response
