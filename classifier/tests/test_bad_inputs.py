"""Bad and unusual inputs on every upload endpoint and every JSON endpoint.

Uploads go to `/api/predictions/` (field `image`) and the older API's `/model/predict`
(field `file`). Multipart bodies are built by hand so the file name reaches the server
exactly as a hostile client would send it (the test client would strip directories).

A rejected upload must be a 4xx with a readable `detail`, and leave nothing behind: no
Prediction row, no file in MEDIA_ROOT, no job on the queue. An accepted one is decoded by
`classifier.imaging.open_rgb` the way a person would see it and classified by the worker.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import django_rq
import numpy as np
import pytest
from django.conf import settings as django_settings
from PIL import Image

from classifier.imaging import open_rgb
from classifier.models import Prediction
from classifier.tests.reliability_doc import check_section
from conftest import jwt_client, photo_bytes

pytestmark = pytest.mark.django_db

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


# --- Fixtures ------------------------------------------------------------------------------
@pytest.fixture
def user(django_user_model):
    """JWT callers need no password, and hashing one costs more than most tests here."""
    return django_user_model.objects.create_user(email="alice@example.com", name="alice")


@pytest.fixture
def media(settings, private_media) -> Path:
    settings.PREDICT_WAIT_SECONDS = 0
    return private_media


def stored_files(media: Path) -> list[Path]:
    return [path for path in media.rglob("*") if path.is_file()] if media.exists() else []


def queued_jobs() -> int:
    return django_rq.get_queue(django_settings.INFERENCE_QUEUE).count


# --- Rejected uploads ----------------------------------------------------------------------
@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
@pytest.mark.parametrize("case", REJECTED, ids=lambda case: case.id)
def test_rejected_upload_is_400_with_a_message_and_leaves_nothing(
    case, endpoint, user, media, settings
):
    for name, value in case.settings.items():
        setattr(settings, name, value)
    path, field_name = ENDPOINTS[endpoint]
    built = case.build()
    body = multipart(None, None, b"") if built is None else multipart(field_name, *built)
    response = post_upload(jwt_client(user), path, body)
    assert response.status_code == 400, response.content[:300]
    assert case.explains(response.json()["detail"])
    assert Prediction.objects.count() == 0
    assert stored_files(media) == []
    assert queued_jobs() == 0


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_body_far_over_the_cap_is_413_before_it_is_read(endpoint, user, media):
    path, field_name = ENDPOINTS[endpoint]
    body = multipart(field_name, "huge.jpg", b"\xff\xd8" + b"\0" * (12 * 1024 * 1024))
    response = post_upload(jwt_client(user), path, body)
    assert response.status_code == 413
    assert "10 MB upload limit" in response.json()["detail"]
    assert Prediction.objects.count() == 0
    assert stored_files(media) == []
    assert queued_jobs() == 0


def test_browser_posting_far_over_the_cap_gets_a_413_page(client, user, media):
    client.force_login(user)
    body = multipart("image", "huge.jpg", b"\0" * (12 * 1024 * 1024))
    response = client.generic(
        "POST",
        "/",
        body,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        HTTP_ACCEPT="text/html,application/xhtml+xml",
    )
    assert response.status_code == 413
    assert "10 MB upload limit" in response.content.decode()
    assert Prediction.objects.count() == 0


# --- Accepted images -----------------------------------------------------------------------
@pytest.mark.parametrize("case", ACCEPTED, ids=lambda case: case.id)
def test_accepted_image_reaches_the_model_as_a_person_sees_it(case):
    rgb = open_rgb(case.build())
    assert rgb.mode == "RGB"
    assert case.check(rgb), f"{case.id}: model input is not {case.seen_as}"


def test_every_accepted_kind_is_queued_then_classified_by_the_worker(user, media, run_worker):
    client = jwt_client(user)
    ids = {}
    for case in ACCEPTED:
        response = post_upload(
            client, "/api/predictions/", multipart("image", f"{case.id}.img", case.build())
        )
        assert response.status_code == 202, (case.id, response.content[:300])
        ids[case.id] = response.json()["id"]
    assert queued_jobs() == len(ACCEPTED)
    run_worker(batch_size=len(ACCEPTED))
    for case_id, prediction_id in ids.items():
        done = client.get(f"/api/predictions/{prediction_id}/").json()
        assert done["status"] == "done", (case_id, done["error"])
        assert len(done["top5"]) == 5


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda case: case.id)
def test_legacy_endpoint_accepts_the_same_kinds(case, user, media):
    response = post_upload(
        jwt_client(user), "/model/predict", multipart("file", f"{case.id}.img", case.build())
    )
    # No worker runs here: the old contract answers 504 "still queued" after the wait.
    assert response.status_code == 504, response.content[:300]
    assert Prediction.objects.get().status == "queued"
    assert queued_jobs() == 1


# --- Hostile and unusual file names --------------------------------------------------------
@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
@pytest.mark.parametrize("case", NAMES, ids=lambda case: case.id)
def test_file_name_is_kept_for_display_only_never_used_as_a_path(
    case, endpoint, user, media, tmp_path
):
    path, field_name = ENDPOINTS[endpoint]
    content = photo_bytes("rocket")
    response = post_upload(jwt_client(user), path, multipart(field_name, case.sent, content))
    assert response.status_code in (202, 504), response.content[:300]  # accepted, queued
    prediction = Prediction.objects.get()
    assert prediction.original_filename == case.stored_as
    sha = prediction.image_sha256
    assert stored_files(media) == [media / "images" / sha[:2] / f"{sha}.jpg"]
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == stored_files(media)


def test_hostile_file_name_is_escaped_where_it_is_shown(client, user, media):
    client.force_login(user)
    case = next(case for case in NAMES if case.id == "html-name")
    body = multipart("image", case.sent, photo_bytes("rocket"))
    post_upload(jwt_client(user), "/api/predictions/", body)
    prediction = Prediction.objects.get()
    for page in ("/predictions/", f"/predictions/{prediction.pk}/"):
        html = client.get(page).content.decode()
        assert "<img src=x onerror" not in html


# --- JSON endpoints ------------------------------------------------------------------------
@pytest.mark.parametrize("endpoint", sorted(JSON_ENDPOINTS))
@pytest.mark.parametrize("case", BAD_JSON, ids=lambda case: case.id)
def test_bad_json_is_400_with_a_message(case, endpoint, user, client):
    path, needs_login, _ = JSON_ENDPOINTS[endpoint]
    caller = jwt_client(user) if needs_login else client
    response = caller.generic("POST", path, case.body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert case.message in response.json()["detail"].lower()


@pytest.mark.parametrize("endpoint", sorted(JSON_ENDPOINTS))
def test_wrong_types_are_400_naming_a_field(endpoint, user, client):
    path, needs_login, body = JSON_ENDPOINTS[endpoint]
    caller = jwt_client(user) if needs_login else client
    response = caller.post(path, body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    detail = response.json()
    assert set(detail["errors"]) & set(body), detail


def test_json_sent_to_the_upload_endpoint_is_415(user):
    response = jwt_client(user).post("/api/predictions/", {"image": "x"}, format="json")
    assert response.status_code == 415
    assert "unsupported media type" in response.json()["detail"].lower()


# --- The document --------------------------------------------------------------------------
def test_reliability_doc_lists_every_input_case():
    endpoints = " and ".join(path for path, _ in ENDPOINTS.values())
    rows = [(case.id, f"{case.what} → {endpoints}", case.result) for case in REJECTED]
    rows.append(
        (
            "far-over-size-cap",
            f"12 MB body (over MAX_UPLOAD_MB + 1 MB of form room) → {endpoints}",
            "413 before the body is read (config.middleware.RequestSizeLimitMiddleware), "
            "detail names the limit; nothing stored or queued",
        )
    )
    rows += [(case.id, case.what, case.result) for case in ACCEPTED]
    rows += [(case.id, case.what, case.result) for case in NAMES]
    rows.append(
        (
            "html-name-shown",
            "history and result pages of a prediction named <img src=x onerror=alert(1)>.jpg",
            "the name is shown escaped, never as markup",
        )
    )
    json_paths = ", ".join(path for path, _, _ in JSON_ENDPOINTS.values())
    rows += [(case.id, f"{case.what} → {json_paths}", case.result) for case in BAD_JSON]
    rows.append(
        (
            "json-wrong-types",
            "every field of the wrong type (lists, objects, numbers, null) → " + json_paths,
            "400, `errors` names the offending fields",
        )
    )
    rows.append(("json-to-upload", "JSON body to /api/predictions/", "415 Unsupported media type"))
    check_section("inputs", rows)
