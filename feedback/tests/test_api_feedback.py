"""Feedback through the API: on one's own predictions only, one per prediction."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from feedback.models import Feedback
from mlworker import lifecycle
from testing.clients import jwt_client
from testing.photos import photo_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued_prediction_id(api_client, settings):
    settings.PREDICT_WAIT_SECONDS = 0
    response = api_client.post(
        "/api/predictions/",
        {"image": SimpleUploadedFile("cup.jpg", photo_bytes("coffee"))},
        format="multipart",
    )
    return response.json()["id"]


@pytest.fixture
def prediction_id(queued_prediction_id):
    """A prediction the model has answered (recorded the way the worker records it)."""
    top5 = [
        {"label": label, "score": 0.2}
        for label in ("cup", "espresso", "eggnog", "soup_bowl", "tray")
    ]
    lifecycle.start_predictions(prediction_ids=[queued_prediction_id])
    lifecycle.complete_predictions(results={queued_prediction_id: top5}, model_name="resnet50")
    return queued_prediction_id


def send(client, prediction_id, **fields):
    data = {"prediction": prediction_id, "is_correct": False, "correct_label": "espresso"} | fields
    return client.post("/api/feedback/", data, format="json")


def test_feedback_is_created_then_updated_not_duplicated(api_client, prediction_id):
    created = send(api_client, prediction_id)
    assert created.status_code == 201
    assert created.json()["correct_label"] == "espresso"
    updated = send(api_client, prediction_id, is_correct=True, comment="my mistake")
    assert updated.status_code == 200
    assert updated.json()["is_correct"] is True
    assert updated.json()["correct_label"] == ""
    assert Feedback.objects.count() == 1
    listed = api_client.get("/api/feedback/").json()
    assert listed["count"] == 1
    assert listed["results"][0]["comment"] == "my mistake"


def test_feedback_on_another_users_prediction_is_404(prediction_id, other_user):
    response = send(jwt_client(other_user), prediction_id)
    assert response.status_code == 404
    assert Feedback.objects.count() == 0


def test_users_only_list_their_own_feedback(api_client, prediction_id, other_user):
    send(api_client, prediction_id)
    assert jwt_client(other_user).get("/api/feedback/").json()["count"] == 0


@pytest.mark.parametrize(
    "fields",
    [{"is_correct": "maybe"}, {"prediction": "not-a-uuid"}, {"correct_label": "x" * 500}],
)
def test_wrong_types_are_400(api_client, prediction_id, fields):
    response = send(api_client, prediction_id, **fields)
    assert response.status_code == 400
    assert response.json()["detail"]
    assert Feedback.objects.count() == 0


def test_unknown_prediction_is_404(api_client):
    response = send(api_client, "00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404


def test_feedback_waits_for_an_answer(api_client, queued_prediction_id):
    response = send(api_client, queued_prediction_id)
    assert response.status_code == 400
    assert "once the prediction has an answer" in response.json()["detail"]
    assert Feedback.objects.count() == 0


def test_patch_changes_only_the_fields_sent(api_client, prediction_id):
    feedback_id = send(api_client, prediction_id, comment="the cup is blue").json()["id"]
    changed = api_client.patch(
        f"/api/feedback/{feedback_id}/", {"comment": "blue cup"}, format="json"
    )
    assert changed.status_code == 200
    assert changed.json()["correct_label"] == "espresso"  # kept
    assert changed.json()["comment"] == "blue cup"
    relabelled = api_client.patch(
        f"/api/feedback/{feedback_id}/", {"correct_label": "Soup Bowl"}, format="json"
    )
    assert relabelled.json()["correct_label"] == "soup_bowl"
    assert relabelled.json()["comment"] == "blue cup"  # kept
    agreed = api_client.patch(f"/api/feedback/{feedback_id}/", {"is_correct": True}, format="json")
    assert agreed.json() | {"updated_at": None} == relabelled.json() | {
        "is_correct": True,
        "correct_label": "",
        "updated_at": None,
    }
    assert Feedback.objects.get().comment == "blue cup"


def test_a_second_post_replaces_the_whole_feedback(api_client, prediction_id):
    send(api_client, prediction_id, comment="the cup is blue")
    again = send(api_client, prediction_id)
    assert again.status_code == 200
    assert again.json()["comment"] == ""


def test_patch_refuses_bad_values_and_other_peoples_feedback(api_client, prediction_id, other_user):
    feedback_id = send(api_client, prediction_id, comment="mine").json()["id"]
    path = f"/api/feedback/{feedback_id}/"
    assert api_client.patch(path, {"is_correct": "perhaps"}, format="json").status_code == 400
    assert api_client.patch(path, {"comment": "x" * 2001}, format="json").status_code == 400
    stranger = jwt_client(other_user).patch(path, {"comment": "theirs"}, format="json")
    assert stranger.status_code == 404
    assert api_client.put(path, {"comment": "all"}, format="json").status_code == 405
    assert Feedback.objects.get().comment == "mine"


def test_schema_documents_patch_and_post_replacing(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    feedback = schema["paths"]["/api/feedback/{id}/"]
    assert set(feedback) >= {"get", "patch"} and "put" not in feedback
    assert "replaces the whole record" in schema["paths"]["/api/feedback/"]["post"]["description"]
