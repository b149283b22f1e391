"""Decoding is bounded in memory: a 150 KB PNG of 39.7 megapixels (under the pixel cap) is
checked without its pixels, and full decodes in one process share a pixel budget."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time

import pytest
from django.utils import translation
from PIL import Image

from classifier import imaging
from testing.photos import photo_bytes

BOMB_SIDE = 6300  # 39.7 Mpx, under MAX_IMAGE_PIXELS (40 M)


def png_bomb() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (BOMB_SIDE, BOMB_SIDE), (40, 120, 200, 255)).save(buffer, "PNG")
    return buffer.getvalue()


# VmHWM is this process's own peak (getrusage's maxrss starts from the parent's).
PEAK_GROWTH = """
import os, re, sys
sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
from classifier.imaging import validate_image_bytes
def peak_kb():
    with open("/proc/self/status") as status:
        return int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
content = sys.stdin.buffer.read()
before = peak_kb()
image = validate_image_bytes(content)
after = peak_kb()
print((after - before) // 1024, image.width, image.height)
"""


def validation_peak_growth_mb(content: bytes) -> tuple[int, int, int]:
    """Validate in a fresh process; how much its peak memory grew (MB), and the size seen."""
    result = subprocess.run(
        [sys.executable, "-c", PEAK_GROWTH],
        input=content,
        capture_output=True,
        timeout=120,
        check=True,
        env={"DEBUG": "1", "PATH": "/usr/bin:/bin"},
    )
    growth, width, height = map(int, result.stdout.split())
    return growth, width, height


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_the_web_checks_a_39_megapixel_image_without_its_pixels(fmt):
    content = png_bomb()
    if fmt == "JPEG":  # the same size as a JPEG (about 700 KB): decoded at an eighth
        buffer = io.BytesIO()
        Image.open(io.BytesIO(content)).convert("RGB").save(buffer, "JPEG", quality=50)
        content = buffer.getvalue()
    growth, width, height = validation_peak_growth_mb(content)
    assert (width, height) == (BOMB_SIDE, BOMB_SIDE)
    assert growth < 40, f"validation grew the peak by {growth} MB (RGBA pixels: 159 MB)"


@translation.override("en")  # the messages are matched in English
def test_damaged_files_are_still_refused_without_a_full_decode():
    for fmt in ("PNG", "JPEG"):
        content = photo_bytes("chelsea", fmt)
        for damaged in (content[: len(content) // 2], content[:-20]):
            with pytest.raises(imaging.InvalidImage, match="damaged or incomplete"):
                imaging.validate_image_bytes(damaged)
    flipped = bytearray(photo_bytes("chelsea", "PNG"))
    flipped[len(flipped) // 2] ^= 0xFF  # inside the image data: its checksum no longer holds
    with pytest.raises(imaging.InvalidImage, match="damaged or incomplete"):
        imaging.validate_image_bytes(bytes(flipped))


def test_full_decodes_in_one_process_share_the_pixel_budget(settings):
    """Two images that together exceed the budget take turns; small ones go together."""
    settings.DECODE_PIXEL_BUDGET = 100
    budget = imaging.full_decodes
    order: list[str] = []
    first_holds = threading.Event()
    release_first = threading.Event()

    def hold(name: str, pixels: int, *, signal=None, wait=None):
        with budget.hold(pixels):
            order.append(f"{name} in")
            if signal:
                signal.set()
            if wait:
                assert wait.wait(10)
            order.append(f"{name} out")

    first = threading.Thread(
        target=hold, args=("big", 60), kwargs={"signal": first_holds, "wait": release_first}
    )
    first.start()
    assert first_holds.wait(10)
    small = threading.Thread(target=hold, args=("small", 30))
    small.start()
    small.join(10)
    assert order == ["big in", "small in", "small out"]  # 60 + 30 fits: no wait
    second = threading.Thread(target=hold, args=("second big", 60))
    second.start()
    time.sleep(0.3)
    assert "second big in" not in order  # 60 + 60 does not: it waits
    release_first.set()
    first.join(10)
    second.join(10)
    assert order[-3:] == ["big out", "second big in", "second big out"]
    alone = threading.Thread(target=hold, args=("huge", 500))  # over the budget: alone
    alone.start()
    alone.join(10)
    assert order[-1] == "huge out"


def test_the_worker_decodes_under_the_budget_and_gets_the_same_pixels():
    content = photo_bytes("chelsea", "JPEG")
    seen = imaging.decode_rgb(content, lambda picture: (picture.mode, picture.tobytes()))
    reference = Image.open(io.BytesIO(content)).convert("RGB")
    assert seen == ("RGB", reference.tobytes())


def test_the_worker_decodes_a_large_jpeg_only_as_large_as_the_model_needs():
    content = photo_bytes("chelsea", "JPEG", size=(3600, 2400))
    full = imaging.decode_rgb(content, lambda picture: picture.size)
    scaled = imaging.decode_rgb(content, lambda picture: picture.size, min_side=448)
    assert full == (3600, 2400)
    assert scaled == (900, 600)  # a quarter: an eighth (450 × 300) would fall under 448
    png = photo_bytes("chelsea", "PNG", size=(1200, 800))  # PNG decoders cannot scale
    assert imaging.decode_rgb(png, lambda picture: picture.size, min_side=448) == (1200, 800)
