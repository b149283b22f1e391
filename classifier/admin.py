"""Predictions in the admin: a record of what the model answered, read and deleted, never
edited or made by hand. Images come through the app's own authorised image view (the
storage has no public URL); labels and scores are shown as on the site."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from classifier.labels import display_label
from classifier.models import Prediction
from classifier.presentation import format_percent
from classifier.templatetags.presentation import model_breaks
from config.admin_lists import CalendarSafeAdmin


def image_url(prediction_id) -> str:
    return reverse("classifier:image", args=[prediction_id])


@admin.register(Prediction)
class PredictionAdmin(CalendarSafeAdmin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "owner",
        "thumbnail",
        "status",
        "answer",
        "confidence",
        "recorded_model",
    ]  # "cached" and attempts: filters and the detail page (the list fits at 1280 px)
    list_filter = ["status", "model_name", "cached", "created_at"]
    search_fields = ["id", "owner__email", "label", "image_sha256", "original_filename"]
    date_hierarchy = "created_at"
    list_select_related = ["owner"]
    fieldsets = [
        (
            _("Answer"),
            {
                "fields": [
                    "image_preview",
                    "status",
                    "answer",
                    "confidence",
                    "top5_table",
                    "model_name",
                    "model_version",
                    "error",
                    "cached",
                    "attempts",
                ]
            },
        ),
        (
            _("Upload"),
            {"fields": ["id", "owner", "original_filename", "image_sha256", "stored_as"]},
        ),
        (
            _("Timing"),
            {"fields": ["created_at", "started_at", "finished_at", "wait_seconds", "run_seconds"]},
        ),
    ]
    readonly_fields = [field for _name, options in fieldsets for field in options["fields"]]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("image"))
    def thumbnail(self, prediction):
        return format_html(
            '<img src="{}" alt="" class="admin-thumb" loading="lazy">', image_url(prediction.pk)
        )

    @admin.display(description=_("image"))
    def image_preview(self, prediction):
        return format_html(
            '<a href="{0}"><img src="{0}" alt="" class="admin-preview"></a>',
            image_url(prediction.pk),
        )

    @admin.display(description=_("stored as"))
    def stored_as(self, prediction):
        return prediction.image.name

    @admin.display(description=_("label"), ordering="label")
    def answer(self, prediction):
        if not prediction.label:
            return "—"
        return format_html(
            '<span title="{}">{}</span>', prediction.label, display_label(prediction.label)
        )

    @admin.display(description=_("confidence"), ordering="score")
    def confidence(self, prediction):
        return format_percent(prediction.score, empty="—")

    @admin.display(description=_("model"), ordering="model_name")
    def recorded_model(self, prediction):
        return format_html(
            '<span class="admin-model">{}</span>', model_breaks(prediction.model_name)
        )

    @admin.display(description=_("top 5"))
    def top5_table(self, prediction):
        if not prediction.top5:
            return "—"
        return format_html(
            '<ol class="admin-top5">{}</ol>',
            format_html_join(
                "",
                '<li><span title="{}">{}</span> {}</li>',
                (
                    (entry["label"], display_label(entry["label"]), format_percent(entry["score"]))
                    for entry in prediction.top5
                ),
            ),
        )
