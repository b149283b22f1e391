"""How predictions are shown to people: readable labels, percentages, ages, top-5 bars.

Presentation only (no business rules); pages attach these to predictions before rendering.
`format_percent` (and `classifier.labels.display_label`) are the only percent and label
formats: every page, the admin, the quality charts and the API's `label_display` use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from django.utils.formats import get_format
from django.utils.timesince import timesince
from django.utils.translation import gettext, pgettext

from classifier.labels import display_label
from classifier.models import Prediction

#: How the worker marks untrained weights in the names it records (mlworker.catalog).
RANDOM_WEIGHTS_SUFFIX = " (random weights)"
#: How people know the architectures; the runtime and precision after "+" are for staff.
MODEL_FAMILIES = {"resnet50": "ResNet-50", "efficientnet_lite0": "EfficientNet-Lite0"}


def format_percent(fraction: float | None, *, decimals: int = 1, empty: str = "") -> str:
    """0.623 → "62.3%" in English, "62,3 %" in Spanish (CLDR's patterns): the active
    language's decimal separator, and its percent sign where that language puts it."""
    if fraction is None:
        return empty
    percent = fraction * 100
    smallest = 10**-decimals
    prefix = ""
    if 0 < percent < smallest:
        prefix, percent = "<", smallest
    number = f"{percent:.{decimals}f}".replace(".", get_format("DECIMAL_SEPARATOR"))
    # Translators: a percentage such as "62.3%"; Spanish writes "62,3 %" (no-break space).
    return pgettext("percentage", "%(number)s%%") % {"number": prefix + number}


def model_for_people(technical_names: str) -> str:
    """`efficientnet_lite0+openvino-fp32` → `EfficientNet-Lite0`: the architecture people
    may have heard of, without the runtime and precision staff and API clients compare.
    A list ("a, b": the models live workers run) is mapped name by name, each family once.
    Works on any recorded name (a name this table does not know reads with spaces)."""
    families = dict.fromkeys(_one_model_for_people(name) for name in technical_names.split(","))
    return ", ".join(family for family in families if family)


def _one_model_for_people(technical_name: str) -> str:
    name = technical_name.strip()
    untrained = name.endswith(RANDOM_WEIGHTS_SUFFIX)
    if untrained:
        name = name.removesuffix(RANDOM_WEIGHTS_SUFFIX)
    key = name.split("+", 1)[0].strip()
    family = MODEL_FAMILIES.get(key.casefold(), display_label(key))
    # Untrained weights answer at random: people must know, as staff do.
    return gettext("%(model)s (random weights)") % {"model": family} if untrained else family


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
    """Attach what the templates show: `display_label`, `percent`, `age`, the top-5 `bars`,
    `model_display`."""
    prediction.display_label = display_label(prediction.label)
    prediction.model_display = model_for_people(prediction.model_name)
    prediction.age = format_age(prediction.created_at)
    prediction.percent = format_percent(prediction.score)
    prediction.bars = [Bar.from_entry(entry) for entry in prediction.top5 or []]
    return prediction
