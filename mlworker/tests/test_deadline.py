"""PREDICTION_DEADLINE_SECONDS: a job still queued past its deadline is failed, never run."""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from classifier.models import Prediction
from mlworker.recovery import LOCK_KEY
from testing.photos import distinct_photo

pytestmark = pytest.mark.django_db


def upload(client, seed: int) -> str:
    response = client.post(
        "/api/predictions/",
        {"image": SimpleUploadedFile(f"{seed}.jpg", distinct_photo(seed))},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    return response.json()["id"]


def age(prediction_id: str, seconds: float) -> None:
    """As if uploaded `seconds` ago (the job has waited in the queue all that time)."""
    created = timezone.now() - timedelta(seconds=seconds)
    Prediction.objects.filter(pk=prediction_id).update(created_at=created)


class CountingModel:
    """The real model, counting the images that go through it."""

    def __init__(self, model):
        self.model = model
        self.images = 0
        self._warmed_batch_sizes = {1, 16}  # count real work only, not the warm-up

    def __getattr__(self, name):
        return getattr(self.model, name)

    def predict_batch(self, batch):
        self.images += len(batch)
        return self.model.predict_batch(batch)


def test_a_job_queued_past_its_deadline_fails_as_expired_without_running(
    api_client, settings, run_worker, resnet_random
):
    settings.PREDICT_WAIT_SECONDS = 0
    settings.PREDICTION_DEADLINE_SECONDS = 60
    stale, fresh = upload(api_client, 1), upload(api_client, 2)
    age(stale, 61)
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    # As if another worker had just swept: this worker's own check before the forward
    # pass is what stops the stale job (the sweep case is the next test).
    queue.connection.set(LOCK_KEY, "1", ex=60)
    model = CountingModel(resnet_random)
    run_worker(model=model)

    expired = api_client.get(f"/api/predictions/{stale}/").json()
    assert expired["status"] == "failed"
    assert expired["error"].startswith("Expired: it waited in the queue longer than 60 seconds")
    assert expired["label"] == ""
    assert api_client.get(f"/api/predictions/{fresh}/").json()["status"] == "done"
    # Only the fresh image went through the model.
    assert model.images == 1
    assert stale in queue.failed_job_registry.get_job_ids()
    assert queue.count == 0


def test_the_recovery_sweep_clears_an_expired_backlog_before_the_model_sees_it(
    api_client, settings, run_worker, resnet_random
):
    """A backlog left by an outage: the worker's maintenance (which runs first) fails the
    expired predictions and takes their jobs off the queue in one sweep."""
    settings.PREDICT_WAIT_SECONDS = 0
    settings.PREDICTION_DEADLINE_SECONDS = 60
    backlog = [upload(api_client, seed) for seed in (11, 12, 13)]
    for prediction_id in backlog:
        age(prediction_id, 3600)
    model = CountingModel(resnet_random)
    run_worker(model=model)
    assert model.images == 0
    for prediction_id in backlog:
        prediction = Prediction.objects.get(pk=prediction_id)
        assert prediction.status == "failed"
        assert prediction.error.startswith("Expired")
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    assert sorted(queue.canceled_job_registry.get_job_ids()) == sorted(backlog)
    assert queue.count == 0


def test_a_job_within_its_deadline_runs(api_client, settings, run_worker):
    settings.PREDICT_WAIT_SECONDS = 0
    settings.PREDICTION_DEADLINE_SECONDS = 60
    prediction_id = upload(api_client, 3)
    age(prediction_id, 50)
    run_worker()
    assert Prediction.objects.get(pk=prediction_id).status == "done"


def test_deadline_zero_turns_expiry_off(api_client, settings, run_worker):
    settings.PREDICT_WAIT_SECONDS = 0
    settings.PREDICTION_DEADLINE_SECONDS = 0
    prediction_id = upload(api_client, 4)
    age(prediction_id, 10 * 24 * 3600)
    run_worker()
    assert Prediction.objects.get(pk=prediction_id).status == "done"
