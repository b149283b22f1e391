"""The feedback form on the result page, and where operators read feedback (the admin)."""

import pytest

from classifier.tests.page_helpers import inner_text, make_prediction
from feedback.models import Feedback

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def feedback_url(prediction) -> str:
    return f"/predictions/{prediction.pk}/feedback/"


def test_result_page_asks_for_feedback_with_both_answers(client, user):
    prediction = make_prediction(user)
    client.force_login(user)
    html = client.get(f"/predictions/{prediction.pk}/").content.decode()
    text = inner_text(html)
    assert "Is this right?" in text
    assert "Yes, it is right" in text and "No, it is wrong" in text
    assert f'action="{feedback_url(prediction)}"' in html
    assert "Send feedback" in text
    assert 'list="imagenet-labels"' in html


def test_feedback_is_created_then_updated_never_duplicated(client, user):
    prediction = make_prediction(user)
    client.force_login(user)

    response = client.post(feedback_url(prediction), {"is_correct": "true"}, follow=True)
    assert response.redirect_chain == [(f"/predictions/{prediction.pk}/", 302)]
    text = inner_text(response.content.decode())
    assert "Thanks — your feedback was saved." in text
    assert "You said the answer is right." in text
    assert "Update feedback" in text
    feedback = Feedback.objects.get()
    assert (feedback.user, feedback.prediction, feedback.is_correct) == (user, prediction, True)
    assert feedback.predicted_label == "tiger_cat"

    response = client.post(
        feedback_url(prediction),
        {"is_correct": "false", "correct_label": "  Tabby ", "comment": "It is a tabby."},
        follow=True,
    )
    text = inner_text(response.content.decode())
    assert "Your feedback was updated." in text
    assert "You said the answer is wrong; it is really tabby." in text
    assert "Your comment: “It is a tabby.”" in text
    feedback = Feedback.objects.get()
    assert feedback.is_correct is False
    assert feedback.correct_label == "tabby"
    assert feedback.comment == "It is a tabby."


def test_a_typed_imagenet_label_is_stored_in_the_models_spelling(client, user):
    prediction = make_prediction(user)
    client.force_login(user)
    client.post(
        feedback_url(prediction), {"is_correct": "false", "correct_label": "great white SHARK"}
    )
    assert Feedback.objects.get().correct_label == "great_white_shark"
    html = client.get(f"/predictions/{prediction.pk}/").content.decode()
    assert 'value="great white shark"' in html, "the form shows it readably again"


def test_a_label_outside_imagenet_is_kept_apart_as_an_other_label(client, user):
    prediction = make_prediction(user)
    client.force_login(user)
    client.post(
        feedback_url(prediction), {"is_correct": "false", "correct_label": "Maine  Coon cat"}
    )
    feedback = Feedback.objects.get()
    assert (feedback.correct_label, feedback.other_label) == ("", "Maine Coon cat")
    text = inner_text(client.get(f"/predictions/{prediction.pk}/").content.decode())
    assert "it is really Maine Coon cat" in text


def test_saying_right_clears_a_previous_correction(client, user):
    prediction = make_prediction(user)
    client.force_login(user)
    client.post(feedback_url(prediction), {"is_correct": "false", "correct_label": "lynx"})
    client.post(feedback_url(prediction), {"is_correct": "true", "correct_label": "lynx"})
    feedback = Feedback.objects.get()
    assert feedback.is_correct is True
    assert feedback.correct_label == ""


def test_feedback_without_an_answer_rerenders_the_page_with_the_error(client, user):
    prediction = make_prediction(user)
    client.force_login(user)
    response = client.post(feedback_url(prediction), {"comment": "hmm"})
    assert response.status_code == 400
    html = response.content.decode()
    text = inner_text(html)
    assert "Choose yes or no." in text
    assert "tiger cat" in text, "the result is still shown around the form"
    assert "hmm</textarea>" in html, "what was typed is kept"
    assert Feedback.objects.count() == 0


def test_feedback_on_someone_elses_prediction_is_404_and_saves_nothing(client, user, other_user):
    theirs = make_prediction(other_user)
    client.force_login(user)
    response = client.post(feedback_url(theirs), {"is_correct": "true"})
    assert response.status_code == 404
    assert Feedback.objects.count() == 0


def test_feedback_needs_a_login_and_a_post(client, user):
    prediction = make_prediction(user)
    response = client.post(feedback_url(prediction), {"is_correct": "true"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    client.force_login(user)
    assert client.get(feedback_url(prediction)).status_code == 405
    assert Feedback.objects.count() == 0


def test_history_shows_the_feedback_given(client, user):
    right = make_prediction(user, original_filename="right.jpg")
    wrong = make_prediction(user, original_filename="wrong.jpg")
    client.force_login(user)
    client.post(feedback_url(right), {"is_correct": "true"})
    client.post(feedback_url(wrong), {"is_correct": "false", "correct_label": "lynx"})
    text = inner_text(client.get("/predictions/").content.decode())
    assert "✓ Right" in text
    assert "✗ Wrong lynx" in text


def test_staff_see_feedback_with_thumbnails_in_the_admin(client, user, make_user):
    prediction = make_prediction(user)
    client.force_login(user)
    client.post(feedback_url(prediction), {"is_correct": "false", "correct_label": "lynx"})
    admin = make_user(email="ops@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    response = client.get("/admin/feedback/feedback/")
    assert response.status_code == 200
    html = response.content.decode()
    text = inner_text(html)
    assert "alice@example.com" in text and "tiger cat" in text and "lynx" in text
    image_url = f"/predictions/{prediction.pk}/image/"
    assert f'src="{image_url}"' in html
    assert client.get(image_url)["Content-Type"] == "image/jpeg"


def test_non_staff_cannot_open_the_admin(client, user):
    client.force_login(user)
    response = client.get("/admin/feedback/feedback/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
