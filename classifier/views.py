"""Browser pages: upload, result (updates itself while pending), history, image.

HTTP only: reads go through `classifier.selectors`, writes through `classifier.services`.
What the templates show is formatted by `classifier.presentation`; the result page
(`classifier.result_page`) takes panels other apps register, such as feedback's form.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_GET, require_http_methods

from accounts.throttles import UploadRateThrottle, form_post_wait
from classifier import selectors, services
from classifier.forms import UploadForm
from classifier.imaging import InvalidImage
from classifier.presentation import present
from classifier.result_page import render_result_page

HISTORY_PAGE_SIZE = 24
RECENT_COUNT = 6


def too_many_uploads(wait: int) -> str:
    return ngettext(
        "Too many uploads. Try again in %(seconds)d second.",
        "Too many uploads. Try again in %(seconds)d seconds.",
        wait,
    ) % {"seconds": wait}


def live_model_context() -> dict:
    """What the pages say about the model: the names live workers publish, or (none live)
    a note that uploads wait in the queue until a worker starts."""
    names = selectors.live_model_names()
    return {"model_name": ", ".join(names), "no_worker_live": not names}


# --- Pages --------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def upload(request):
    """The home page: the upload form for people logged in, a welcome page for others."""
    if not request.user.is_authenticated:
        if request.method == "POST":
            return redirect_to_login(request.get_full_path())
        return render(request, "classifier/welcome.html", live_model_context())
    # Bound on every POST, even an empty one, so a missing file gets its error message.
    form = UploadForm(request.POST, request.FILES) if request.method == "POST" else UploadForm()
    status_code = 200
    retry_after = None
    if request.method == "POST":
        status_code = 400
        # The API's upload limit and bucket (THROTTLE_UPLOADS, per user).
        wait = form_post_wait(request, UploadRateThrottle(), scope="uploads")
        if wait is not None:
            form = UploadForm()
            messages.error(request, too_many_uploads(wait))
            status_code, retry_after = 429, wait
        elif form.is_valid():
            try:
                prediction = services.submit_prediction(
                    user=request.user, upload=form.cleaned_data["image"]
                )
            except InvalidImage as error:
                form.add_error("image", str(error))
            except services.UploadQuotaExceeded as error:
                form.add_error(None, str(error))
                status_code, retry_after = 429, error.retry_after
            except (services.QueueUnavailable, services.StorageUnavailable) as error:
                form.add_error(None, str(error))
                status_code = 503
                retry_after = getattr(error, "retry_after", None)
            else:
                return redirect("classifier:detail", pk=prediction.pk)
    recent = [
        present(p) for p in selectors.predictions_visible_to(user=request.user)[:RECENT_COUNT]
    ]
    context = {
        "form": form,
        "recent": recent,
        **live_model_context(),
        "max_mb": settings.MAX_UPLOAD_MB,
        "max_bytes": int(settings.MAX_UPLOAD_MB * 1024 * 1024),
    }
    response = render(request, "classifier/upload.html", context, status=status_code)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


@login_required
@require_GET
def detail(request, pk):
    prediction = get_object_or_404(selectors.predictions_visible_to(user=request.user), pk=pk)
    return render_result_page(request, prediction)


@login_required
@require_http_methods(["GET", "POST"])
def delete(request, pk):
    """Confirmation page; the POST deletes the prediction, its feedback and (when no other
    prediction uses the same bytes) its stored image."""
    prediction = get_object_or_404(selectors.predictions_visible_to(user=request.user), pk=pk)
    if request.method == "POST":
        services.delete_prediction(user=request.user, prediction_id=prediction.pk)
        messages.success(request, gettext("The photo and its result are deleted."))
        return redirect("classifier:history")
    return render(request, "classifier/delete.html", {"prediction": present(prediction)})


@login_required
@require_GET
def history(request):
    predictions = selectors.predictions_visible_to(user=request.user).prefetch_related(
        "feedback_entries"
    )
    page = Paginator(predictions, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    for prediction in page:
        present(prediction)
    return render(request, "classifier/history.html", {"page": page})


@login_required
@require_GET
def image(request, pk):
    """Uploaded images are private: served only to their owner (and staff), never listed."""
    prediction = selectors.prediction_image_visible_to(user=request.user, prediction_id=pk)
    if prediction is None:
        raise Http404("No such image.")
    try:
        stored = default_storage.open(prediction.image.name, "rb")
    except FileNotFoundError:
        raise Http404("The image file is missing.") from None
    response = FileResponse(stored)
    response["Cache-Control"] = "private, max-age=3600"
    return response
