"""Server-side SVG charts: no JavaScript, no CDN, nothing for a strict CSP to block.

Each function takes figures the selectors computed and returns inline SVG markup. Colours
come from CSS classes in static/css/site.css (`.chart …`); text is escaped by `format_html`.
"""

from __future__ import annotations

from django.utils.formats import date_format
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from classifier.labels import display_label
from classifier.presentation import format_percent

WIDTH, HEIGHT = 960, 260
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 52, 28, 12, 44  # right: room for "100%" centred
SERIES_CLASSES = 6  # .series-0 … .series-5 in site.css


def _tag(template: str, *args) -> SafeString:
    """`format_html` that keeps numbers numbers (so `{:.1f}` works); text is escaped."""
    return mark_safe(
        template.format(*(a if isinstance(a, int | float) else conditional_escape(a) for a in args))
    )


def _percent(value: float | None) -> str:
    return format_percent(value, empty="—")


def _svg(title: str, body: SafeString, *, height: int = HEIGHT, css: str = "") -> SafeString:
    return _tag(
        '<svg class="chart {}" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg"><title>{}</title>{}</svg>',
        css,
        WIDTH,
        height,
        title,
        title,
        body,
    )


def _y_axis(plot_h: int) -> SafeString:
    """Gridlines and labels for 0 %, 25 %, … 100 %."""
    lines = []
    for step in range(5):
        fraction = step / 4
        y = PAD_TOP + plot_h * (1 - fraction)
        lines.append(
            _tag(
                '<line class="gridline" x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}"/>'
                '<text class="axis" x="{}" y="{:.1f}" text-anchor="end">{}</text>',
                PAD_LEFT,
                WIDTH - PAD_RIGHT,
                y,
                y,
                PAD_LEFT - 6,
                y + 4,
                format_percent(fraction, decimals=0),
            )
        )
    return mark_safe("".join(lines))


def accuracy_line_chart(timeline) -> SafeString:
    """Accuracy from feedback per period bucket, one line per model; hover shows k/n."""
    title = _("Accuracy from feedback over time")
    if not timeline:
        return _svg(
            title,
            _tag('<text class="axis" x="20" y="40">{}</text>', _("No feedback in this period.")),
            height=60,
        )
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    moments = sorted({point.start for point in timeline})
    span = max(len(moments) - 1, 1)
    x_of = {
        moment: PAD_LEFT + plot_w * (index / span if len(moments) > 1 else 0.5)
        for index, moment in enumerate(moments)
    }

    def y_of(rate: float) -> float:
        return PAD_TOP + plot_h * (1 - rate)

    models = sorted({point.model_name for point in timeline})
    parts = [_y_axis(plot_h)]
    for index, model in enumerate(models):
        points = [point for point in timeline if point.model_name == model]
        css = f"series-{index % SERIES_CLASSES}"
        coordinates = " ".join(f"{x_of[p.start]:.1f},{y_of(p.accuracy.rate):.1f}" for p in points)
        parts.append(_tag('<polyline class="line {}" points="{}"/>', css, coordinates))
        parts.extend(
            _tag(
                '<circle class="dot {}" cx="{:.1f}" cy="{:.1f}" r="3.5">'
                "<title>{} · {}: {} ({}/{})</title></circle>",
                css,
                x_of[p.start],
                y_of(p.accuracy.rate),
                model,
                date_format(p.start, "SHORT_DATE_FORMAT"),
                _percent(p.accuracy.rate),
                p.accuracy.successes,
                p.accuracy.total,
            )
            for p in points
        )
        parts.append(
            _tag(
                '<text class="legend {}" x="{}" y="{}">■ {}</text>',
                css,
                PAD_LEFT + 8 + 260 * index,
                HEIGHT - 6,
                model,
            )
        )
    for moment in (moments[0], moments[-1]) if len(moments) > 1 else moments:
        parts.append(
            _tag(
                '<text class="axis" x="{:.1f}" y="{}" text-anchor="middle">{}</text>',
                x_of[moment],
                HEIGHT - PAD_BOTTOM + 14,
                date_format(moment, "SHORT_DATE_FORMAT"),
            )
        )
    return _svg(title, mark_safe("".join(parts)))


def calibration_chart(buckets, n_buckets: int = 10) -> SafeString:
    """Accuracy per confidence bucket as bars, against the diagonal a calibrated model follows."""
    title = _("Calibration: accuracy per confidence bucket")
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    bar_w = plot_w / n_buckets
    parts = [_y_axis(plot_h)]
    parts.append(
        _tag(
            '<line class="ideal" x1="{}" y1="{}" x2="{}" y2="{}"><title>{}</title></line>',
            PAD_LEFT,
            PAD_TOP + plot_h,
            PAD_LEFT + plot_w,
            PAD_TOP,
            _("perfectly calibrated"),
        )
    )
    for bucket in buckets:
        if bucket.accuracy.rate is None:
            continue
        x = PAD_LEFT + plot_w * bucket.low
        height = plot_h * bucket.accuracy.rate
        parts.append(
            _tag(
                '<rect class="cbar series-0" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}">'
                "<title>{}–{}: {} ({}/{})</title></rect>",
                x + 2,
                PAD_TOP + plot_h - height,
                bar_w - 4,
                height,
                _percent(bucket.low),
                _percent(bucket.high),
                _percent(bucket.accuracy.rate),
                bucket.accuracy.successes,
                bucket.accuracy.total,
            )
        )
    for step in range(0, n_buckets + 1, 2):
        parts.append(
            _tag(
                '<text class="axis" x="{:.1f}" y="{}" text-anchor="middle">{}</text>',
                PAD_LEFT + plot_w * step / n_buckets,
                HEIGHT - PAD_BOTTOM + 14,
                format_percent(step / n_buckets, decimals=0),
            )
        )
    parts.append(
        _tag(
            '<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>',
            PAD_LEFT + plot_w / 2,
            HEIGHT - 6,
            _("model confidence (top-1 score)"),
        )
    )
    return _svg(title, mark_safe("".join(parts)))


def confusion_bars(confusions) -> SafeString:
    """Most frequent confusions as horizontal bars, longest first."""
    title = _("Most frequent confusions")
    if not confusions:
        return _svg(
            title,
            _tag('<text class="axis" x="20" y="40">{}</text>', _("No corrections in this period.")),
            height=60,
        )
    row_h, label_w = 28, 380
    height = PAD_TOP + row_h * len(confusions) + 8
    most = max(item.count for item in confusions)
    scale = (WIDTH - label_w - PAD_RIGHT - 40) / most
    rows = []
    for index, item in enumerate(confusions):
        y = PAD_TOP + index * row_h
        rows.append(
            _tag(
                '<text class="axis" x="{}" y="{}" text-anchor="end">{} → {}</text>'
                '<rect class="cbar series-1" x="{}" y="{}" width="{:.1f}" height="{}">'
                "<title>{}</title></rect>"
                '<text class="axis" x="{:.1f}" y="{}">{}</text>',
                label_w - 8,
                y + 16,
                display_label(item.predicted),
                display_label(item.corrected),
                label_w,
                y + 4,
                item.count * scale,
                row_h - 8,
                item.count,
                label_w + item.count * scale + 6,
                y + 16,
                item.count,
            )
        )
    return _svg(title, mark_safe("".join(rows)), height=height)
