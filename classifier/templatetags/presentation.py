"""`{% load presentation %}`: the site's one label, percent and model-name formats for
templates (classifier.presentation), so every page writes them the same way."""

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from classifier import labels, presentation

register = template.Library()


@register.filter
def display_label(label) -> str:
    """`tiger_cat` → `tiger cat`."""
    return labels.display_label(label or "")


@register.filter
def percent(fraction) -> str:
    """0.8123 → "81.2%" (in the page's language); None → "—"."""
    return presentation.format_percent(fraction, empty="—")


@register.filter
def model_for_people(technical_name) -> str:
    """`efficientnet_lite0+openvino-fp32` → `EfficientNet-Lite0`."""
    return presentation.model_for_people(technical_name or "")


@register.filter
def model_breaks(technical_name) -> str:
    """A technical model name that may wrap after "+" (never inside a word)."""
    parts = [conditional_escape(part) for part in str(technical_name or "").split("+")]
    return mark_safe("+<wbr>".join(parts))
