"""How predictions are shown to people: readable labels, percentages, ages, top-5 bars.

Presentation only (no business rules); pages attach these to predictions before rendering.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext

from classifier.models import Prediction


def display_label(label: str) -> str:
    """ImageNet names use underscores ("tiger_cat"); people read "tiger cat"."""
    return label.replace("_", " ").strip()


def format_percent(score: float | None) -> str:
    if score is None:
        return ""
    percent = score * 100
    if 0 < percent < 0.1:
        return "<0.1%"
    return f"{percent:.1f}%"


def format_age(moment) -> str:
    if timezone.now() - moment < timedelta(minutes=1):
        return gettext("just now")
    return gettext("%(time)s ago") % {"time": timesince(moment)}


@dataclass(frozen=True)
class Bar:
    """One of the top-5 rows: the raw label stays available next to the readable one."""

    label: str
    display: str
    percent: str  # "62.3%", for people
    width: str  # "62.30", for the CSS width (never localised)

    @classmethod
    def from_entry(cls, entry: dict) -> Bar:
        score = max(0.0, min(1.0, float(entry["score"])))
        return cls(
            label=entry["label"],
            display=display_label(entry["label"]),
            percent=format_percent(score),
            width=f"{score * 100:.2f}",
        )


def present(prediction: Prediction) -> Prediction:
    """Attach what the templates show: `display_label`, `percent`, `age`, the top-5 `bars`."""
    prediction.display_label = display_label(prediction.label)
    prediction.age = format_age(prediction.created_at)
    prediction.percent = format_percent(prediction.score)
    prediction.bars = [Bar.from_entry(entry) for entry in prediction.top5 or []]
    return prediction
