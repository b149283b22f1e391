"""Deleting one of my predictions, in the browser and through the API.

Its feedback goes with it; the stored image goes only when no other prediction uses the
same bytes (identical uploads share one file). Someone else's prediction is a 404.
"""

import pytest
from django.core.files.storage import default_storage

from classifier.imaging import validate_image_bytes
from classifier.models import Prediction
from classifier.services import store_image
from feedback.models import Feedback
from feedback.services import give_feedback
from testing.clients import jwt_client
from testing.photos import distinct_photo

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def finished_prediction(owner, content: bytes) -> Prediction:
    image = validate_image_bytes(content)
    return Prediction.objects.create(
        owner=owner,
        image=store_image(image),
        image_sha256=image.sha256,
        original_filename="cat.jpg",
        model_name="resnet50 (random weights)",
        status=Prediction.Status.DONE,
        label="tabby",
        score=0.8,
        top5=[{"label": "tabby", "score": 0.8}] * 5,
    )


@pytest.fixture
def mine(user):
    prediction = finished_prediction(user, distinct_photo(1))
    give_feedback(user=user, prediction=prediction, is_correct=True)
    return prediction


def test_delete_page_asks_before_deleting(client, user, mine):
    client.force_login(user)
    detail = client.get(f"/predictions/{mine.pk}/").content.decode()
    assert f'href="/predictions/{mine.pk}/delete/"' in detail
    confirm = client.get(f"/predictions/{mine.pk}/delete/")
    assert confirm.status_code == 200
    assert "cannot be undone" in confirm.content.decode()
    assert Prediction.objects.filter(pk=mine.pk).exists()


def test_deleting_removes_the_prediction_its_feedback_and_its_image(
    client, user, mine, django_capture_on_commit_callbacks
):
    client.force_login(user)
    stored = mine.image.name
    assert default_storage.exists(stored)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/predictions/{mine.pk}/delete/", follow=True)
    assert response.redirect_chain == [("/predictions/", 302)]
    assert "The photo and its result are deleted." in response.content.decode()
    assert not Prediction.objects.filter(pk=mine.pk).exists()
    assert not Feedback.objects.exists()
    assert not default_storage.exists(stored)
    assert client.get(f"/predictions/{mine.pk}/").status_code == 404


def test_an_image_another_prediction_uses_is_kept(
    client, user, other_user, mine, django_capture_on_commit_callbacks
):
    theirs = finished_prediction(other_user, distinct_photo(1))  # the same bytes
    assert theirs.image.name == mine.image.name
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/predictions/{mine.pk}/delete/")
    assert not Prediction.objects.filter(pk=mine.pk).exists()
    assert default_storage.exists(theirs.image.name)
    client.force_login(other_user)
    assert client.get(f"/predictions/{theirs.pk}/image/").status_code == 200


def test_someone_elses_prediction_is_a_404_and_stays(client, other_user, mine):
    client.force_login(other_user)
    assert client.get(f"/predictions/{mine.pk}/delete/").status_code == 404
    assert client.post(f"/predictions/{mine.pk}/delete/").status_code == 404
    assert Prediction.objects.filter(pk=mine.pk).exists()
    assert Feedback.objects.count() == 1


def test_anonymous_is_sent_to_log_in(client, mine):
    response = client.post(f"/predictions/{mine.pk}/delete/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert Prediction.objects.filter(pk=mine.pk).exists()


# --- API ----------------------------------------------------------------------------------
def test_api_delete_is_204_then_404(user, mine, django_capture_on_commit_callbacks):
    client = jwt_client(user)
    stored = mine.image.name
    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(f"/api/predictions/{mine.pk}/")
    assert response.status_code == 204
    assert not Prediction.objects.exists() and not Feedback.objects.exists()
    assert not default_storage.exists(stored)
    again = client.delete(f"/api/predictions/{mine.pk}/")
    assert again.status_code == 404
    assert again.json()["detail"]


def test_api_delete_of_someone_elses_prediction_is_404(other_user, mine):
    response = jwt_client(other_user).delete(f"/api/predictions/{mine.pk}/")
    assert response.status_code == 404
    assert response.json()["detail"]
    assert Prediction.objects.filter(pk=mine.pk).exists()


def test_api_delete_of_a_malformed_id_is_404(user):
    assert jwt_client(user).delete("/api/predictions/not-a-uuid/").status_code == 404


def test_api_delete_needs_authentication(mine):
    from rest_framework.test import APIClient

    assert APIClient().delete(f"/api/predictions/{mine.pk}/").status_code == 401
    assert Prediction.objects.filter(pk=mine.pk).exists()
