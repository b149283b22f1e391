"""The browser pages of the classifier, through Django's test client: what a person sees."""

import html as html_lib
import re
import uuid

import django_rq
import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError

from classifier import services
from classifier.imaging import validate_image_bytes
from classifier.models import Prediction
from ops.stack import wait_until
from testing.photos import distinct_photo, photo_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


TOP5 = [
    {"label": "tiger_cat", "score": 0.6213},
    {"label": "tabby", "score": 0.2104},
    {"label": "Egyptian_cat", "score": 0.1019},
    {"label": "lynx", "score": 0.0312},
    {"label": "Persian_cat", "score": 0.0004},
]


def make_prediction(owner, *, status="done", content=None, fmt="JPEG", **fields) -> Prediction:
    """A prediction with its image really stored, as the upload service leaves it."""
    image = validate_image_bytes(content or photo_bytes("chelsea", fmt))
    now = timezone.now()
    defaults = {
        "owner": owner,
        "image": services.store_image(image),
        "image_sha256": image.sha256,
        "original_filename": f"cat.{image.extension}",
        "model_name": "resnet50",
        "status": status,
    }
    if status == "done":
        defaults |= {
            "top5": TOP5,
            "label": TOP5[0]["label"],
            "score": TOP5[0]["score"],
            "started_at": now,
            "finished_at": now,
        }
    return Prediction.objects.create(**(defaults | fields))


INLINE_TAGS = r"a|abbr|b|code|em|i|label|small|span|strong|time"


def inner_text(html: str) -> str:
    """The page's text as a person reads it: inline tags dropped, other tags as spaces."""
    html = re.sub(rf"</?(?:{INLINE_TAGS})\b[^>]*>", "", html)
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html)).split())


def queue():
    return django_rq.get_queue(settings.INFERENCE_QUEUE)


def stored_files() -> list[str]:
    found = []
    if not default_storage.exists("images"):
        return found
    for folder in default_storage.listdir("images")[0]:
        found += default_storage.listdir(f"images/{folder}")[1]
    return found


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


# --- The result page ----------------------------------------------------------------------
def test_done_result_shows_readable_label_top5_bars_and_model(client, user):
    prediction = make_prediction(user, model_name="resnet50 (random weights)")
    client.force_login(user)
    response = client.get(f"/predictions/{prediction.pk}/")
    html = response.content.decode()
    text = inner_text(html)
    assert response.status_code == 200
    assert re.search(r'<h1 id="top-label"[^>]*data-label="tiger_cat"[^>]*>tiger cat</h1>', html)
    assert "62.1% confidence" in text
    bars = re.findall(
        r'<li data-label="([^"]+)" data-score="([^"]+)">\s*'
        r'<span class="bar-label" title="[^"]+">([^<]+)</span>\s*'
        r'<span class="bar-value">([^<]+)</span>',
        html,
    )
    assert bars == [
        ("tiger_cat", "62.13", "tiger cat", "62.1%"),
        ("tabby", "21.04", "tabby", "21.0%"),
        ("Egyptian_cat", "10.19", "Egyptian cat", "10.2%"),
        ("lynx", "3.12", "lynx", "3.1%"),
        ("Persian_cat", "0.04", "Persian cat", "&lt;0.1%"),
    ]
    assert "style=" not in html  # bar lengths are set by result.js (CSP: no inline styles)
    assert '<span class="bar-fill"></span>' in html
    assert "Model ResNet-50 (random weights)" in text  # people read the architecture
    assert "resnet50" not in text  # the technical name is for staff and the API
    assert 'data-status="done"' in html
    assert 'id="feedback-form"' in html


def test_cached_result_says_the_answer_was_reused(client, user):
    prediction = make_prediction(user, cached=True)
    client.force_login(user)
    text = inner_text(client.get(f"/predictions/{prediction.pk}/").content.decode())
    assert "answer reused" in text


@pytest.mark.parametrize("status, shown", [("queued", "Queued"), ("running", "Running")])
def test_pending_result_shows_progress_and_waits_through_the_api(client, user, status, shown):
    prediction = make_prediction(user, status=status)
    client.force_login(user)
    html = client.get(f"/predictions/{prediction.pk}/").content.decode()
    text = inner_text(html)
    assert "Classifying…" in text
    assert f"Status: {shown}" in text
    assert f'data-poll-url="/api/predictions/{prediction.pk}/"' in html
    assert f'data-status="{status}"' in html
    assert "js/result.js" in html
    assert 'id="top5"' not in html
    assert 'id="feedback-form"' not in html, "no feedback before there is an answer"


def test_failed_result_shows_the_error(client, user):
    prediction = make_prediction(
        user, status="failed", error="The image could not be decoded: broken data stream"
    )
    client.force_login(user)
    html = client.get(f"/predictions/{prediction.pk}/").content.decode()
    text = inner_text(html)
    assert "We could not classify this image" in text
    assert "The image could not be decoded: broken data stream" in text
    assert 'role="alert"' in html
    assert 'id="top5"' not in html
    assert 'id="feedback-form"' not in html


