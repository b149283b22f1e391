"""What the web enqueues names what runs: the batch job the batched worker runs in steps."""

import django_rq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rq.job import Job
from rq.worker import SimpleWorker

from classifier.models import Prediction
from mlworker import candidates, inference, jobs
from mlworker.batch import batch_job
from testing.photos import distinct_photo

pytestmark = pytest.mark.django_db


def upload(api_client, seed):
    response = api_client.post(
        "/api/predictions/",
        {"image": SimpleUploadedFile("p.jpg", distinct_photo(seed))},
        format="multipart",
    )
    return Prediction.objects.get(pk=response.json()["id"])


def test_the_enqueued_job_names_the_steps_the_batched_worker_runs(api_client, settings):
    settings.PREDICT_WAIT_SECONDS = 0
    prediction = upload(api_client, 1)
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    job = Job.fetch(str(prediction.pk), connection=queue.connection)
    kind = batch_job(job)
    assert kind is jobs.classify_prediction
    assert (kind.prepare, kind.forward, kind.record) == (
        inference.prepare_inputs,
        candidates.forward,  # inference's forward pass and record, plus the candidate's part
        candidates.record,
    )


def test_a_plain_rq_worker_refuses_it_and_says_which_worker_to_run(api_client, settings):
    settings.PREDICT_WAIT_SECONDS = 0
    settings.PREDICTION_MAX_ATTEMPTS = 1
    prediction = upload(api_client, 2)
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    job = Job.fetch(str(prediction.pk), connection=queue.connection)
    assert "run_model_worker" in job.latest_result().exc_string
    prediction.refresh_from_db()
    assert prediction.status == "failed"
    assert "repeated attempts" in prediction.error
