"""The older API's /feedback/: free-text feedback named by image file name, own data only."""

import hashlib

import pytest
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from classifier.models import Prediction
from feedback.models import Feedback
from testing.clients import jwt_client

pytestmark = pytest.mark.django_db


def finished_prediction(owner, content: bytes = b"cat bytes", label="tabby", score=0.87654321):
    return Prediction.objects.create(
        owner=owner,
        image="images/cat.jpg",
        image_sha256=hashlib.sha256(content).hexdigest(),
        original_filename="cat.jpg",
        model_name="resnet50",
        status=Prediction.Status.DONE,
        label=label,
        score=score,
        top5=[{"label": label, "score": score}],
    )


def send_feedback(client, image_file_name: str, **fields):
    body = {
        "feedback": "It is a dog, not a cat",
        "score": 0.8765,
        "predicted_class": "tabby",
        "image_file_name": image_file_name,
        **fields,
    }
    return client.post("/feedback/", body, format="json")


def test_feedback_on_own_image_is_201_and_attached_to_that_prediction(api_client, user):
    prediction = finished_prediction(user)
    response = send_feedback(api_client, prediction.image_file_name)
    assert response.status_code == 201, response.content
    feedback = Feedback.objects.get()
    assert response.json() == {
        "id": feedback.pk,
        "score": 0.8765,
        "predicted_class": "tabby",
        "image_file_name": prediction.image_file_name,
        "feedback": "It is a dog, not a cat",
    }
    assert feedback.prediction == prediction
    assert feedback.user == user


def test_another_users_image_name_does_not_attach_to_their_prediction(api_client, user, other_user):
    theirs = finished_prediction(other_user, b"mallory's photo")
    response = send_feedback(api_client, theirs.image_file_name, predicted_class="guess")
    assert response.status_code == 201
    feedback = Feedback.objects.get()
    assert feedback.user == user
    assert feedback.prediction is None
    assert feedback.predicted_label == "guess"  # what the client said, not their label
    assert not theirs.feedback_entries.exists()


def test_when_both_users_sent_the_same_image_it_attaches_to_the_callers_own(
    api_client, user, other_user
):
    theirs = finished_prediction(other_user)
    mine = finished_prediction(user)
    send_feedback(api_client, mine.image_file_name)
    assert Feedback.objects.get().prediction == mine
    assert not theirs.feedback_entries.exists()


def test_unknown_image_name_is_stored_as_the_client_sent_it(api_client, user):
    name = "0cc175b9c0f1b6a831c399e269772661.jpg"  # an old MD5 name
    response = send_feedback(api_client, name, score=0.5, predicted_class="beagle")
    assert response.status_code == 201
    body = response.json()
    assert (body["image_file_name"], body["predicted_class"], body["score"]) == (
        name,
        "beagle",
        0.5,
    )
    assert Feedback.objects.get().prediction is None


def test_sending_again_for_the_same_prediction_updates_the_one_feedback(api_client, user):
    prediction = finished_prediction(user)
    send_feedback(api_client, prediction.image_file_name, feedback="first")
    response = send_feedback(api_client, prediction.image_file_name, feedback="second")
    assert response.status_code == 201
    assert Feedback.objects.get().comment == "second"


def test_list_shows_only_the_callers_feedback_in_the_old_shape(api_client, user, other_user):
    send_feedback(api_client, "mine.jpg", feedback="mine")
    send_feedback(jwt_client(other_user), "theirs.jpg", feedback="theirs")
    response = api_client.get("/feedback/")
    assert response.status_code == 200
    body = response.json()
    assert [entry["feedback"] for entry in body] == ["mine"]
    assert set(body[0]) == {"id", "score", "predicted_class", "image_file_name", "feedback"}


def test_feedback_without_trailing_slash_is_not_redirected(api_client):
    response = api_client.post(
        "/feedback",
        {"feedback": "x", "score": 0.1, "predicted_class": "y", "image_file_name": "z.jpg"},
        format="json",
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "payload",
    [
        '{"feedback": "x", ',
        "[1, 2]",
        '{"feedback": "x", "score": "high", "predicted_class": "y", "image_file_name": "z"}',
        '{"feedback": "x", "score": NaN, "predicted_class": "y", "image_file_name": "z"}',
        '{"feedback": "x", "score": "nan", "predicted_class": "y", "image_file_name": "z"}',
        '{"feedback": ["x"], "score": 0.5, "predicted_class": "y", "image_file_name": "z"}',
        '{"feedback": "x", "score": 0.5, "predicted_class": "y"}',
    ],
    ids=[
        "truncated",
        "list",
        "score-text",
        "score-nan",
        "score-nan-text",
        "feedback-list",
        "missing-name",
    ],
)
def test_malformed_or_wrongly_typed_feedback_is_400_and_stores_nothing(api_client, payload):
    response = api_client.generic("POST", "/feedback/", payload, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"]
    assert not Feedback.objects.exists()


def test_anonymous_feedback_is_401():
    assert send_feedback(APIClient(), "a.jpg").status_code == 401
    assert APIClient().get("/feedback/").status_code == 401
    assert not Feedback.objects.exists()


def test_bearer_requests_need_no_csrf_token(user):
    """A client that enforces CSRF, as a browser would; the token alone is enough."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)  # a session cookie is present, and still no CSRF check applies
    response = client.post(
        "/feedback/",
        {"feedback": "x", "score": 0.1, "predicted_class": "y", "image_file_name": "z.jpg"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}",
    )
    assert response.status_code == 201
