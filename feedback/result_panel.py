"""Feedback's section of the result page, registered with `classifier.result_page`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string

from classifier.models import Prediction
from feedback.forms import FeedbackForm
from feedback.selectors import feedback_for_prediction


def feedback_panel(
    request: HttpRequest, prediction: Prediction, state: Mapping[str, Any]
) -> str | None:
    """The "Is this right?" form, once the prediction is done; `state` may hold a bound form."""
    if prediction.status != Prediction.Status.DONE:
        return None
    feedback = feedback_for_prediction(user=request.user, prediction=prediction)
    form = state.get("feedback_form") or FeedbackForm(instance=feedback, prediction=prediction)
    context = {"prediction": prediction, "feedback": feedback, "feedback_form": form}
    return render_to_string("feedback/result_panel.html", context, request=request)
