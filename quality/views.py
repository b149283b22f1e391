"""Staff pages: the quality dashboard and the review queue. HTTP only."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import staff_may, staff_permission_required
from classifier.labels import display_label
from classifier.models import Prediction
from feedback.labels import LABEL_SUGGESTIONS, labels_for_prediction
from quality import charts, comparison, queue, selectors, services
from quality.forms import PeriodForm, QueueFilterForm, ReviewForm

QUEUE_PAGE_SIZE = 20


@require_GET
@staff_permission_required(selectors.DASHBOARD_PERMISSION, hidden=True)
def dashboard(request):
    form = PeriodForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return render(request, "quality/dashboard.html", {"form": form}, status=400)
    figures = selectors.dashboard(form.period())
    context = {
        "form": form,
        "figures": figures,
        "trials": comparison.trials(figures.period),
        "model_names": [row.model_name for row in figures.models],
        "timeline_chart": charts.accuracy_line_chart(figures.timeline),
        "calibration_chart": charts.calibration_chart(figures.calibration),
        "confusion_chart": charts.confusion_bars(figures.confusions),
        "can_review": staff_may(request.user, selectors.REVIEW_PERMISSION),
    }
    return render(request, "quality/dashboard.html", context)


@require_GET
@staff_permission_required(selectors.REVIEW_PERMISSION, hidden=True)
def review_queue(request):
    filters = QueueFilterForm(request.GET or None)
    reason = filters.cleaned_data["reason"] if filters.is_valid() else ""
    page = Paginator(queue.review_queue(reason=reason), QUEUE_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    others = queue.feedback_on_same_images(page.object_list)
    items = []
    # Each answering model's labels: ImageNet for the built-ins, a registry version's own.
    version_lists: dict[int, tuple[str, ...]] = {}
    for prediction in page.object_list:
        form = ReviewForm(
            auto_id=f"id_%s_{prediction.pk}", initial={"label": _suggested(prediction)}
        )
        labels = labels_for_prediction(prediction)
        if not labels.is_imagenet:
            version_lists[prediction.model_version_id] = labels.suggestions
            form.fields["label"].widget.attrs["list"] = f"labels-v{prediction.model_version_id}"
        items.append(
            {
                "prediction": prediction,
                "feedback": others.get(prediction.image_sha256, []),
                "form": form,
            }
        )
    context = {
        "page": page,
        "items": items,
        "reason": reason,
        "reasons": queue.REVIEW_REASONS,
        "low_confidence": queue.LOW_CONFIDENCE,
        "label_suggestions": LABEL_SUGGESTIONS,
        "version_label_lists": [
            (f"labels-v{version_id}", labels) for version_id, labels in version_lists.items()
        ],
    }
    return render(request, "quality/review_queue.html", context)


def _suggested(prediction: Prediction) -> str:
    """What the form starts with: the owner's correction if they gave one, else the model's."""
    for entry in prediction.feedback_entries.all():
        if entry.correct_label:
            return display_label(entry.correct_label)
    return display_label(prediction.label)


@require_POST
@staff_permission_required(selectors.REVIEW_PERMISSION, hidden=True)
def review(request, pk):
    prediction = get_object_or_404(Prediction, pk=pk, status=Prediction.Status.DONE)
    form = ReviewForm(request.POST)
    reason = request.POST.get("reason", "")
    back = reverse("quality:review-queue")
    if reason in queue.REVIEW_REASONS:
        back += "?" + urlencode({"reason": reason})
    if not form.is_valid():
        messages.error(request, _("Type a label."))
        return redirect(back)
    try:
        label, count = services.review_prediction(
            reviewer=request.user, prediction=prediction, label=form.cleaned_data["label"]
        )
    except (services.NotAClassName, services.NotReviewable) as error:
        messages.error(request, str(error))
        return redirect(back)
    messages.success(
        request,
        ngettext(
            "Reviewed: %(label)s (%(count)d prediction of this image).",
            "Reviewed: %(label)s (%(count)d predictions of this image).",
            count,
        )
        % {"label": display_label(label), "count": count},
    )
    return redirect(back)
