"""The admin's "add model version" form: the file, its labels and how to feed it."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from registry import services, spec
from registry.models import ModelVersion


def _triple(text: str) -> list[float] | None:
    if not text.strip():
        return None
    try:
        return [float(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise forms.ValidationError(_("Three numbers, e.g. 0.485 0.456 0.406.")) from None


class RegisterVersionForm(forms.ModelForm):
    weights_file = forms.FileField(
        label=_("Model file"),
        help_text=_(".keras, .h5, a zipped SavedModel (.zip) or .onnx"),
    )
    labels_file = forms.FileField(
        label=_("Labels file"), help_text=_("Plain text, one label per line, in output order.")
    )
    input_height = forms.IntegerField(label=_("Input height"), initial=224)
    input_width = forms.IntegerField(label=_("Input width"), initial=224)
    mean = forms.CharField(label=_("Mean (meanstd only)"), required=False)
    std = forms.CharField(label=_("Std (meanstd only)"), required=False)

    class Meta:
        model = ModelVersion
        fields = ["name", "preprocessing"]
        help_texts = {
            "name": _("Versions of one name are numbered 1, 2, 3…"),
            "preprocessing": "; ".join(f"{p.key}: {p.description}" for p in spec.PRESETS.values()),
        }

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        labels = data["labels_file"].read(1 << 20)
        try:
            labels_text = labels.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError(
                {"labels_file": _("The labels file is not UTF-8 text.")}
            ) from None
        try:
            self.registration = services.check_registration(
                name=data["name"],
                content=data["weights_file"],
                filename=data["weights_file"].name,
                labels_text=labels_text,
                preprocessing=data["preprocessing"],
                input_size=(data["input_height"], data["input_width"]),
                mean=_triple(data.get("mean", "")),
                std=_triple(data.get("std", "")),
            )
        except spec.InvalidSpec as error:
            raise forms.ValidationError(str(error)) from None
        return data

    def validate_unique(self):
        """The version number is the service's to choose; (name, version) is unique there."""
