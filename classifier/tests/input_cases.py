"""The inputs `test_bad_inputs` sends: multipart bodies built by hand, files of every kind,
and the tables of rejected uploads, accepted images, hostile file names and bad JSON, each
with what the server must answer. Kept apart from the tests because it is mostly data (also
listed in docs/RELIABILITY.md)."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from testing.photos import photo_bytes

BOUNDARY = "reliability-7MA4YWxkTrZu0gW"


# --- Building requests and files -----------------------------------------------------------
def multipart(field: str | None, filename: str | None, content: bytes) -> bytes:
    """One form part, the file name sent verbatim as UTF-8 (as browsers do)."""
    body = b""
    if field is not None:
        disposition = f'form-data; name="{field}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += (
            (
                f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
    else:
        body += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
        ).encode()
    return body + f"--{BOUNDARY}--\r\n".encode()


def post_upload(client, path: str, body: bytes):
    return client.generic(
        "POST", path, body, content_type=f"multipart/form-data; boundary={BOUNDARY}"
    )


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A few hundred bytes that claim `width`×`height` pixels: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def half_of(content: bytes) -> bytes:
    return content[: len(content) // 2]


RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def two_halves(top=RED, bottom=BLUE, size=(64, 48), mode="RGB") -> Image.Image:
    image = Image.new(mode, size, bottom)
    image.paste(top, (0, 0, size[0], size[1] // 2))
    return image


def exif_rotated_jpeg() -> bytes:
    """Stored 64×48 red-over-blue, tagged orientation 6: people see it turned 90° clockwise."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(two_halves(), "JPEG", exif=exif.tobytes(), quality=95)


def sixteen_bit_png() -> bytes:
    ramp = np.tile(np.linspace(0, 65535, 64), (48, 1)).astype(np.uint16)
    return encode(Image.fromarray(ramp), "PNG")  # mode I;16


def transparent_png() -> bytes:
    image = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (0, 0, 32, 48))
    return encode(image, "PNG")


def palette_gif() -> bytes:
    return encode(two_halves().quantize(colors=4), "GIF")


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 48), colour).quantize(colors=2) for colour in (RED, BLUE)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def lossless_webp_with_alpha() -> bytes:
    image = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    image.paste((0, 0, 255, 255), (32, 0, 64, 48))
    return encode(image, "WEBP", lossless=True)


def near(pixel, colour, tolerance=24) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


# --- The matrices --------------------------------------------------------------------------
@dataclass(frozen=True)
class Rejected:
    id: str
    what: str
    #: (file name, bytes), or None for a form without the file field
    build: Callable[[], tuple[str, bytes] | None]
    #: in `detail` (lower case); alternatives separated by " / "
    message: str
    settings: dict = field(default_factory=dict)

    @property
    def result(self) -> str:
        return f'400, detail mentions "{self.message}"; nothing stored or queued'

    def explains(self, detail: str) -> bool:
        return any(part in detail.lower() for part in self.message.split(" / "))


