"""Browser pages: upload, result (updates itself while pending), history, image."""

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from classifier import selectors, services
from classifier.forms import UploadForm
from classifier.imaging import InvalidImage
from feedback.forms import FeedbackForm
from feedback.selectors import feedback_for_prediction
from mlworker.catalog import configured_model_name


@require_http_methods(["GET", "POST"])
def upload(request):
    """The home page: the upload form for people logged in, a welcome page for others."""
    if not request.user.is_authenticated:
        if request.method == "POST":
            return redirect_to_login(request.get_full_path())
        return render(request, "classifier/welcome.html", {"model_name": configured_model_name()})
    form = UploadForm(request.POST or None, request.FILES or None)
    status_code = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                prediction = services.submit_prediction(
                    user=request.user, upload=form.cleaned_data["image"]
                )
            except InvalidImage as error:
                form.add_error("image", str(error))
            except services.QueueUnavailable as error:
                form.add_error(None, str(error))
                status_code = 503
            else:
                return redirect("classifier:detail", pk=prediction.pk)
        if status_code == 200:
            status_code = 400
    recent = selectors.predictions_visible_to(user=request.user)[:6]
    context = {"form": form, "recent": recent, "model_name": configured_model_name()}
    return render(request, "classifier/upload.html", context, status=status_code)


@login_required
@require_GET
def detail(request, pk):
    prediction = get_object_or_404(selectors.predictions_visible_to(user=request.user), pk=pk)
    feedback = feedback_for_prediction(user=request.user, prediction=prediction)
    context = {
        "prediction": prediction,
        "feedback": feedback,
        "feedback_form": FeedbackForm(instance=feedback),
    }
    return render(request, "classifier/detail.html", context)


@login_required
@require_GET
def history(request):
    predictions = selectors.predictions_visible_to(user=request.user).prefetch_related(
        "feedback_entries"
    )
    page = Paginator(predictions, 24).get_page(request.GET.get("page"))
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
