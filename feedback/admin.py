from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from config.admin_lists import CalendarSafeAdmin
from feedback.models import Feedback


@admin.register(Feedback)
class FeedbackAdmin(CalendarSafeAdmin, admin.ModelAdmin):
    list_display = [
        "updated_at",
        "user",
        "predicted_label",
        "is_correct",
        "correct_label",
        "model_name",
        "prediction_link",
        "thumbnail",
    ]
    list_filter = ["is_correct", "prediction__model_name", "updated_at", "predicted_label"]
    search_fields = ["user__email", "predicted_label", "correct_label", "comment"]
    date_hierarchy = "updated_at"
    list_select_related = ["user", "prediction"]
    readonly_fields = ["created_at", "updated_at", "thumbnail"]
    raw_id_fields = ["user", "prediction"]

    @admin.display(description="model", ordering="prediction__model_name")
    def model_name(self, feedback):
        return feedback.prediction.model_name if feedback.prediction else "—"

    @admin.display(description="prediction")
    def prediction_link(self, feedback):
        if feedback.prediction is None:
            return feedback.image_file_name or "—"
        url = reverse("admin:classifier_prediction_change", args=[feedback.prediction_id])
        return format_html('<a href="{}">{}</a>', url, feedback.prediction.label or "open")

    @admin.display(description="image")
    def thumbnail(self, feedback):
        if feedback.prediction is None:
            return "—"
        url = reverse("classifier:image", args=[feedback.prediction_id])
        return format_html('<img src="{}" alt="" class="admin-thumb">', url)
