from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from registry.models import ModelVersion
from training import services
from training.models import TrainingRun


class StartTrainingForm(forms.ModelForm):
    """Start a run: checked here (enough labels per class) so the admin shows why not."""

    classes_text = forms.CharField(
        label=_("New classes"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line or comma-separated; only with “New classes”."),
    )

    class Meta:
        model = TrainingRun
        fields = ("base", "name", "label_set")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base"].queryset = ModelVersion.objects.exclude(
            state__in=[ModelVersion.State.VALIDATING, ModelVersion.State.FAILED]
        )
        self.plan: services.Plan | None = None

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        text = data.get("classes_text", "").replace(",", "\n")
        try:
            self.plan = services.plan_training(
                base=data["base"],
                name=data["name"],
                label_set=data["label_set"],
                classes=[line.strip() for line in text.splitlines() if line.strip()],
            )
        except services.TrainingRefused as error:
            raise forms.ValidationError(str(error)) from None
        return data
