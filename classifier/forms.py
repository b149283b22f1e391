from django import forms
from django.utils.translation import gettext_lazy as _
from PIL import Image

from classifier.imaging import ACCEPTED_FORMATS

# What the file picker offers: the accepted formats' real MIME types ("image/jpeg", not the
# extension-based "image/jpg", which browsers do not recognise), plus their extensions.
Image.init()  # registers every format's MIME type in Image.MIME
ACCEPT = ",".join(
    [Image.MIME[fmt] for fmt in ACCEPTED_FORMATS]
    + sorted({f".{ext}" for ext in ACCEPTED_FORMATS.values()} | {".jpeg"})
)


class UploadForm(forms.Form):
    image = forms.FileField(
        label=_("Photo"),
        allow_empty_file=True,  # the service gives emptiness its own message
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT}),
    )