def test_result_page_suggests_imagenet_labels_with_the_top5_first(client, user):
    prediction = make_prediction(user)
    client.force_login(user)
    html = client.get(f"/predictions/{prediction.pk}/").content.decode()
    options = re.findall(r'<option value="([^"]+)">', html)
    assert options[:5] == ["tiger cat", "tabby", "Egyptian cat", "lynx", "Persian cat"]
    assert "great white shark" in options
    assert len(options) == len(set(options)) > 990


# --- History ------------------------------------------------------------------------------
def test_history_lists_only_my_predictions_newest_first(client, user, other_user):
    older = make_prediction(user, original_filename="older.jpg")
    newer = make_prediction(
        user, status="failed", content=distinct_photo(2), original_filename="newer.jpg"
    )
    make_prediction(other_user, content=distinct_photo(3), original_filename="secret.jpg")
    client.force_login(user)
    html = client.get("/predictions/").content.decode()
    text = inner_text(html)
    assert "2 photos classified" in text
    assert "secret.jpg" not in text
    assert text.index("newer.jpg") < text.index("older.jpg")
    assert f"/predictions/{older.pk}/" in html and f"/predictions/{newer.pk}/" in html
    assert "tiger cat" in text and "62.1%" in text
    assert "Failed" in text


def test_history_shows_what_the_user_said_it_really_is(client, user):
    """A class name and free text naming no class ("rocket") are both shown, as typed."""
    from feedback.services import give_feedback

    by_class = make_prediction(user)
    by_words = make_prediction(user, content=distinct_photo(2))
    give_feedback(user=user, prediction=by_class, is_correct=False, correct_label="Egyptian cat")
    give_feedback(user=user, prediction=by_words, is_correct=False, correct_label="rocket")
    client.force_login(user)
    text = inner_text(client.get("/predictions/").content.decode())
    assert "✗ Wrong rocket" in text
    assert "✗ Wrong Egyptian cat" in text


@pytest.mark.parametrize(
    ("technical", "for_people"),
    [
        ("efficientnet_lite0+openvino-fp32", "EfficientNet-Lite0"),
        ("resnet50+onnxruntime-int8", "ResNet-50"),
        ("resnet50 (random weights)", "ResNet-50 (random weights)"),
        ("some_new_model+tensorflow-fp16", "some new model"),
    ],
)
def test_people_see_the_models_friendly_name_staff_also_the_technical_one(
    client, user, make_user, technical, for_people
):
    prediction = make_prediction(user, model_name=technical)
    client.force_login(user)
    for path in ("/predictions/", f"/predictions/{prediction.pk}/"):
        text = inner_text(client.get(path).content.decode())
        assert for_people in text, path
        assert technical not in text, path
    staff = make_user(email="operator@example.com", is_staff=True)
    own = make_prediction(staff, model_name=technical)
    client.force_login(staff)
    text = inner_text(client.get(f"/predictions/{own.pk}/").content.decode())
    assert f"Model {for_people} {technical}" in text


def test_history_is_paginated(client, user):
    first = make_prediction(user)
    Prediction.objects.bulk_create(
        Prediction(
            owner=user,
            image=first.image.name,
            image_sha256=first.image_sha256,
            model_name="resnet50",
            status="queued",
        )
        for _ in range(24)
    )
    client.force_login(user)
    text = inner_text(client.get("/predictions/").content.decode())
    assert "25 photos classified" in text and "Page 1 of 2" in text and "Older →" in text
    second = inner_text(client.get("/predictions/?page=2").content.decode())
    assert "Page 2 of 2" in second and "← Newer" in second


def test_empty_history_points_to_the_upload_page(client, user):
    client.force_login(user)
    text = inner_text(client.get("/predictions/").content.decode())
    assert "Nothing here yet" in text
    assert "Classify your first photo" in text


# --- The image view -----------------------------------------------------------------------
@pytest.mark.parametrize("fmt, content_type", [("JPEG", "image/jpeg"), ("PNG", "image/png")])
def test_owner_gets_the_image_bytes_with_the_right_content_type(client, user, fmt, content_type):
    content = photo_bytes("coffee", fmt)
    prediction = make_prediction(user, content=content)
    client.force_login(user)
    response = client.get(f"/predictions/{prediction.pk}/image/")
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Cache-Control"] == "private, max-age=3600"
    assert b"".join(response.streaming_content) == content


def test_image_is_404_for_other_users_and_when_the_file_is_gone(client, user, other_user):
    prediction = make_prediction(other_user)
    client.force_login(user)
    assert client.get(f"/predictions/{prediction.pk}/image/").status_code == 404
    default_storage.delete(prediction.image.name)
    client.force_login(other_user)
    assert client.get(f"/predictions/{prediction.pk}/image/").status_code == 404


def test_staff_can_view_anyones_image_and_see_thumbnails_in_the_admin(client, user, make_user):
    prediction = make_prediction(user)
    admin = make_user(email="ops@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    response = client.get(f"/predictions/{prediction.pk}/image/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    changelist = client.get("/admin/classifier/prediction/")
    assert changelist.status_code == 200
    assert f'src="/predictions/{prediction.pk}/image/"' in changelist.content.decode()
    # Staff still only browse their own predictions on the site's pages.
    assert client.get(f"/predictions/{prediction.pk}/").status_code == 404
