"""The older API's POST /model/predict: one request, one answer, old shapes and codes."""

import hashlib
import io

import django_rq
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.test import APIClient

from classifier import services
from classifier.models import Prediction
from classifier.tests.page_helpers import make_prediction
from mlworker import lifecycle
from testing.live_stack import TEST_MODEL_NAME
from testing.photos import photo_bytes

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"


def predict(client, content: bytes, name: str = "dog.jpeg", field: str = "file"):
    return client.post(
        "/model/predict", {field: SimpleUploadedFile(name, content)}, format="multipart"
    )


def queue():
    return django_rq.get_queue(settings.INFERENCE_QUEUE)


def earlier_answer(owner, content: bytes, label: str, score: float) -> Prediction:
    """A finished prediction of the same bytes, its image stored (the cache is looked up only
    for bytes the store already holds), so the upload is answered from the cache."""
    return make_prediction(
        owner,
        content=content,
        model_name=TEST_MODEL_NAME,
        label=label,
        score=score,
        top5=[{"label": label, "score": score}],
    )


def bomb_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (4000, 4000)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def test_answered_prediction_has_the_old_shape_with_score_rounded_to_4_places(
    api_client, user, live_model
):
    live_model()
    content = photo_bytes("chelsea")
    earlier_answer(user, content, "tabby", 0.123456789)
    response = predict(api_client, content, "dog.JPEG")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "success": True,
        "prediction": "tabby",
        "score": 0.1235,
        "image_file_name": f"{hashlib.sha256(content).hexdigest()}.jpeg",
    }
    assert queue().count == 0


def test_upload_without_a_name_extension_is_named_by_its_real_format(api_client, user, live_model):
    live_model()
    content = photo_bytes("coffee", "PNG")
    earlier_answer(user, content, "cup", 0.5)
    response = predict(api_client, content, "clipboard")
    assert response.json()["image_file_name"] == f"{hashlib.sha256(content).hexdigest()}.png"


def test_no_answer_within_the_wait_is_504_and_the_image_stays_queued(api_client, settings):
    settings.PREDICT_WAIT_SECONDS = 0.2
    response = predict(api_client, photo_bytes("astronaut"))
    assert response.status_code == 504
    prediction = Prediction.objects.get()
    assert "0.2 seconds" in response.json()["detail"]
    assert f"/api/predictions/{prediction.pk}/" in response.json()["detail"]
    assert prediction.status == Prediction.Status.QUEUED
    assert queue().count == 1


def test_prediction_that_fails_while_waiting_is_502_with_a_detail(
    api_client, settings, monkeypatch
):
    settings.PREDICT_WAIT_SECONDS = 5
    wait = services.wait_for_prediction

    def worker_gives_up_then_wait(*, prediction, timeout):
        lifecycle.fail_prediction(prediction_id=prediction.pk, message="worker crashed")
        return wait(prediction=prediction, timeout=timeout)

    monkeypatch.setattr(services, "wait_for_prediction", worker_gives_up_then_wait)
    response = predict(api_client, photo_bytes("rocket"))
    assert response.status_code == 502
    assert "could not classify" in response.json()["detail"]
    assert f"/api/predictions/{Prediction.objects.get().pk}/" in response.json()["detail"]
    assert "crashed" not in response.json()["detail"]


def test_queue_down_is_503_and_keeps_nothing(api_client, monkeypatch):
    def redis_is_down(**kwargs):
        raise RedisConnectionError("connection refused")

    monkeypatch.setattr("classifier.queueing.enqueue_prediction", redis_is_down)
    response = predict(api_client, photo_bytes("rocket"))
    assert response.status_code == 503
    assert "unavailable" in response.json()["detail"]
    assert not Prediction.objects.exists()


@pytest.mark.parametrize(
    "content, name, field, detail",
    [
        (b"hello, I am text", "notes.txt", "file", "File type is not supported."),
        (b"hello, I am text", "notes.jpg", "file", "File type is not supported."),
        (PDF, "doc.pdf", "file", "File type is not supported."),
        (b"", "empty.jpg", "file", "The file is empty."),
        (photo_bytes("chelsea"), "cat.jpg", "image", "No file was sent"),
        (photo_bytes("chelsea")[:5000], "half.jpg", "file", "damaged"),
        (bomb_png(), "bomb.png", "file", "pixels"),
    ],
    ids=["text", "text-named-jpg", "pdf", "empty", "wrong-field", "truncated", "bomb"],
)
def test_every_bad_upload_is_400_with_a_detail_and_changes_nothing(
    api_client, settings, content, name, field, detail
):
    settings.MAX_IMAGE_PIXELS = 1_000_000
    response = predict(api_client, content, name, field)
    assert response.status_code == 400
    assert detail in response.json()["detail"]
    assert not Prediction.objects.exists()
    assert queue().count == 0


def test_unsupported_type_detail_is_exactly_the_old_message(api_client):
    response = predict(api_client, PDF, "doc.pdf")
    assert response.json() == {"detail": "File type is not supported."}


def test_file_over_the_size_cap_is_400(api_client, settings):
    settings.MAX_UPLOAD_MB = 0.01
    response = predict(api_client, photo_bytes("astronaut", "PNG"), "big.png")
    assert response.status_code == 400
    assert "limit" in response.json()["detail"]
    assert not Prediction.objects.exists()


def test_no_body_at_all_is_400(api_client):
    response = api_client.post("/model/predict")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_broken_multipart_body_is_400(api_client):
    response = api_client.generic(
        "POST",
        "/model/predict",
        b"--nope\r\ngarbage",
        content_type="multipart/form-data; boundary=other",
    )
    assert response.status_code == 400
    assert response.json()["detail"]


def test_json_body_is_a_4xx_not_a_crash(api_client):
    response = api_client.post("/model/predict", {"file": "x"}, format="json")
    assert response.status_code == 415
    assert response.json()["detail"]


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-jwt", "Basic YTpi"])
def test_missing_or_bad_token_is_401(authorization):
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    response = predict(client, photo_bytes("chelsea"))
    assert response.status_code == 401
    assert response.json()["detail"]
    assert not Prediction.objects.exists()


def test_trailing_slash_is_accepted_too(api_client, settings):
    settings.PREDICT_WAIT_SECONDS = 0
    response = api_client.post(
        "/model/predict/",
        {"file": SimpleUploadedFile("a.jpg", photo_bytes("chelsea"))},
        format="multipart",
    )
    assert response.status_code == 504
