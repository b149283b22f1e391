"""Reviewed labels, and the dataset export page (a filtered list of answered predictions whose
actions download the manifest or the ImageNet-folder archive; every export is logged)."""

from __future__ import annotations

import tempfile

from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.http import FileResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.permissions import staff_may
from config.admin_lists import CalendarSafeAdmin
from quality import exports
from quality.models import DatasetExport, ReviewedLabel
from quality.selectors import EXPORT_PERMISSION


@admin.register(ReviewedLabel)
class ReviewedLabelAdmin(CalendarSafeAdmin, admin.ModelAdmin):
    list_display = ["reviewed_at", "label", "reviewer", "image_sha256", "prediction_link"]
    list_filter = ["reviewed_at", "prediction__model_name"]
    search_fields = ["label", "image_sha256", "reviewer__email"]
    list_select_related = ["reviewer", "prediction"]
    raw_id_fields = ["prediction", "reviewer"]
    date_hierarchy = "reviewed_at"

    @admin.display(description=_("prediction"))
    def prediction_link(self, reviewed):
        url = reverse("admin:classifier_prediction_change", args=[reviewed.prediction_id])
        return format_html('<a href="{}">{}</a>', url, reviewed.prediction.label or "open")


class VerdictFilter(admin.SimpleListFilter):
    title = _("user verdict")
    parameter_name = "verdict"

    def lookups(self, request, model_admin):
        return [("corrected", _("said wrong, named a class")), ("right", _("said right"))]

    def queryset(self, request, queryset):
        if self.value() == "corrected":
            return queryset.filter(feedback_entries__is_correct=False).exclude(
                feedback_entries__correct_label=""
            )
        if self.value() == "right":
            return queryset.filter(feedback_entries__is_correct=True)
        return queryset


class ReviewedFilter(admin.SimpleListFilter):
    title = _("reviewed")
    parameter_name = "reviewed"

    def lookups(self, request, model_admin):
        return [("yes", _("reviewed")), ("no", _("not reviewed"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(reviewed_label__isnull=self.value() == "no")
        return queryset


def _log_export(request, what: str, count: int | None, queryset) -> None:
    LogEntry.objects.create(
        user_id=request.user.pk,
        content_type_id=ContentType.objects.get_for_model(
            DatasetExport, for_concrete_model=False
        ).pk,
        object_id="",
        object_repr=f"dataset export ({what})"[:200],
        action_flag=CHANGE,
        change_message=(
            f"Exported {what}"
            + (f": {count} images" if count is not None else "")
            + f" from a selection of {queryset.count()} predictions."
        ),
    )


@admin.register(DatasetExport)
class DatasetExportAdmin(CalendarSafeAdmin, admin.ModelAdmin):
    """Filter (model, date, verdict, reviewed), select, and pick an export action."""

    list_display = ["created_at", "model_name", "label", "score", "verdict", "reviewed"]
    list_filter = ["model_name", "created_at", VerdictFilter, ReviewedFilter]
    date_hierarchy = "created_at"
    actions = ["export_csv", "export_jsonl", "export_imagenet"]
    show_full_result_count = False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(status=DatasetExport.Status.DONE)
            .select_related("reviewed_label")
            .prefetch_related("feedback_entries")
        )

    # Export only: the page lists, it never edits.
    def has_view_permission(self, request, obj=None):
        return staff_may(request.user, EXPORT_PERMISSION)

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("user verdict"))
    def verdict(self, prediction):
        for entry in prediction.feedback_entries.all():
            if entry.is_correct is not None:
                return _("right") if entry.is_correct else (entry.stated_label or _("wrong"))
        return "—"

    @admin.display(description=_("reviewed label"))
    def reviewed(self, prediction):
        reviewed = getattr(prediction, "reviewed_label", None)
        return reviewed.label if reviewed else "—"

    def _rows(self, queryset):
        ids = queryset.order_by().values("pk")
        return exports.export_queryset(
            exports.ExportFilter(), base=DatasetExport.objects.filter(pk__in=ids)
        )

    def _manifest_response(self, request, queryset, *, what, encode, content_type, extension):
        """A streamed manifest of the selection, `encode`d (CSV or JSONL lines), logged."""
        _log_export(request, what, None, queryset)
        lines = encode(exports.manifest_rows(self._rows(queryset)))
        response = StreamingHttpResponse(lines, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{_name(extension)}"'
        return response

    @admin.action(description=_("Export manifest (CSV)"), permissions=["export"])
    def export_csv(self, request, queryset):
        return self._manifest_response(
            request,
            queryset,
            what="CSV manifest",
            encode=exports.csv_lines,
            content_type="text/csv; charset=utf-8",
            extension="csv",
        )

    @admin.action(description=_("Export manifest (JSONL)"), permissions=["export"])
    def export_jsonl(self, request, queryset):
        return self._manifest_response(
            request,
            queryset,
            what="JSONL manifest",
            encode=exports.jsonl_lines,
            content_type="application/x-ndjson",
            extension="jsonl",
        )

    @admin.action(description=_("Export ImageNet-folder archive (zip)"), permissions=["export"])
    def export_imagenet(self, request, queryset):
        archive = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it once sent
        count = exports.write_imagenet_archive(self._rows(queryset), archive)
        archive.seek(0)
        _log_export(request, "ImageNet-folder archive", count, queryset)
        return FileResponse(archive, as_attachment=True, filename=_name("zip"))


def _name(extension: str) -> str:
    return f"dataset-{timezone.now():%Y%m%d-%H%M%S}.{extension}"
