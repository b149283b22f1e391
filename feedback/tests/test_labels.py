"""One rule for corrected labels, whichever door the feedback comes through."""

import pytest

from classifier.tests.page_helpers import make_prediction
from feedback.models import Feedback
from feedback.services import canonicalise_label
from testing.clients import jwt_client


@pytest.mark.parametrize(
    ("typed", "label", "other"),
    [
        ("tabby", "tabby", ""),
        ("  Great   White shark ", "great_white_shark", ""),
        ("great_white_shark", "great_white_shark", ""),
        ("GERMAN SHEPHERD", "German_shepherd", ""),
        ("Cardigan", "Cardigan", ""),  # the corgi, not the sweater
        ("cardigan", "cardigan", ""),
        ("jack-o'-lantern", "jack-o'-lantern", ""),
        ("my  neighbour's   cat", "", "my neighbour's cat"),
        ("   ", "", ""),
    ],
)
def test_typed_text_becomes_the_class_name_or_an_other_label(typed, label, other):
    named = canonicalise_label(typed)
    assert (named.label, named.other) == (label, other)


def test_labels_module_imports_no_tensorflow():
    import subprocess
    import sys

    code = "import sys, feedback.labels; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.django_db
def test_api_feedback_is_canonicalised_like_the_form(user):
    prediction = make_prediction(user)
    client = jwt_client(user)
    response = client.post(
        "/api/feedback/",
        {
            "prediction": str(prediction.pk),
            "is_correct": False,
            "correct_label": "Great White Shark",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["correct_label"] == "great_white_shark"
    assert response.json()["other_label"] == ""

    response = client.post(
        "/api/feedback/",
        {"prediction": str(prediction.pk), "is_correct": False, "correct_label": "a  doorbell"},
        format="json",
    )
    assert response.status_code == 200
    assert (response.json()["correct_label"], response.json()["other_label"]) == ("", "a doorbell")


@pytest.mark.django_db
def test_legacy_feedback_naming_a_class_becomes_the_correct_label(user):
    prediction = make_prediction(user)  # predicted tiger_cat
    client = jwt_client(user)
    body = {"score": 0.5, "predicted_class": "tiger_cat"}
    body["image_file_name"] = prediction.image_file_name
    response = client.post("/feedback/", {**body, "feedback": "Egyptian cat"}, format="json")
    assert response.status_code == 201, response.content
    feedback = Feedback.objects.get()
    assert (feedback.is_correct, feedback.correct_label) == (False, "Egyptian_cat")
    assert feedback.comment == "Egyptian cat"

    client.post("/feedback/", {**body, "feedback": "tiger cat"}, format="json")
    feedback.refresh_from_db()
    assert (feedback.is_correct, feedback.correct_label) == (True, "")

    client.post("/feedback/", {**body, "feedback": "lovely photo"}, format="json")
    feedback.refresh_from_db()
    assert feedback.is_correct is True, "a plain comment keeps the earlier verdict"
    assert feedback.comment == "lovely photo"


@pytest.mark.django_db
def test_legacy_feedback_about_an_unknown_image_is_canonicalised_too(user):
    client = jwt_client(user)
    body = {"score": 0.5, "predicted_class": "tabby", "image_file_name": "f" * 64 + ".jpg"}
    client.post("/feedback/", {**body, "feedback": "LYNX"}, format="json")
    feedback = Feedback.objects.get()
    assert (feedback.prediction, feedback.is_correct, feedback.correct_label) == (
        None,
        False,
        "lynx",
    )


@pytest.mark.django_db
def test_each_verdict_records_where_the_true_label_sits_in_the_top_5(user):
    from feedback.services import give_feedback

    prediction = make_prediction(user)  # top 5: tiger_cat, tabby, Egyptian_cat, lynx, Persian_cat
    for is_correct, typed, rank in [
        (True, "", 1),
        (False, "lynx", 4),
        (False, "goldfish", None),
        (False, "a doorbell", None),
        (None, "", None),
    ]:
        feedback, _ = give_feedback(
            user=user, prediction=prediction, is_correct=is_correct, correct_label=typed
        )
        assert feedback.correct_rank == rank, typed
