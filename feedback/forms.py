from django import forms

from feedback.models import Feedback


class FeedbackForm(forms.ModelForm):
    is_correct = forms.TypedChoiceField(
        label="Was the answer right?",
        choices=[("true", "Yes, it is right"), ("false", "No, it is wrong")],
        coerce=lambda value: value == "true",
        widget=forms.RadioSelect,
    )

    class Meta:
        model = Feedback
        fields = ["is_correct", "correct_label", "comment"]
        labels = {"correct_label": "What is it really?", "comment": "Comment (optional)"}
        widgets = {
            "correct_label": forms.TextInput(attrs={"list": "imagenet-labels"}),
            "comment": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.is_correct is not None:
            self.initial["is_correct"] = "true" if self.instance.is_correct else "false"
