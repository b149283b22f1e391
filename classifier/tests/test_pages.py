"""The classifier's browser pages through Django's test client, what a person sees: who may
see which page, and uploading."""

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from redis.exceptions import ConnectionError as RedisConnectionError

from classifier.models import Prediction
from classifier.tests.page_helpers import inner_text, make_prediction, queue, stored_files
from ops.stack import wait_until
from testing.photos import distinct_photo, photo_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


# --- Who may see what ---------------------------------------------------------------------
def test_welcome_page_is_public_and_invites_to_register(client, live_model):
    live_model("efficientnet_lite0+openvino-fp32")
    response = client.get("/")
    assert response.status_code == 200
    text = inner_text(response.content.decode())
    assert "What is in your photo?" in text
    assert 'href="/accounts/register/"' in response.content.decode()
    assert "from the EfficientNet-Lite0 model" in text  # the model people have heard of
    assert "efficientnet_lite0" not in text
    assert 'id="no-worker-note"' not in response.content.decode()
    assert 'id="upload-form"' not in response.content.decode()


NO_WORKER_NOTE = "No model worker is running right now. You can still upload"


def test_with_no_worker_live_the_pages_say_so_and_name_no_model(client, user):
    assert inner_text(client.get("/").content.decode()).count(NO_WORKER_NOTE) == 1
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    text = inner_text(response.content.decode())
    assert NO_WORKER_NOTE in text
    assert "Answers come from" not in text
    assert 'id="upload-form"' in response.content.decode()


def test_upload_page_names_the_models_live_workers_publish(client, user, live_model):
    live_model("efficientnet_lite0+openvino-fp32", worker="w1")
    live_model("resnet50+openvino-fp32", worker="w2")
    client.force_login(user)
    text = inner_text(client.get("/").content.decode())
    assert "Answers come from EfficientNet-Lite0, ResNet-50," in text  # as people know them
    assert NO_WORKER_NOTE not in text


def test_a_worker_that_stopped_beating_no_longer_counts(client, user, clean_redis):
    from classifier import queueing

    queueing.publish_live_model(clean_redis, worker_name="gone", model_name="resnet50", ttl=0.05)
    wait_until(
        lambda: not queueing.live_model_names(clean_redis),
        timeout=5,
        interval=0.02,
        what="the dead worker's entry to expire",
    )
    client.force_login(user)
    assert NO_WORKER_NOTE in inner_text(client.get("/").content.decode())


def test_with_no_worker_live_an_upload_still_queues_and_is_not_answered_from_cache(client, user):
    content = photo_bytes()
    make_prediction(user, content=content)  # an earlier answer for the same bytes
    client.force_login(user)
    response = client.post("/", {"image": SimpleUploadedFile("again.jpg", content)})
    assert response.status_code == 302
    queued = Prediction.objects.get(status="queued")
    assert not queued.cached and queued.model_name == ""
    assert queue().count == 1


#: any prediction id: the login comes first. Fixed, so that pytest-xdist's processes collect
#: the same test ids.
SOME_PREDICTION_ID = "5f0c3a9e-2b7d-4c1e-9a6f-0d8e7b4c2a13"


@pytest.mark.parametrize(
    "path",
    [
        "/predictions/",
        f"/predictions/{SOME_PREDICTION_ID}/",
        f"/predictions/{SOME_PREDICTION_ID}/image/",
    ],
)
def test_private_pages_send_anonymous_visitors_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_anonymous_upload_post_goes_to_login_and_stores_nothing(client):
    response = client.post("/", {"image": SimpleUploadedFile("cat.jpg", photo_bytes())})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert Prediction.objects.count() == 0
    assert stored_files() == []


