"""The result page, which other apps extend with panels instead of being imported here.

`classifier` owns the page; an app above it (feedback) registers a panel in its
`AppConfig.ready()`. A panel is a function `(request, prediction, state) -> str | None`
that returns HTML for a section below the result (or None to show nothing). `state`
carries what the caller passes, e.g. the feedback view's bound form when it had errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from classifier.models import Prediction
from classifier.presentation import present
from classifier.selectors import queue_standing

# Shorter than gunicorn's graceful timeout, so a deploy never waits on a long poll.
RESULT_PAGE_WAIT_SECONDS = 15

Panel = Callable[[HttpRequest, Prediction, Mapping[str, Any]], "str | None"]
_panels: dict[str, Panel] = {}


def register_panel(name: str, panel: Panel) -> None:
    """Add (or replace) a section of the result page; panels show in registration order."""
    _panels[name] = panel


def render_result_page(
    request: HttpRequest, prediction: Prediction, *, status: int = 200, **state: Any
) -> HttpResponse:
    present(prediction)
    panels = [html for panel in _panels.values() if (html := panel(request, prediction, state))]
    context = {
        "prediction": prediction,
        "panels": panels,
        "wait_seconds": RESULT_PAGE_WAIT_SECONDS,
        "standing": queue_standing(prediction=prediction),
    }
    return render(request, "classifier/detail.html", context, status=status)
