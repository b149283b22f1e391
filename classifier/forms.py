from django import forms

from classifier.imaging import ACCEPTED_FORMATS


class UploadForm(forms.Form):
    image = forms.FileField(
        allow_empty_file=True,  # the service gives emptiness its own message
        widget=forms.ClearableFileInput(
            attrs={"accept": ",".join(f"image/{ext}" for ext in ACCEPTED_FORMATS.values())}
        ),
    )