def test_every_page_renders_for_a_logged_in_user(client, user):
    prediction = make_prediction(user)
    client.force_login(user)
    for path, expected in [
        ("/", "Classify a photo"),
        ("/predictions/", "Your predictions"),
        (f"/predictions/{prediction.pk}/", "Top 5 labels"),
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        text = inner_text(response.content.decode())
        assert expected in text, path
        assert user.name in text, "the header names who is logged in"
        assert "Log out" in text
    assert client.get(f"/predictions/{prediction.pk}/image/").status_code == 200


def test_pages_answer_404_for_someone_elses_prediction(client, user, other_user):
    theirs = make_prediction(other_user)
    client.force_login(user)
    assert client.get(f"/predictions/{theirs.pk}/").status_code == 404
    assert client.get(f"/predictions/{theirs.pk}/image/").status_code == 404
    assert client.get(f"/predictions/{uuid.uuid4()}/").status_code == 404


# --- Uploading ----------------------------------------------------------------------------
def test_upload_page_shows_the_form_limits_and_recent_predictions(client, user, other_user):
    mine = make_prediction(user)
    make_prediction(other_user, content=distinct_photo(1), label="golden_retriever")
    client.force_login(user)
    html = client.get("/").content.decode()
    text = inner_text(html)
    assert 'type="file"' in html and 'accept="image/jpeg,' in html
    assert "JPEG, PNG, GIF, WebP or BMP, up to 10 MB" in text
    assert "Recent" in text
    assert f"/predictions/{mine.pk}/" in html
    assert "tiger cat" in text and "62.1%" in text
    assert "golden retriever" not in text


def test_good_upload_queues_a_prediction_and_shows_its_pending_page(client, user):
    client.force_login(user)
    response = client.post("/", {"image": SimpleUploadedFile("Chelsea.JPG", photo_bytes())})
    prediction = Prediction.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/predictions/{prediction.pk}/"
    assert prediction.owner == user
    assert prediction.original_filename == "Chelsea.JPG"
    assert queue().count == 1

    page = client.get(response["Location"])
    text = inner_text(page.content.decode())
    assert "Classifying…" in text
    assert "Status: Queued" in text
    assert "Chelsea.JPG" in text


@pytest.mark.parametrize(
    "content, name, message",
    [
        (b"", "empty.jpg", "The file is empty."),
        (b"just some text", "notes.jpg", "File type is not supported."),
        (photo_bytes()[:4000], "cut.jpg", "The file is damaged or incomplete"),
    ],
)
def test_bad_upload_rerenders_the_form_with_the_error_and_stores_nothing(
    client, user, content, name, message
):
    client.force_login(user)
    response = client.post("/", {"image": SimpleUploadedFile(name, content)})
    assert response.status_code == 400
    html = response.content.decode()
    assert message in inner_text(html)
    assert 'id="upload-form"' in html
    assert "has-error" in html
    assert Prediction.objects.count() == 0
    assert queue().count == 0
    assert stored_files() == []


def test_upload_without_a_file_asks_for_one(client, user):
    client.force_login(user)
    response = client.post("/", {})
    assert response.status_code == 400
    assert "This field is required." in inner_text(response.content.decode())
    assert Prediction.objects.count() == 0


def test_upload_over_the_size_limit_is_refused(client, user, settings):
    settings.MAX_UPLOAD_MB = 0.01
    client.force_login(user)
    response = client.post("/", {"image": SimpleUploadedFile("big.png", photo_bytes(fmt="PNG"))})
    assert response.status_code == 400
    text = inner_text(response.content.decode())
    assert "larger than the 0.01 MB limit" in text
    assert Prediction.objects.count() == 0


def test_upload_while_the_queue_is_down_says_so_and_keeps_nothing(client, user, monkeypatch):
    def broken(**kwargs):
        raise RedisConnectionError("connection refused")

    monkeypatch.setattr("classifier.queueing.enqueue_prediction", broken)
    client.force_login(user)
    response = client.post("/", {"image": SimpleUploadedFile("cat.jpg", photo_bytes())})
    assert response.status_code == 503
    assert "The classification queue is unavailable" in inner_text(response.content.decode())
    assert Prediction.objects.count() == 0
