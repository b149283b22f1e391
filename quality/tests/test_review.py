"""The review queue: what lands in it, and a reviewer's label becoming ground truth."""

import pytest
from django.contrib.auth.models import Permission

from classifier.tests.page_helpers import inner_text, make_prediction
from feedback.models import Feedback
from quality import queue, services
from quality.models import ReviewedLabel
from quality.tests import fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewer(client, make_user):
    person = make_user(email="rev@example.com", is_staff=True)
    person.user_permissions.add(Permission.objects.get(codename="review_predictions"))
    client.force_login(person)
    return person


def queued(reason="") -> set[str]:
    return {p.original_filename or p.image.name for p in queue.review_queue(reason=reason)}


def test_queue_holds_disagreements_conflicts_and_low_confidence(user, other_user):
    said_wrong = fixtures.make(user, "wrong", "tabby", 0.9)
    fixtures.say(said_wrong, False, "lynx")
    fixtures.say(fixtures.make(user, "fine", "tabby", 0.9), True)
    fixtures.make(user, "unsure", "goldfish", 0.1)
    # Same bytes, two users: one says right, the other wrong.
    mine = fixtures.make(user, "shared", "tabby", 0.9)
    theirs = fixtures.make(other_user, "shared", "tabby", 0.9)
    fixtures.say(mine, True)
    fixtures.say(theirs, True)
    assert queued("conflict") == set(), "agreeing users: no conflict"
    Feedback.objects.filter(prediction=theirs).update(is_correct=False, correct_label="lynx")

    assert queued("wrong") == {"images/wrong.jpg", "images/shared.jpg"}
    assert queued("conflict") == {"images/shared.jpg"}, "one entry per image"
    assert queued("low") == {"images/unsure.jpg"}
    assert queued() == {"images/wrong.jpg", "images/unsure.jpg", "images/shared.jpg"}
    (entry,) = queue.review_queue(reason="conflict")
    assert (entry.said_wrong, entry.conflict) == (True, True)


def test_reviewing_labels_every_prediction_of_the_same_bytes(user, other_user, reviewer):
    mine = fixtures.make(user, "shared", "tabby", 0.9)
    theirs = fixtures.make(other_user, "shared", "tabby", 0.9)
    fixtures.say(theirs, False, "lynx")
    label, count = services.review_prediction(reviewer=reviewer, prediction=theirs, label="Lynx")
    assert (label, count) == ("lynx", 2)
    assert set(ReviewedLabel.objects.values_list("prediction", "label", "reviewer")) == {
        (mine.pk, "lynx", reviewer.pk),
        (theirs.pk, "lynx", reviewer.pk),
    }
    assert not queue.review_queue().exists(), "reviewed predictions leave the queue"
    assert Feedback.objects.get(prediction=theirs).correct_label == "lynx", "feedback untouched"
    # A second review replaces the first (one reviewed label per prediction).
    services.review_prediction(reviewer=reviewer, prediction=mine, label="tabby")
    assert set(ReviewedLabel.objects.values_list("label", flat=True)) == {"tabby"}


def test_a_reviewed_label_must_be_a_class_name(user, reviewer):
    prediction = fixtures.make(user, "x", "tabby", 0.1)
    with pytest.raises(services.NotAClassName):
        services.review_prediction(reviewer=reviewer, prediction=prediction, label="a doorbell")
    assert not ReviewedLabel.objects.exists()


def test_queue_page_then_setting_a_label(client, user, reviewer):
    prediction = make_prediction(user)
    Feedback.objects.create(
        user=user, prediction=prediction, is_correct=False, correct_label="lynx"
    )
    html = client.get("/quality/review/").content.decode()
    text = inner_text(html)
    assert "1 prediction to review" in text
    assert "user says wrong" in text
    assert f'action="/quality/review/{prediction.pk}/"' in html
    assert 'list="imagenet-labels"' in html and '<option value="great white shark">' in html
    assert 'value="lynx"' in html, "the user's correction is suggested"

    response = client.post(
        f"/quality/review/{prediction.pk}/",
        {"label": "Egyptian cat", "reason": "wrong"},
        follow=True,
    )
    assert response.redirect_chain == [("/quality/review/?reason=wrong", 302)]
    assert "Reviewed: Egyptian cat (1 prediction of this image)." in inner_text(
        response.content.decode()
    )
    reviewed = ReviewedLabel.objects.get()
    assert (reviewed.prediction, reviewed.label, reviewed.reviewer) == (
        prediction,
        "Egyptian_cat",
        reviewer,
    )
    assert reviewed.reviewed_at is not None


def test_confirm_button_keeps_the_models_label(client, user, reviewer):
    prediction = make_prediction(user, score=0.1)
    client.post(
        f"/quality/review/{prediction.pk}/", {"label": ["something typed", prediction.label]}
    )
    assert ReviewedLabel.objects.get().label == prediction.label


def test_an_unknown_label_is_refused_with_a_message(client, user, reviewer):
    prediction = make_prediction(user, score=0.1)
    response = client.post(
        f"/quality/review/{prediction.pk}/", {"label": "a doorbell"}, follow=True
    )
    assert "is not one of the ImageNet class names" in inner_text(response.content.decode())
    assert not ReviewedLabel.objects.exists()


def test_queue_page_query_count_does_not_grow_with_the_page(client, user, reviewer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for_page() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/quality/review/").status_code == 200
        return len(captured)

    fixtures.say(fixtures.make(user, "w0", "tabby", 0.9), False, "lynx")
    one = queries_for_page()
    for index in range(1, 15):
        fixtures.say(fixtures.make(user, f"w{index}", "tabby", 0.9), False, "lynx")
    assert queries_for_page() == one <= 10


def test_a_prediction_by_a_registry_version_is_reviewed_with_its_labels(client, user, reviewer):
    from registry.models import ModelVersion

    version = ModelVersion.objects.create(
        name="colors", version=1, format="keras", labels=["red", "green", "blue"], state="live"
    )
    top = [{"label": "red", "score": 0.1}, {"label": "green", "score": 0.09}]
    prediction = make_prediction(
        user, model_version=version, model_name="colors v1", top5=top, label="red", score=0.1
    )
    html = client.get("/quality/review/").content.decode()
    assert f'list="labels-v{version.pk}"' in html
    assert f'<datalist id="labels-v{version.pk}"><option value="blue">' in html

    refused = client.post(f"/quality/review/{prediction.pk}/", {"label": "tabby"}, follow=True)
    assert "is not one of this model's labels" in inner_text(refused.content.decode())
    client.post(f"/quality/review/{prediction.pk}/", {"label": " GREEN "})
    assert ReviewedLabel.objects.get().label == "green"
