"""The training curve as a small inline SVG (no JavaScript, no external chart library)."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join

WIDTH, HEIGHT, PAD = 360, 140, 24
SERIES = (("accuracy", "#1f77b4"), ("val_accuracy", "#d62728"))


def _points(values: list[float]) -> str:
    steps = max(len(values) - 1, 1)
    return " ".join(
        f"{PAD + (WIDTH - 2 * PAD) * i / steps:.1f},{HEIGHT - PAD - (HEIGHT - 2 * PAD) * v:.1f}"
        for i, v in enumerate(values)
    )


def curve_svg(curve: list[dict]):
    """Accuracy (blue) and validation accuracy (red) per epoch, on a 0–1 scale."""
    lines = format_html_join(
        "",
        '<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>'
        '<text x="{}" y="{}" font-size="10" fill="{}">{}</text>',
        (
            (color, _points([row.get(key, 0.0) for row in curve]), WIDTH - PAD, y, color, key)
            for (key, color), y in zip(SERIES, (12, 24), strict=True)
        ),
    )
    return format_html(
        '<svg role="img" aria-label="training curve" width="{}" height="{}" '
        'viewBox="0 0 {} {}"><rect x="{}" y="{}" width="{}" height="{}" fill="none" '
        'stroke="#ccc"/>{}<text x="{}" y="{}" font-size="10">epochs: {}</text></svg>',
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        PAD,
        PAD,
        WIDTH - 2 * PAD,
        HEIGHT - 2 * PAD,
        lines,
        PAD,
        HEIGHT - 6,
        len(curve),
    )
