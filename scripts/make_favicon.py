"""Draw the site's logo (indigo rounded square, white magnifier, as in
templates/includes/logo.html) into static/favicon.ico at 16, 32 and 48 px.

    .venv/bin/python scripts/make_favicon.py
"""

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "static" / "favicon.ico"
INDIGO = (67, 56, 202, 255)  # --accent in static/css/site.css
SIZE = 256  # drawn large, then scaled down by the ICO encoder: smooth edges


def draw() -> Image.Image:
    unit = SIZE / 32  # the logo's SVG is drawn on a 32-unit grid

    def box(cx: float, cy: float, radius: float) -> list[float]:
        return [
            (cx - radius) * unit,
            (cy - radius) * unit,
            (cx + radius) * unit,
            (cy + radius) * unit,
        ]

    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    pen.rounded_rectangle([0, 0, SIZE - 1, SIZE - 1], radius=8 * unit, fill=INDIGO)
    pen.ellipse(box(14, 14, 6.5), outline="white", width=round(2.6 * unit))
    pen.line(
        [19 * unit, 19 * unit, 24.5 * unit, 24.5 * unit], fill="white", width=round(2.8 * unit)
    )
    pen.ellipse(box(24.5, 24.5, 1.4), fill="white")  # the handle's round end
    return image


if __name__ == "__main__":
    draw().save(OUT, sizes=[(16, 16), (32, 32), (48, 48)])
    print(f"wrote {OUT}")
