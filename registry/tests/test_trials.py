"""A candidate on trial: who gets it (sticky hashes), one at a time, ended by a promotion."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from django.db import IntegrityError, transaction

from registry import selectors, services, spec
from registry.models import ModelEvent, ModelVersion
from registry.selectors import Candidate


def test_share_bucket_is_a_fixed_hash_of_trial_and_key():
    key = "3f2b8a9e-0000-4000-8000-000000000000"
    digest = hashlib.sha256(f"shadow:{key}".encode()).digest()
    assert spec.share_bucket("shadow", key) == int.from_bytes(digest[:8], "big") % 100
    assert spec.share_bucket("shadow", key) == spec.share_bucket("shadow", key)


def test_share_selects_about_its_percentage_and_grows_monotonically():
    keys = [str(uuid.UUID(int=n)) for n in range(4000)]
    chosen = {
        share: {k for k in keys if spec.in_share("shadow", k, share)} for share in (0, 20, 50, 100)
    }
    assert chosen[0] == set() and chosen[100] == set(keys)
    assert chosen[20] < chosen[50], "raising the share keeps everyone already in it"
    assert abs(len(chosen[20]) / len(keys) - 0.20) < 0.03
    assert abs(len(chosen[50]) / len(keys) - 0.50) < 0.03


def test_canary_is_sticky_per_user_and_independent_of_shadow():
    canary = Candidate(id=1, name="m", version=2, trial="canary", share=30)
    users = range(1, 2001)
    first = [canary.answers_user(user) for user in users]
    assert first == [canary.answers_user(user) for user in users], "same users every time"
    assert not any(canary.shadows(str(user)) for user in users), "a canary shadows nothing"
    shadow = Candidate(id=1, name="m", version=2, trial="shadow", share=30)
    assert not any(shadow.answers_user(user) for user in users), "a shadow answers no one"
    # Salted by trial: the canary's users are not the same buckets as shadow's keys.
    same = sum(
        spec.in_share("canary", user, 30) == spec.in_share("shadow", user, 30) for user in users
    )
    assert same < 0.7 * len(users)


@pytest.fixture
def versions(builtin_versions):
    live = ModelVersion.objects.get(name="efficientnet_lite0")
    services.promote_version(version=live)
    ready = ModelVersion.objects.get(name="resnet50")
    return live, ready


@pytest.mark.django_db
def test_canary_users_are_routed_to_the_candidate(versions, make_user):
    live, ready = versions
    services.start_trial(version=ready, trial="canary", share=100)
    assert selectors.version_for_upload(user_id=7) == ready.pk
    services.start_trial(version=ready, trial="canary", share=0)
    assert selectors.version_for_upload(user_id=7) == live.pk
    services.start_trial(version=ready, trial="shadow", share=100)
    assert selectors.version_for_upload(user_id=7) == live.pk, "shadow answers nobody"


@pytest.mark.django_db
def test_one_candidate_at_a_time_and_only_a_ready_one(versions, make_user):
    live, ready = versions
    with pytest.raises(services.TrialRefused):
        services.start_trial(version=live, trial="shadow", share=10)
    with pytest.raises(services.TrialRefused):
        services.start_trial(version=ready, trial="shadow", share=101)
    services.start_trial(version=ready, trial="shadow", share=10)
    other = ModelVersion.objects.create(name="other", version=1, format="onnx", state="ready")
    with pytest.raises(services.TrialRefused):
        services.start_trial(version=other, trial="canary", share=10)
    # The database refuses it even past the service.
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=other.pk).update(trial="canary", trial_share=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=live.pk).update(trial="canary", trial_share=5)


@pytest.mark.django_db
def test_promoting_the_candidate_ends_its_trial_and_is_audited(versions, admin_user):
    live, ready = versions
    services.start_trial(version=ready, trial="canary", share=25, actor=admin_user)
    services.promote_version(version=ready, actor=admin_user)
    ready.refresh_from_db()
    assert (ready.state, ready.trial, ready.trial_share) == ("live", "", 0)
    assert selectors.candidate_in_database() is None
    actions = list(ready.events.order_by("at", "id").values_list("action", "actor"))
    assert actions[-3:] == [
        ("canary", admin_user.pk),
        ("trial_ended", admin_user.pk),
        ("promoted", admin_user.pk),
    ]
    other = ModelVersion.objects.create(name="other", version=1, format="onnx", state="ready")
    services.start_trial(version=other, trial="shadow", share=50)
    assert services.rollback() == live  # a roll back ends the trial too
    assert selectors.candidate_in_database() is None
    assert ModelEvent.objects.filter(version=other, action="trial_ended").exists()


@pytest.mark.django_db
def test_trial_command_and_end(versions, capsys):
    from django.core.management import call_command

    _live, ready = versions
    call_command("trial_model", "resnet50", "1", "--shadow", "40")
    assert "resnet50 v1 is the shadow candidate on 40 % of uploads" in capsys.readouterr().out
    assert selectors.candidate_in_database() == Candidate(ready.pk, "resnet50", 1, "shadow", 40)
    call_command("trial_model", "--end")
    assert "Trial of resnet50 v1 ended." in capsys.readouterr().out
    assert selectors.candidate_in_database() is None


@pytest.mark.django_db
def said(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_admin_actions_start_and_end_a_trial_with_the_typed_share(versions, client, admin_user):
    _live, ready = versions
    client.force_login(admin_user)
    changelist = "/admin/registry/modelversion/"
    action = {"index": 0, "_selected_action": [ready.pk]}
    response = client.post(changelist, {**action, "action": "canary", "share": ""}, follow=True)
    assert said(response) == ["Select exactly one version and type its share (0–100 %)."]
    assert selectors.candidate_in_database() is None
    response = client.post(changelist, {**action, "action": "canary", "share": 15}, follow=True)
    assert said(response) == ["resnet50 v1 is the Canary candidate on 15 %."]
    assert selectors.candidate_in_database() == Candidate(ready.pk, "resnet50", 1, "canary", 15)
    response = client.post(changelist, {**action, "action": "end_trial"}, follow=True)
    assert said(response) == ["The trial of resnet50 v1 ended."]
    assert selectors.candidate_in_database() is None
