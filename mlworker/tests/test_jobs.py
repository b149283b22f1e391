"""The same classification job runs under a plain RQ worker, one job at a time."""

import django_rq
import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from rq.worker import SimpleWorker

from classifier.models import Prediction
from conftest import distinct_photo
from mlworker import jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def plain_rq_worker(resnet_random):
    jobs.use_model(resnet_random)
    yield SimpleWorker([django_rq.get_queue(settings.INFERENCE_QUEUE)])
    jobs.use_model(None)


def upload(api_client, seed):
    response = api_client.post(
        "/api/predictions/",
        {"image": SimpleUploadedFile("p.jpg", distinct_photo(seed))},
        format="multipart",
    )
    return Prediction.objects.get(pk=response.json()["id"])


def test_plain_rq_worker_classifies_the_queued_predictions(api_client, settings, plain_rq_worker):
    settings.PREDICT_WAIT_SECONDS = 0
    predictions = [upload(api_client, seed) for seed in range(2)]
    plain_rq_worker.work(burst=True)
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    for prediction in predictions:
        prediction.refresh_from_db()
        assert prediction.status == "done"
        assert len(prediction.top5) == 5
        assert prediction.attempts == 1
    assert sorted(queue.finished_job_registry.get_job_ids()) == sorted(
        str(p.pk) for p in predictions
    )


def test_broken_image_fails_once_without_retries(api_client, settings, plain_rq_worker):
    settings.PREDICT_WAIT_SECONDS = 0
    prediction = upload(api_client, 7)
    with default_storage.open(prediction.image.name, "wb") as stored:
        stored.write(b"not an image any more")
    plain_rq_worker.work(burst=True)
    prediction.refresh_from_db()
    assert prediction.status == "failed"
    assert prediction.attempts == 1
    assert "decoded" in prediction.error or "image" in prediction.error
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    assert queue.failed_job_registry.get_job_ids() == [str(prediction.pk)]
    assert queue.count == 0
