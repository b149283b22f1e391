"""The classifier's browser pages through Django's test client, what a person sees: a
result, the history and the image view."""

import re

import pytest
from django.core.files.storage import default_storage

from classifier.models import Prediction
from classifier.tests.page_helpers import inner_text, make_prediction
from testing.photos import distinct_photo, photo_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


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
