"""Feedback in the admin: labels as people read them, the verdict in one column."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from classifier.labels import display_label
from classifier.presentation import format_percent
from classifier.templatetags.presentation import model_breaks
from config.admin_lists import CalendarSafeAdmin
from feedback.models import Feedback


class PredictedLabelFilter(admin.SimpleListFilter):
    """The labels feedback was given on, written as people read them."""

    title = _("predicted label")
    parameter_name = "predicted_label"

    def lookups(self, request, model_admin):
        labels = (
            model_admin.get_queryset(request)
            .exclude(predicted_label="")
            .order_by("predicted_label")
            .values_list("predicted_label", flat=True)
            .distinct()
        )
        return [(label, display_label(label)) for label in labels]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(predicted_label=self.value())
        return queryset


@admin.register(Feedback)
class FeedbackAdmin(CalendarSafeAdmin, admin.ModelAdmin):
    list_display = [
        "updated_at",
        "user",
        "thumbnail",
        "predicted",
        "is_correct",
        "stated",
        "model_name",
    ]
    list_filter = ["is_correct", "prediction__model_name", "updated_at", PredictedLabelFilter]
    search_fields = ["user__email", "predicted_label", "correct_label", "other_label", "comment"]
    date_hierarchy = "updated_at"
    list_select_related = ["user", "prediction"]
    readonly_fields = ["created_at", "updated_at", "thumbnail", "prediction_link"]
    raw_id_fields = ["user", "prediction"]

    @admin.display(description=_("predicted"), ordering="predicted_label")
    def predicted(self, feedback):
        if not feedback.predicted_label:
            return "—"
        return format_html(
            '<span title="{}">{}</span> <span class="admin-muted">{}</span>',
            feedback.predicted_label,
            display_label(feedback.predicted_label),
            format_percent(feedback.score),
        )

    @admin.display(description=_("really is"), ordering="correct_label")
    def stated(self, feedback):
        """The class the user named, else their own words (reported apart as "other")."""
        if feedback.correct_label:
            return display_label(feedback.correct_label)
        if feedback.other_label:
            return format_html(
                '“{}” <span class="admin-muted">{}</span>', feedback.other_label, _("other")
            )
        return "—"

    @admin.display(description=_("model"), ordering="prediction__model_name")
    def model_name(self, feedback):
        if feedback.prediction is None:
            return "—"
        return format_html(
            '<span class="admin-model">{}</span>', model_breaks(feedback.prediction.model_name)
        )

    @admin.display(description=_("prediction"))
    def prediction_link(self, feedback):
        if feedback.prediction is None:
            return feedback.image_file_name or "—"
        url = reverse("admin:classifier_prediction_change", args=[feedback.prediction_id])
        return format_html(
            '<a href="{}">{}</a>', url, display_label(feedback.prediction.label) or _("open")
        )

    @admin.display(description=_("image"))
    def thumbnail(self, feedback):
        if feedback.prediction is None:
            return "—"
        url = reverse("admin:classifier_prediction_change", args=[feedback.prediction_id])
        image = reverse("classifier:image", args=[feedback.prediction_id])
        return format_html(
            '<a href="{}"><img src="{}" alt="{}" class="admin-thumb" loading="lazy"></a>',
            url,
            image,
            _("the prediction"),
        )
