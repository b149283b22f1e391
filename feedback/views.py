"""The feedback form on the result page posts here."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from classifier.result_page import render_result_page
from classifier.selectors import predictions_visible_to
from feedback import selectors, services
from feedback.forms import FeedbackForm


@login_required
@require_POST
def give(request, prediction_id):
    prediction = get_object_or_404(predictions_visible_to(user=request.user), pk=prediction_id)
    existing = selectors.feedback_for_prediction(user=request.user, prediction=prediction)
    form = FeedbackForm(request.POST, instance=existing, prediction=prediction)
    if not form.is_valid():
        return render_result_page(request, prediction, feedback_form=form, status=400)
    try:
        _, created = services.give_feedback(
            user=request.user, prediction=prediction, **form.cleaned_data
        )
    except services.PredictionNotFinished as error:
        form.add_error(None, str(error))
        return render_result_page(request, prediction, feedback_form=form, status=400)
    messages.success(
        request,
        gettext("Thanks — your feedback was saved.")
        if created
        else gettext("Your feedback was updated."),
    )
    return redirect("classifier:detail", pk=prediction.pk)
