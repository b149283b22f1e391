"""Overload: a full queue refuses uploads at once (503 + Retry-After), storing nothing.

Real Redis queue: the tests fill it with real uploads (no worker runs), then upload once
more through each door (API, HTML form, the older API).
"""

from __future__ import annotations

from pathlib import Path

import django_rq
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier import queueing
from classifier.models import Prediction
from testing.clients import jwt_client
from testing.photos import distinct_photo

pytestmark = pytest.mark.django_db

CAP = 3


def queue():
    return django_rq.get_queue(settings.INFERENCE_QUEUE)


def stored_files() -> list[Path]:
    return sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


@pytest.fixture
def full_queue(api_client, settings):
    """MAX_QUEUE_DEPTH=3 and three uploads waiting for a worker that is not there."""
    settings.MAX_QUEUE_DEPTH = CAP
    settings.PREDICT_WAIT_SECONDS = 0
    for seed in range(CAP):
        response = api_client.post(
            "/api/predictions/",
            {"image": SimpleUploadedFile(f"{seed}.jpg", distinct_photo(seed))},
            format="multipart",
        )
        assert response.status_code == 202, response.content
    assert queue().count == CAP
    return {"predictions": Prediction.objects.count(), "files": stored_files()}


def assert_nothing_changed(before) -> None:
    assert queue().count == CAP
    assert Prediction.objects.count() == before["predictions"]
    assert stored_files() == before["files"]


def test_api_upload_to_a_full_queue_is_503_with_retry_after_and_stores_nothing(
    api_client, full_queue
):
    response = api_client.post(
        "/api/predictions/",
        {"image": SimpleUploadedFile("late.jpg", distinct_photo(99))},
        format="multipart",
    )
    assert response.status_code == 503
    assert int(response["Retry-After"]) >= 1
    detail = response.json()["detail"]
    assert "busy" in detail and f"{CAP} images are waiting" in detail
    assert "Nothing was stored" in detail
    assert_nothing_changed(full_queue)


def test_html_upload_to_a_full_queue_is_503_with_the_message_on_the_form(client, user, full_queue):
    client.force_login(user)
    response = client.post("/", {"image": SimpleUploadedFile("late.jpg", distinct_photo(99))})
    assert response.status_code == 503
    assert int(response["Retry-After"]) >= 1
    assert "The service is busy" in response.content.decode()
    assert_nothing_changed(full_queue)


def test_legacy_upload_to_a_full_queue_is_503_with_retry_after(user, full_queue):
    response = jwt_client(user).post(
        "/model/predict",
        {"file": SimpleUploadedFile("late.jpg", distinct_photo(99))},
        format="multipart",
    )
    assert response.status_code == 503
    assert int(response["Retry-After"]) >= 1
    assert "busy" in response.json()["detail"]
    assert_nothing_changed(full_queue)


def test_a_full_queue_refuses_before_reading_the_image(api_client, full_queue):
    """Even a broken file gets the overload answer: nothing is decoded while overloaded."""
    response = api_client.post(
        "/api/predictions/",
        {"image": SimpleUploadedFile("notes.txt", b"not an image")},
        format="multipart",
    )
    assert response.status_code == 503


def test_retry_after_follows_the_live_workers_measured_pace(
    api_client, full_queue, settings, live_model
):
    connection = queue().connection
    # Two workers, each 10 s per image: 0.2 images/s; a tenth of the queue (0.3 images)
    # takes 1.5 s → 2 s.
    for name in ("w1", "w2"):
        queueing.record_pace(connection, worker_name=name, seconds=10, images=1)
        live_model(worker=name)
    late = SimpleUploadedFile("late.jpg", distinct_photo(99))
    response = api_client.post("/api/predictions/", {"image": late}, format="multipart")
    assert response["Retry-After"] == "2"


def test_room_in_the_queue_again_accepts_uploads(api_client, full_queue, run_worker):
    run_worker()
    response = api_client.post(
        "/api/predictions/",
        {"image": SimpleUploadedFile("later.jpg", distinct_photo(99))},
        format="multipart",
    )
    assert response.status_code == 202


def test_cap_zero_turns_the_check_off(api_client, settings):
    settings.MAX_QUEUE_DEPTH = 0
    settings.PREDICT_WAIT_SECONDS = 0
    for seed in range(3):
        response = api_client.post(
            "/api/predictions/",
            {"image": SimpleUploadedFile(f"{seed}.jpg", distinct_photo(seed))},
            format="multipart",
        )
        assert response.status_code == 202
