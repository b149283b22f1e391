"""The operators' admin: predictions are a record (read, filtered, deleted; never edited or
made by hand), images come through the authorised image view, labels and scores read as on
the site, the index has one section per app, and /favicon.ico exists."""

import io
import re

import pytest
from django.contrib.auth.models import Permission
from PIL import Image

from classifier.tests.page_helpers import inner_text, make_prediction
from feedback.services import give_feedback
from testing.photos import distinct_photo

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client, make_user):
    client.force_login(make_user(email="ops@example.com", is_staff=True, is_superuser=True))
    return client


def test_prediction_page_shows_the_image_through_the_authorised_view(operator, user):
    prediction = make_prediction(user)
    html = operator.get(f"/admin/classifier/prediction/{prediction.pk}/change/").content.decode()
    image = f"/predictions/{prediction.pk}/image/"
    assert f'href="{image}"' in html and f'src="{image}"' in html
    assert "media-not-served" not in html
    assert operator.get(image).status_code == 200
    assert prediction.image.name in inner_text(html)  # where it is stored, as text


def test_operators_cannot_edit_or_add_predictions(operator, user):
    prediction = make_prediction(user)
    page = f"/admin/classifier/prediction/{prediction.pk}/change/"
    html = operator.get(page).content.decode()
    for field in ("label", "score", "top5", "status", "model_name", "owner", "image"):
        assert not re.search(rf'<(input|select|textarea)[^>]*name="{field}"', html), field
    response = operator.post(page, {"label": "lynx", "score": "1", "status": "failed"})
    assert response.status_code == 403
    prediction.refresh_from_db()
    assert (prediction.label, prediction.score, prediction.status) == ("tiger_cat", 0.6213, "done")
    assert operator.get("/admin/classifier/prediction/add/").status_code == 403
    listing = operator.get("/admin/classifier/prediction/").content.decode()
    assert "/admin/classifier/prediction/add/" not in listing
    # Deleting stays possible (a person asked for their photo to go).
    assert f"/admin/classifier/prediction/{prediction.pk}/delete/" in html


def test_lists_show_labels_and_scores_as_people_read_them(operator, user):
    said_class = make_prediction(user)
    said_words = make_prediction(user, content=distinct_photo(2))
    give_feedback(user=user, prediction=said_class, is_correct=False, correct_label="lynx")
    give_feedback(user=user, prediction=said_words, is_correct=False, correct_label="rocket")

    predictions = inner_text(operator.get("/admin/classifier/prediction/").content.decode())
    assert "tiger cat" in predictions and "62.1%" in predictions
    assert "tiger_cat" not in predictions and "0.6213" not in predictions

    detail = operator.get(f"/admin/classifier/prediction/{said_class.pk}/change/").content
    text = inner_text(detail.decode())
    assert "tiger cat 62.1%" in text and "Egyptian cat 10.2%" in text
    assert "Egyptian_cat" not in text

    feedback = inner_text(operator.get("/admin/feedback/feedback/").content.decode())
    assert "tiger cat 62.1%" in feedback
    assert "lynx" in feedback and "“rocket” other" in feedback
    assert "tiger_cat" not in feedback


def test_admin_index_has_one_section_per_app_and_names_the_queue(client, make_user):
    staff = make_user(email="staff@example.com", is_staff=True)
    staff.user_permissions.add(
        Permission.objects.get(codename="view_queue"),
        Permission.objects.get(codename="view_dashboard"),
        Permission.objects.get(codename="view_prediction"),
    )
    client.force_login(staff)
    html = client.get("/admin/").content.decode()
    captions = re.findall(r"<caption>\s*<a[^>]*>([^<]+)</a>", html)
    assert captions.count("Model quality") == 1, captions
    text = inner_text(html).casefold()
    assert "django_rq" not in text and "django-rq" not in text  # no raw app label
    assert 'href="/admin/rq/"' in html and "Job queue" in html
    assert 'href="/quality/"' in html
    assert 'href="/quality/review/"' not in html  # not this operator's permission
    # Without the queue permission, no link to it.
    staff.user_permissions.remove(Permission.objects.get(codename="view_queue"))
    assert 'href="/admin/rq/"' not in client.get("/admin/").content.decode()


def test_django_rq_admin_pages_outside_our_guard_are_gone(operator):
    assert operator.get("/admin/django_rq/dashboard/").status_code == 404


def test_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    icon = Image.open(io.BytesIO(b"".join(response)))
    assert icon.format == "ICO" and (32, 32) in icon.info["sizes"]