REJECTED = [
    Rejected("no-file-field", "multipart form without the file field", lambda: None, "no file"),
    Rejected(
        "empty-filename",
        'file part with filename=""',
        lambda: ("", photo_bytes("coffee")),
        "not a file / no file",
    ),
    Rejected("zero-bytes", "0-byte file named photo.jpg", lambda: ("photo.jpg", b""), "empty"),
    Rejected(
        "text-as-jpg",
        "plain text named notes.jpg",
        lambda: ("notes.jpg", b"hello, I am text, not a photo\n" * 20),
        "not supported",
    ),
    Rejected(
        "pdf",
        "a PDF document",
        lambda: ("doc.pdf", b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<<>>\n%%EOF\n"),
        "not supported",
    ),
    Rejected(
        "svg",
        "an SVG (XML with a script) named cat.png",
        lambda: (
            "cat.png",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        ),
        "not supported",
    ),
    Rejected(
        "tiff",
        "a real TIFF image (decodable, not an accepted format)",
        lambda: ("scan.tiff", photo_bytes("coffee", "TIFF")),
        "not supported",
    ),
    Rejected(
        "truncated-jpeg",
        "first half of a real JPEG",
        lambda: ("cat.jpg", half_of(photo_bytes("chelsea"))),
        "damaged",
    ),
    Rejected(
        "truncated-png",
        "first half of a real PNG",
        lambda: ("cat.png", half_of(photo_bytes("chelsea", "PNG"))),
        "damaged",
    ),
    Rejected(
        "over-size-cap",
        "10 MB + 1 byte (MAX_UPLOAD_MB=10, the default)",
        lambda: ("big.jpg", photo_bytes("coffee").ljust(10 * 1024 * 1024 + 1, b"\0")),
        "limit",
        {"MAX_UPLOAD_MB": 10},
    ),
    Rejected(
        "bomb-over-pixel-limit",
        "250-byte PNG claiming 8000×6000 px (48 Mpx > MAX_IMAGE_PIXELS 40 Mpx)",
        lambda: ("bomb.png", png_header_only(8000, 6000)),
        "pixels",
        {"MAX_IMAGE_PIXELS": 40_000_000},
    ),
    Rejected(
        "bomb-huge",
        "250-byte PNG claiming 60000×60000 px (3.6 Gpx, Pillow's own bomb check)",
        lambda: ("bomb.png", png_header_only(60000, 60000)),
        "pixels",
    ),
    Rejected(
        "traversal-name-bad-bytes",
        "text named ../../x.jpg",
        lambda: ("../../x.jpg", b"not an image"),
        "not supported",
    ),
]

ENDPOINTS = {
    "api": ("/api/predictions/", "image"),
    "legacy": ("/model/predict", "file"),
}


@dataclass(frozen=True)
class Accepted:
    id: str
    what: str
    build: Callable[[], bytes]
    #: what a person sees, asserted on open_rgb's output
    check: Callable[[Image.Image], bool]
    seen_as: str
    name: str = "photo"

    @property
    def result(self) -> str:
        return f"accepted (202), classified by the worker; model input: {self.seen_as}"


ACCEPTED = [
    Accepted(
        "cmyk-jpeg",
        "CMYK JPEG, solid red",
        lambda: encode(Image.new("CMYK", (64, 48), (0, 255, 255, 0)), "JPEG"),
        lambda rgb: near(rgb.getpixel((32, 24)), RED),
        "red in RGB",
    ),
    Accepted(
        "png-16-bit",
        "16-bit greyscale PNG, black→white ramp",
        sixteen_bit_png,
        lambda rgb: (
            rgb.getpixel((0, 10))[0] <= 5
            and rgb.getpixel((63, 10))[0] >= 250
            and 100 <= rgb.getpixel((32, 10))[0] <= 155
        ),
        "the same ramp in 8 bits (not clipped to white)",
    ),
    Accepted(
        "grayscale-jpeg",
        "8-bit greyscale JPEG photo",
        lambda: photo_bytes("camera"),
        lambda rgb: len(set(rgb.getpixel((100, 100)))) == 1,
        "grey RGB (R = G = B)",
    ),
    Accepted(
        "rgba-png",
        "RGBA PNG, left half red, right half transparent",
        transparent_png,
        lambda rgb: near(rgb.getpixel((10, 24)), RED, 0) and rgb.getpixel((50, 24)) == WHITE,
        "red, transparency flattened onto white",
    ),
    Accepted(
        "palette-gif",
        "palette GIF, red over blue",
        palette_gif,
        lambda rgb: near(rgb.getpixel((32, 5)), RED) and near(rgb.getpixel((32, 40)), BLUE),
        "red over blue",
    ),
    Accepted(
        "animated-gif",
        "animated GIF, frame 1 red, frame 2 blue",
        animated_gif,
        lambda rgb: near(rgb.getpixel((32, 24)), RED),
        "first frame (red)",
    ),
    Accepted(
        "exif-rotated-jpeg",
        "64×48 JPEG, red over blue, EXIF orientation 6",
        exif_rotated_jpeg,
        lambda rgb: (
            rgb.size == (48, 64)
            and near(rgb.getpixel((44, 32)), RED)
            and near(rgb.getpixel((4, 32)), BLUE)
        ),
        "upright: 48×64, red on the right",
    ),
    Accepted(
        "webp-lossy",
        "lossy WebP photo",
        lambda: photo_bytes("chelsea", "WEBP", quality=80),
        lambda rgb: rgb.size == (451, 300),
        "451×300 RGB",
    ),
    Accepted(
        "webp-lossless-alpha",
        "lossless WebP, left transparent, right blue",
        lossless_webp_with_alpha,
        lambda rgb: rgb.getpixel((5, 5)) == WHITE and near(rgb.getpixel((60, 5)), BLUE, 0),
        "white then blue",
    ),
    Accepted(
        "bmp",
        "BMP photo",
        lambda: photo_bytes("coffee", "BMP"),
        lambda rgb: rgb.size == (600, 400),
        "600×400 RGB",
    ),
]


@dataclass(frozen=True)
class Named:
    id: str
    sent: str
    stored_as: str  # the display name kept on the prediction

    @property
    def what(self) -> str:
        if len(self.sent) > 60:
            return f"valid JPEG sent with a {len(self.sent)}-character name"
        return f"valid JPEG sent as {self.sent!r}"

    @property
    def result(self) -> str:
        shown = self.stored_as if len(self.stored_as) < 60 else f"{len(self.stored_as)} chars"
        return (
            f"accepted; display name {shown!r}; bytes stored only as "
            "MEDIA_ROOT/images/<sha256[:2]>/<sha256>.jpg"
        )


LONG = "猫" * 300 + ".jpg"
NAMES = [
    Named("traversal-name", "../../x.jpg", "x.jpg"),
    Named("windows-traversal-name", "..\\..\\windows\\evil.jpg", "evil.jpg"),
    Named("absolute-path-name", "/etc/cron.d/job.jpg", "job.jpg"),
    Named("unicode-name", "Ünïcødé 猫 🐱.jpg", "Ünïcødé 猫 🐱.jpg"),
    Named("long-name", LONG, "猫" * 251 + ".jpg"),
    Named("control-chars-name", "cat\x1b[31m\x07.jpg", "cat[31m.jpg"),
    Named("html-name", "<img src=x onerror=alert(1)>.jpg", "<img src=x onerror=alert(1)>.jpg"),
]


@dataclass(frozen=True)
class BadJson:
    id: str
    what: str
    body: bytes
    message: str

    @property
    def result(self) -> str:
        return f'400 on every JSON endpoint, detail mentions "{self.message}"'


BAD_JSON = [
    BadJson("json-malformed", "cut-off JSON object", b'{"email": "a@example.com", ', "json"),
    BadJson("json-not-utf8", "bytes that are not UTF-8", b"\xff\xfe\x00{", "json"),
    BadJson("json-deeply-nested", "60 000 nested arrays", b"[" * 60_000, "json"),
    BadJson("json-array", "a JSON array instead of an object", b"[1, 2]", "expected a dictionary"),
    BadJson("json-number", "a bare number", b"42", "expected a dictionary"),
    BadJson("json-null", "null", b"null", "no data"),
]

# Each JSON endpoint with a body whose fields all have the wrong types.
JSON_ENDPOINTS = {
    "token": ("/api/auth/token/", False, {"email": ["a@example.com"], "password": {"x": 1}}),
    "token-refresh": ("/api/auth/token/refresh/", False, {"refresh": ["x"]}),
    "register": ("/api/auth/register/", False, {"email": 5, "name": [], "password": True}),
    "feedback": ("/api/feedback/", True, {"prediction": 12, "is_correct": "perhaps"}),
    "legacy-register": ("/user/", False, {"email": [], "name": {}, "password": None}),
    "legacy-feedback": (
        "/feedback/",
        True,
        {"feedback": [], "score": "high", "predicted_class": {}, "image_file_name": None},
    ),
}
