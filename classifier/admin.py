from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from classifier.models import Prediction
from config.admin_lists import CalendarSafeAdmin


@admin.register(Prediction)
class PredictionAdmin(CalendarSafeAdmin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "owner",
        "thumbnail",
        "status",
        "label",
        "score",
        "model_name",
        "cached",
        "attempts",
    ]
    list_filter = ["status", "model_name", "cached", "created_at"]
    search_fields = ["id", "owner__email", "label", "image_sha256", "original_filename"]
    date_hierarchy = "created_at"
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    readonly_fields = [
        "id",
        "image_preview",
        "image_sha256",
        "created_at",
        "started_at",
        "finished_at",
        "wait_seconds",
        "run_seconds",
    ]

    @admin.display(description="image")
    def thumbnail(self, prediction):
        url = reverse("classifier:image", args=[prediction.pk])
        return format_html('<img src="{}" alt="" class="admin-thumb">', url)

    @admin.display(description="image")
    def image_preview(self, prediction):
        url = reverse("classifier:image", args=[prediction.pk])
        return format_html('<a href="{0}"><img src="{0}" alt="" class="admin-preview"></a>', url)
