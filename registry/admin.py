"""The registry in the admin: register a version (file + labels), watch it validate, promote
it, roll back, put it on trial (shadow or canary, with the share typed beside the action)
and end the trial. All of these need `registry.promote_modelversion`; each leaves a
`ModelEvent` and an admin log entry."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.utils.translation import gettext_lazy as _

from registry import services, spec
from registry.forms import RegisterVersionForm
from registry.models import ModelEvent, ModelVersion


class ModelEventInline(admin.TabularInline):
    model = ModelEvent
    extra = 0
    can_delete = False
    fields = readonly_fields = ("at", "action", "actor", "detail")

    def has_add_permission(self, request, obj=None):
        return False


class TrialActionForm(ActionForm):
    share = forms.IntegerField(
        label=_("Share (%)"),
        min_value=0,
        max_value=100,
        required=False,
        help_text=_("shadow: percent of uploads; canary: percent of users"),
    )


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = (
        "display_name",
        "state",
        "format",
        "label_count",
        "input_size_text",
        "created_by",
        "created_at",
        "promoted_at",
        "trial_text",
    )
    list_filter = ("state", "format", "name")
    search_fields = ("name",)
    actions = ["promote", "roll_back", "shadow", "canary", "end_trial", "validate_again"]
    action_form = TrialActionForm
    inlines = [ModelEventInline]
    readonly_fields = (
        "name",
        "version",
        "format",
        "builtin_key",
        "state",
        "failure_reason",
        "weights",
        "sha256",
        "size_bytes",
        "label_count",
        "labels",
        "input_size_text",
        "preprocessing",
        "mean",
        "std",
        "report",
        "created_by",
        "created_at",
        "validated_at",
        "promoted_at",
        "trial_text",
    )

    @admin.display(description=_("trial"))
    def trial_text(self, obj):
        if not obj.trial:
            return ""
        return f"{obj.get_trial_display()} {obj.trial_share} %"

    @admin.display(description=_("labels"))
    def label_count(self, obj):
        return len(obj.labels) if obj.labels else _("ImageNet (1000)")

    @admin.display(description=_("input size"))
    def input_size_text(self, obj):
        return f"{obj.input_height}×{obj.input_width}"

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = RegisterVersionForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return [
                "name",
                "weights_file",
                "labels_file",
                "input_height",
                "input_width",
                "preprocessing",
                "mean",
                "std",
            ]
        return self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields  # immutable once registered

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change):
        created = services.register(registration=form.registration, actor=request.user)
        obj.pk = created.pk
        obj.__dict__.update(
            {key: value for key, value in created.__dict__.items() if key != "_state"}
        )
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        """Nothing related is edited here."""

    def has_delete_permission(self, request, obj=None):
        live = obj is not None and obj.state == ModelVersion.State.LIVE
        return not live and super().has_delete_permission(request, obj)

    def has_promote_permission(self, request):
        return request.user.has_perm("registry.promote_modelversion")

    @admin.action(
        description=_("Promote the selected version (make it live)"), permissions=["promote"]
    )
    def promote(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one version to promote."), messages.ERROR)
            return
        try:
            version = services.promote_version(version=queryset.get(), actor=request.user)
        except services.PromotionRefused as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        self.log_change(request, version, "promoted")
        self.message_user(request, _("%(version)s is live.") % {"version": version})

    @admin.action(description=_("Roll back to the previous live version"), permissions=["promote"])
    def roll_back(self, request, queryset):
        try:
            version = services.rollback(actor=request.user)
        except services.PromotionRefused as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        self.log_change(request, version, "rolled back to")
        self.message_user(request, _("Rolled back: %(version)s is live.") % {"version": version})

    def _start_trial(self, request, queryset, trial: str) -> None:
        form = self.action_form(request.POST)
        form.fields["action"].choices = self.get_action_choices(request)
        share = form.cleaned_data.get("share") if form.is_valid() else None
        if queryset.count() != 1 or share is None:
            self.message_user(
                request,
                _("Select exactly one version and type its share (0–100 %)."),
                messages.ERROR,
            )
            return
        try:
            version = services.start_trial(
                version=queryset.get(), trial=trial, share=share, actor=request.user
            )
        except services.TrialRefused as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        self.log_change(request, version, f"{trial} {share} %")
        self.message_user(
            request,
            _("%(version)s is the %(trial)s candidate on %(share)d %%.")
            % {"version": version, "trial": version.get_trial_display(), "share": share},
        )

    @admin.action(
        description=_("Shadow: run the selected version on a share of uploads"),
        permissions=["promote"],
    )
    def shadow(self, request, queryset):
        self._start_trial(request, queryset, spec.SHADOW)

    @admin.action(
        description=_("Canary: answer a share of users with the selected version"),
        permissions=["promote"],
    )
    def canary(self, request, queryset):
        self._start_trial(request, queryset, spec.CANARY)

    @admin.action(description=_("End the shadow or canary trial"), permissions=["promote"])
    def end_trial(self, request, queryset):
        ended = services.end_trial(actor=request.user)
        if ended is None:
            self.message_user(request, _("No trial was running."), messages.WARNING)
            return
        self.log_change(request, ended, "trial ended")
        self.message_user(request, _("The trial of %(version)s ended.") % {"version": ended})

    @admin.action(description=_("Validate again"), permissions=["change"])
    def validate_again(self, request, queryset):
        for version in queryset:
            try:
                services.revalidate(version=version, actor=request.user)
            except services.PromotionRefused as error:
                self.message_user(request, f"{version}: {error}", messages.WARNING)
