from django import forms
from django.utils.translation import gettext_lazy as _

from classifier.labels import display_label
from feedback.labels import labels_for_prediction
from feedback.models import Feedback


class FeedbackForm(forms.ModelForm):
    is_correct = forms.TypedChoiceField(
        label=_("Is the top answer right?"),
        choices=[("true", _("Yes, it is right")), ("false", _("No, it is wrong"))],
        coerce=lambda value: value == "true",
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose yes or no.")},
    )

    class Meta:
        model = Feedback
        fields = ["is_correct", "correct_label", "comment"]
        labels = {"correct_label": _("What is it really?"), "comment": _("Comment (optional)")}
        help_texts = {
            "correct_label": _("Pick one of the 1,000 ImageNet labels or type your own."),
        }
        widgets = {
            "correct_label": forms.TextInput(
                attrs={"list": "imagenet-labels", "autocomplete": "off", "spellcheck": "false"}
            ),
            "comment": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, prediction=None, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.prediction = prediction
        if self.instance.pk and self.instance.is_correct is not None:
            self.initial["is_correct"] = "true" if self.instance.is_correct else "false"
        self.label_set = labels_for_prediction(prediction)
        if not self.label_set.is_imagenet:
            self.fields["correct_label"].help_text = _(
                "Pick one of this model's %(count)d labels or type your own."
            ) % {"count": len(self.label_set.labels)}
        if self.instance.pk and self.instance.stated_label:
            self.initial["correct_label"] = display_label(self.instance.stated_label)

    @property
    def label_suggestions(self) -> list[str]:
        """The answering model's readable labels for the datalist: this prediction's top 5
        first."""
        top5 = getattr(self.prediction, "top5", None) or []
        first = [display_label(entry["label"]) for entry in top5]
        seen = set(first)
        return first + [label for label in self.label_set.suggestions if label not in seen]
