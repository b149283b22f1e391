"""Training runs in the admin: start one (checked for enough labels), watch its progress,
cancel it, read its result (accuracy against the majority baseline, per class, confusion
matrix, training curve) and go to the registered version to promote it."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from training import services
from training.charts import curve_svg
from training.forms import StartTrainingForm
from training.models import TrainingRun

RESULT_FIELDS = (
    "progress_bar",
    "stage",
    "failure_reason",
    "accuracy_text",
    "version_link",
    "class_counts",
    "per_class_table",
    "confusion_table",
    "curve_chart",
)


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("__str__", "state", "progress_bar", "accuracy_text", "created_at")
    list_filter = ("state",)
    actions = ["cancel_runs"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = StartTrainingForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("base", "name", "label_set", "classes_text")
        return ("base", "name", "label_set", "state", "created_by", "created_at", *RESULT_FIELDS)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return
        run = services.queue_run(plan=form.plan, actor=request.user)
        obj.pk = run.pk  # the admin redirects to the run it just queued
        messages.info(request, _("Queued; a training worker (rqworker training) runs it."))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = TrainingRun.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        if run is not None:
            services.settle_lost_run(run=run)
        return super().change_view(request, object_id, form_url, extra_context)

    def has_change_permission(self, request, obj=None):
        return False  # a run is read, cancelled or left; never edited

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Cancel the selected runs"), permissions=["add"])
    def cancel_runs(self, request, queryset):
        cancelled = sum(services.cancel(run=run) for run in queryset)
        messages.info(request, _("%(n)d run(s) cancelled.") % {"n": cancelled})

    @admin.display(description=_("progress"))
    def progress_bar(self, run):
        return format_html(
            '<progress max="100" value="{}"></progress> {}%',
            round(run.progress * 100),
            round(run.progress * 100),
        )

    @admin.display(description=_("validation accuracy"))
    def accuracy_text(self, run):
        result = run.result or {}
        if "validation_accuracy" not in result:
            return "—"
        return _("%(acc).1f%% on %(n)d images (majority class: %(base).1f%%)") % {
            "acc": 100 * result["validation_accuracy"],
            "n": result["validation_images"],
            "base": 100 * result["majority_baseline"],
        }

    @admin.display(description=_("new version"))
    def version_link(self, run):
        if run.version is None:
            return "—"
        url = reverse("admin:registry_modelversion_change", args=[run.version.pk])
        return format_html('<a href="{}">{} ({})</a>', url, run.version, run.version.state)

    @admin.display(description=_("images per class (train / validation)"))
    def class_counts(self, run):
        counts = run.counts or {}
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((c, counts["train"][c], counts["validation"][c]) for c in run.classes),
        )
        return format_html(
            "<table><tr><th></th><th>train</th><th>validation</th></tr>{}</table>"
            "<p>{}: {} · {}: {}</p>",
            rows,
            _("imbalance (largest / smallest)"),
            counts.get("imbalance"),
            _("sources"),
            counts.get("sources"),
        )

    @admin.display(description=_("accuracy per class"))
    def per_class_table(self, run):
        per_class = (run.result or {}).get("per_class_accuracy") or {}
        return format_html_join(
            "",
            "<div>{}: {}</div>",
            ((c, "—" if a is None else f"{100 * a:.1f}%") for c, a in per_class.items()),
        )

    @admin.display(description=_("confusion matrix (rows: true, columns: answered)"))
    def confusion_table(self, run):
        matrix = (run.result or {}).get("confusion_matrix")
        if not matrix:
            return "—"
        head = format_html_join("", "<th>{}</th>", ((c,) for c in run.classes))
        body = format_html_join(
            "",
            "<tr><th>{}</th>{}</tr>",
            (
                (c, format_html_join("", "<td>{}</td>", ((n,) for n in row)))
                for c, row in zip(run.classes, matrix, strict=True)
            ),
        )
        return format_html("<table><tr><th></th>{}</tr>{}</table>", head, body)

    @admin.display(description=_("training curve"))
    def curve_chart(self, run):
        curve = (run.result or {}).get("curve")
        return curve_svg(curve) if curve else "—"
