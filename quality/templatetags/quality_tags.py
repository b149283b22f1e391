from django import template

register = template.Library()


@register.filter
def percent(value):
    """0.8123 → "81.2 %"; None → "—"."""
    return "—" if value is None else f"{value * 100:.1f} %"


@register.filter
def readable(label):
    return (label or "").replace("_", " ")
