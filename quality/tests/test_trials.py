"""The candidate comparisons and the review queue's order, on rows written directly."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from classifier.models import ShadowAnswer
from quality import comparison, queue
from quality.models import ReviewedLabel
from quality.selectors import Period
from quality.stats import Proportion
from quality.tests import fixtures
from registry import services
from registry.models import ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(builtin_versions):
    live = ModelVersion.objects.get(name="efficientnet_lite0")
    services.promote_version(version=live)
    return live, ModelVersion.objects.get(name="resnet50")


def answered(owner, name, label, score, version, shadow_label=None, candidate=None):
    prediction = fixtures.make(owner, name, label, score)
    prediction.model_version = version
    prediction.save(update_fields=["model_version"])
    if shadow_label is not None:
        ShadowAnswer.objects.create(
            prediction=prediction, model_version=candidate, label=shadow_label, score=0.5
        )
    return prediction


def test_shadow_figures_on_the_same_images(user, pair):
    live, candidate = pair
    rows = [  # (live label, shadow label, reviewed label)
        ("tabby", "tabby", "tabby"),
        ("tabby", "goldfish", "goldfish"),
        ("goldfish", "goldfish", "goldfish"),
        ("tabby", "goldfish", None),
        ("goldfish", "goldfish", None),
    ]
    for n, (said, shadow, truth) in enumerate(rows):
        prediction = answered(user, f"s{n}", said, 0.9, live, shadow, candidate)
        if truth:
            ReviewedLabel.objects.create(
                prediction=prediction, image_sha256=prediction.image_sha256, label=truth
            )
    answered(user, "plain", "tabby", 0.9, live)  # no shadow answer: not compared
    (row,) = comparison.shadow_comparisons(Period.last_days(7))
    assert (row.candidate_id, row.live_id, row.images) == (candidate.pk, live.pk, 5)
    assert row.agreement == Proportion.of(3, 5)
    assert row.candidate_accuracy == Proportion.of(3, 3)
    assert row.live_accuracy == Proportion.of(2, 3)
    assert "not yet distinguishable" in row.sentence


def test_canary_compares_feedback_per_version_and_keeps_history(user, pair):
    live, candidate = pair
    for n in range(6):
        fixtures.say(answered(user, f"l{n}", "tabby", 0.9, live), n < 3)
    for n in range(4):
        fixtures.say(answered(user, f"c{n}", "tabby", 0.9, candidate), True)
    services.start_trial(version=candidate, trial="canary", share=50)
    trials = comparison.trials(Period.last_days(7))
    by_version = {row.version_id: row.accuracy for row in trials.versions}
    assert by_version == {live.pk: Proportion.of(3, 6), candidate.pk: Proportion.of(4, 4)}
    assert trials.canary.kind == "canary"
    assert (trials.canary.candidate.version_id, trials.canary.baseline.version_id) == (
        candidate.pk,
        live.pk,
    )
    assert trials.canary.sentence.startswith("resnet50 v1 and efficientnet_lite0 v1 are not yet")
    services.promote_version(version=candidate)
    after = comparison.trials(Period.last_days(7))
    assert {row.version_id for row in after.versions} == {live.pk, candidate.pk}
    assert after.canary.kind == "promoted" and after.candidate == ""
    assert after.canary.baseline.version_id == live.pk


def test_trials_page_and_api_need_the_dashboard_permission(client, user, make_user, pair):
    live, candidate = pair
    answered(user, "s", "tabby", 0.9, live, "goldfish", candidate)
    services.start_trial(version=candidate, trial="shadow", share=20)
    staff = make_user(email="q@example.com", is_staff=True)
    client.force_login(staff)
    assert client.get("/api/quality/trials/").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    data = client.get("/api/quality/trials/").json()
    assert data["candidate"] == "resnet50 v1: shadow on 20 %"
    assert data["shadow"][0]["agreement"] == {
        "successes": 0,
        "total": 1,
        "rate": 0.0,
        "low": 0.0,
        "high": pytest.approx(0.7935, abs=1e-4),
    }
    page = client.get("/quality/").content.decode()
    assert 'id="shadow"' in page and "resnet50 v1: shadow on 20 %" in page


def test_review_queue_puts_disagreements_first_then_lowest_confidence(user, pair):
    live, candidate = pair
    answered(user, "sure", "tabby", 0.2, live)
    answered(user, "unsure", "goldfish", 0.05, live)
    answered(user, "agrees", "tabby", 0.1, live, "tabby", candidate)
    answered(user, "disagrees", "tabby", 0.24, live, "goldfish", candidate)
    order = [p.image.name for p in queue.review_queue()]
    assert order == [
        "images/disagrees.jpg",
        "images/unsure.jpg",
        "images/agrees.jpg",
        "images/sure.jpg",
    ]
    assert [p.image.name for p in queue.review_queue(reason="disagree")] == ["images/disagrees.jpg"]
