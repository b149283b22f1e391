"""The feedback form on the result page posts here."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from classifier.selectors import predictions_visible_to
from feedback import selectors, services
from feedback.forms import FeedbackForm


@login_required
@require_POST
def give(request, prediction_id):
    prediction = get_object_or_404(predictions_visible_to(user=request.user), pk=prediction_id)
    existing = selectors.feedback_for_prediction(user=request.user, prediction=prediction)
    form = FeedbackForm(request.POST, instance=existing)
    if not form.is_valid():
        context = {"prediction": prediction, "feedback": existing, "feedback_form": form}
        return render(request, "classifier/detail.html", context, status=400)
    services.give_feedback(user=request.user, prediction=prediction, **form.cleaned_data)
    messages.success(request, "Thanks — your feedback was saved.")
    return redirect("classifier:detail", pk=prediction.pk)
