"""What the page tests share: predictions with their images really stored, and a page's text
as a person reads it."""

import html as html_lib
import re

import django_rq
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from classifier import services
from classifier.imaging import validate_image_bytes
from classifier.models import Prediction
from testing.photos import photo_bytes

TOP5 = [
    {"label": "tiger_cat", "score": 0.6213},
    {"label": "tabby", "score": 0.2104},
    {"label": "Egyptian_cat", "score": 0.1019},
    {"label": "lynx", "score": 0.0312},
    {"label": "Persian_cat", "score": 0.0004},
]


def make_prediction(owner, *, status="done", content=None, fmt="JPEG", **fields) -> Prediction:
    """A prediction with its image really stored, as the upload service leaves it."""
    image = validate_image_bytes(content or photo_bytes("chelsea", fmt))
    now = timezone.now()
    defaults = {
        "owner": owner,
        "image": services.store_image(image),
        "image_sha256": image.sha256,
        "original_filename": f"cat.{image.extension}",
        "model_name": "resnet50",
        "status": status,
    }
    if status == "done":
        defaults |= {
            "top5": TOP5,
            "label": TOP5[0]["label"],
            "score": TOP5[0]["score"],
            "started_at": now,
            "finished_at": now,
        }
    return Prediction.objects.create(**(defaults | fields))


INLINE_TAGS = r"a|abbr|b|code|em|i|label|small|span|strong|time"


def inner_text(html: str) -> str:
    """The page's text as a person reads it: inline tags dropped, other tags as spaces."""
    html = re.sub(rf"</?(?:{INLINE_TAGS})\b[^>]*>", "", html)
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html)).split())


def queue():
    return django_rq.get_queue(settings.INFERENCE_QUEUE)


def stored_files() -> list[str]:
    found = []
    if not default_storage.exists("images"):
        return found
    for folder in default_storage.listdir("images")[0]:
        found += default_storage.listdir(f"images/{folder}")[1]
    return found
