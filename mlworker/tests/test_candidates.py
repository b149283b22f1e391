"""The candidate's part of a batch (mlworker.candidates), in this process with tiny models:
shadow answers stored apart for the uploads in the share, canary uploads answered and
recorded by the candidate, everything else by the live version.

The same through a worker process and the dashboard: training/tests/test_train_digits.py.
"""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from classifier.models import Prediction, ShadowAnswer
from mlworker import candidates, inference
from mlworker.registry_loader import current_context, load_version, version_spec
from mlworker.tests.tiny_models import color_model, labels_file, solid_photo
from mlworker.validation import validate_version
from registry import services, spec
from registry.models import ModelVersion

pytestmark = pytest.mark.django_db

#: the candidate names the colours in the other order: its answers always differ
SWAPPED = ("blue", "green", "red")


def ready_version(tmp_path, name: str, labels) -> ModelVersion:
    model_path = color_model(tmp_path / f"{name}.keras")
    with open(model_path, "rb") as content:
        version = services.register_version(
            name=name,
            content=content,
            filename=model_path.name,
            labels_text=labels_file(tmp_path / f"{name}.txt", labels).read_text(),
            preprocessing="unit",
            input_size=(32, 32),
        )
    assert validate_version(version.pk)
    return ModelVersion.objects.get(pk=version.pk)


@pytest.fixture
def pair(tmp_path, settings, monkeypatch):
    settings.MODEL_CACHE_DIR = tmp_path / "cache"
    settings.INFERENCE_RUNTIME = "tensorflow"
    live = services.promote_version(
        version=ready_version(tmp_path, "colors", ("red", "green", "blue"))
    )
    candidate = ready_version(tmp_path, "swapped", SWAPPED)
    monkeypatch.setattr(candidates, "_candidate_model", candidates.CandidateModel())
    return live, candidate, load_version(version_spec(live.pk), current_context())


def uploads(owners, version_id) -> list[str]:
    ids = []
    for n, owner in enumerate(owners):
        name = default_storage.save(f"images/red-{n}.jpg", ContentFile(solid_photo("red", n)))
        prediction = Prediction.objects.create(
            owner=owner, image=name, image_sha256=f"{n:064x}", model_version_id=version_id
        )
        ids.append(str(prediction.pk))
    return ids


def run_batch(live_model, ids: list[str]) -> None:
    prepared = inference.prepare_inputs(live_model, ids)
    outcome = candidates.forward(live_model, prepared)
    candidates.record(outcome, model_name=live_model.name, model_version_id=live_model.version_id)


def test_shadow_answers_the_share_apart_and_users_get_the_live_answer(pair, user):
    live, candidate, live_model = pair
    services.start_trial(version=candidate, trial=spec.SHADOW, share=50)
    ids = uploads([user] * 12, live.pk)
    run_batch(live_model, ids)
    answered = {str(p.pk): p for p in Prediction.objects.filter(pk__in=ids)}
    assert {(p.status, p.label, p.model_version_id) for p in answered.values()} == {
        ("done", "red", live.pk)
    }
    shadow = {str(a.prediction_id): a for a in ShadowAnswer.objects.all()}
    in_share = {pk for pk in ids if spec.in_share(spec.SHADOW, pk, 50)}
    assert set(shadow) == in_share and 0 < len(in_share) < len(ids)
    assert {(a.label, a.model_version_id) for a in shadow.values()} == {("blue", candidate.pk)}


def test_canary_uploads_are_answered_and_recorded_by_the_candidate(pair, user, other_user):
    live, candidate, live_model = pair
    services.start_trial(version=candidate, trial=spec.CANARY, share=100)
    routed = uploads([user] * 3, candidate.pk)  # as the web records them for canary users
    others = uploads([other_user] * 3, live.pk)
    run_batch(live_model, routed + others)
    rows = {str(p.pk): p for p in Prediction.objects.all()}
    assert {(rows[pk].label, rows[pk].model_version_id) for pk in routed} == {
        ("blue", candidate.pk)
    }
    assert {rows[pk].model_name for pk in routed} == {"swapped v1"}
    assert {(rows[pk].label, rows[pk].model_version_id) for pk in others} == {("red", live.pk)}
    assert not ShadowAnswer.objects.exists(), "a canary keeps no shadow answers"


def test_with_no_candidate_the_batch_is_the_live_versions_alone(pair, user):
    live, candidate, live_model = pair
    ids = uploads([user] * 2, candidate.pk)  # routed while a canary ran, which has ended
    run_batch(live_model, ids)
    assert set(Prediction.objects.values_list("label", "model_version_id")) == {("red", live.pk)}
