"""Bad and unusual inputs on every upload endpoint and every JSON endpoint.

Uploads go to `/api/predictions/` (field `image`) and the older API's `/model/predict`
(field `file`). Multipart bodies are built by hand so the file name reaches the server
exactly as a hostile client would send it (the test client would strip directories).

A rejected upload must be a 4xx with a readable `detail`, and leave nothing behind: no
Prediction row, no file in MEDIA_ROOT, no job on the queue. An accepted one is decoded by
`classifier.imaging.open_rgb` the way a person would see it and classified by the worker.
"""

from __future__ import annotations

from pathlib import Path

import django_rq
import pytest
from django.conf import settings as django_settings

from classifier.imaging import open_rgb
from classifier.models import Prediction
from classifier.tests.input_cases import (
    ACCEPTED,
    BAD_JSON,
    BOUNDARY,
    ENDPOINTS,
    JSON_ENDPOINTS,
    NAMES,
    REJECTED,
    multipart,
    post_upload,
)
from classifier.tests.reliability_doc import check_section
from testing.clients import jwt_client
from testing.photos import photo_bytes

pytestmark = pytest.mark.django_db


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
