"""No lost work: a model worker killed with SIGKILL in the middle of a batch, lost jobs.

The `slow` tests use real processes (gunicorn and `run_model_worker`) on the test database
and Redis. A dead worker's jobs stay in RQ's StartedJobRegistry until their lease
(JOB_LEASE_SECONDS) runs out; then a live worker's maintenance (every
WORKER_HEARTBEAT_SECONDS) retries them, up to PREDICTION_MAX_ATTEMPTS attempts in all,
and marks them failed after that. What RQ cannot see (Redis lost the job, a failure
that was never recorded) the recovery sweep (`mlworker.recovery`) finds from the
database side: those cases run in process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import django_rq
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from rq.job import Job

from classifier import queueing
from classifier.models import Prediction
from classifier.tests.reliability_doc import check_section
from mlworker.recovery import sweep_lost_predictions
from mlworker.tests.sweep_cases import SWEEP_CASES, SweepCase
from ops.stack import wait_until
from testing.clients import jwt_client
from testing.live_stack import live_auth_headers, live_upload
from testing.photos import distinct_photo, photo_bytes

RECOVERY_ENV = {
    "PREDICT_WAIT_SECONDS": "0",
    "JOB_LEASE_SECONDS": "3",
    "WORKER_HEARTBEAT_SECONDS": "1",
}
WORKER_START_TIMEOUT = 180


def upload(stack, headers, seeds, make=distinct_photo) -> list[str]:
    ids = []
    for seed in seeds:
        response = live_upload(stack, headers, make(seed), f"{seed}.jpg", timeout=30)
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


def statuses(ids) -> dict[str, str]:
    rows = Prediction.objects.filter(pk__in=ids).values_list("pk", "status")
    return {str(pk): status for pk, status in rows}


def wait_for_running(ids, *, attempts: int, timeout=WORKER_START_TIMEOUT) -> None:
    wait_until(
        lambda: Prediction.objects.filter(pk__in=ids, status="running", attempts=attempts).exists(),
        timeout=timeout,
        interval=0.01,  # the window between 'running' and the batch's end is short
        what=f"a worker to start attempt {attempts}",
    )


def worker_running(prediction_id: str, workers: list[subprocess.Popen]) -> subprocess.Popen:
    """The worker process that holds the job (RQ records its name; its hash holds the pid)."""
    connection = django_rq.get_connection(settings.INFERENCE_QUEUE)
    job = Job.fetch(prediction_id, connection=connection)
    pid = int(connection.hget(f"rq:worker:{job.worker_name}", "pid"))
    return next(process for process in workers if process.pid == pid)


def kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@pytest.mark.slow
def test_batch_of_a_killed_worker_is_finished_by_another_worker(live_stack, user):
    stack = live_stack(workers=0, PREDICTION_MAX_ATTEMPTS="3", **RECOVERY_ENV)
    ids = upload(stack, live_auth_headers(stack, user), range(6))
    doomed = stack.add_worker()
    wait_for_running(ids, attempts=1)
    kill(doomed)
    in_flight = [pk for pk, status in statuses(ids).items() if status == "running"]
    assert in_flight, "the worker finished its batch before it could be killed"

    stack.add_worker()
    wait_until(
        lambda: set(statuses(ids).values()) == {"done"},
        timeout=WORKER_START_TIMEOUT,
        what="the second worker to finish the dead worker's batch",
    )
    for prediction in Prediction.objects.filter(pk__in=in_flight):
        assert prediction.attempts == 2, prediction.attempts
        assert prediction.error == ""
        assert len(prediction.top5) == 5
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    assert queue.count == 0
    assert queue.started_job_registry.get_job_ids() == []
    assert sorted(queue.finished_job_registry.get_job_ids()) == sorted(ids)


@pytest.mark.slow
def test_a_job_that_kills_every_worker_fails_after_max_attempts(live_stack, user):
    stack = live_stack(workers=0, PREDICTION_MAX_ATTEMPTS="2", **RECOVERY_ENV)
    # A 12-megapixel photo: decoding it keeps the job running long enough to be caught.
    (prediction_id,) = upload(
        stack, live_auth_headers(stack, user), [7], make=lambda seed: photo_bytes(size=(4000, 3000))
    )
    first = stack.add_worker()
    wait_for_running([prediction_id], attempts=1)
    kill(first)
    # Two more workers: one takes the retry and dies too, the other must give up on it.
    stack.add_worker()
    stack.add_worker()
    wait_for_running([prediction_id], attempts=2)
    kill(worker_running(prediction_id, stack.workers))
    wait_until(
        lambda: statuses([prediction_id])[prediction_id] != "running",
        timeout=60,
        what="the last worker to give up on the job",
    )
    prediction = Prediction.objects.get(pk=prediction_id)
    assert prediction.status == "failed"
    assert prediction.attempts == 2
    assert "failed after repeated attempts" in prediction.error
    assert "worker stopped" in prediction.error
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    assert queue.failed_job_registry.get_job_ids() == [prediction_id]
    assert queue.count == 0


# --- A slow batch on a live worker is not taken for abandoned ------------------------------
class SlowModel:
    """The test model, with a forward pass longer than the job lease."""

    def __init__(self, model, seconds: float):
        self.model = model
        self.seconds = seconds

    def __getattr__(self, name):
        return getattr(self.model, name)

    def predict_batch(self, batch):
        time.sleep(self.seconds)
        return self.model.predict_batch(batch)


@pytest.mark.django_db(transaction=True)
def test_a_batch_slower_than_the_lease_keeps_its_jobs(user, resnet_random, settings):
    from mlworker.worker import BatchSettings, BatchWorker

    settings.PREDICT_WAIT_SECONDS = 0
    client = jwt_client(user)
    ids = []
    for seed in range(2):
        image = SimpleUploadedFile(f"{seed}.jpg", distinct_photo(seed))
        ids.append(client.post("/api/predictions/", {"image": image}).json()["id"])
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    worker = BatchWorker(
        [queue],
        model=SlowModel(resnet_random, seconds=5),
        batching=BatchSettings(batch_size=8, max_wait_ms=5, job_lease_seconds=2),
    )
    stop = threading.Event()
    taken_for_abandoned = set()

    def other_workers_maintenance():  # what decides, in every other worker, to retry a job
        registry = queue.started_job_registry
        while not stop.wait(0.2):
            taken_for_abandoned.update(registry.get_expired_job_ids())

    other = threading.Thread(target=other_workers_maintenance)
    other.start()
    try:
        worker.work(burst=True, logging_level="WARNING")
    finally:
        stop.set()
        other.join()
    assert taken_for_abandoned == set()
    for prediction_id in ids:
        prediction = Prediction.objects.get(pk=prediction_id)
        assert (prediction.status, prediction.attempts, prediction.error) == ("done", 1, "")
    assert worker.batches_done == 1


# --- A stored image cut short is written again by the next upload of the same bytes ------
@pytest.mark.django_db
def test_a_damaged_stored_image_is_rewritten_by_the_next_upload(user, settings, run_worker):
    from django.core.files.storage import default_storage

    settings.PREDICT_WAIT_SECONDS = 0
    client = jwt_client(user)
    content = distinct_photo(31)
    first = client.post("/api/predictions/", {"image": SimpleUploadedFile("a.jpg", content)})
    stored = Prediction.objects.get(pk=first.json()["id"]).image.name
    with default_storage.open(stored, "wb") as damaged:  # as if the write had been cut short
        damaged.write(content[: len(content) // 3])
    again = client.post("/api/predictions/", {"image": SimpleUploadedFile("b.jpg", content)})
    assert again.status_code == 202
    with default_storage.open(stored, "rb") as repaired:
        assert repaired.read() == content
    run_worker()
    assert Prediction.objects.get(pk=again.json()["id"]).status == "done"


# --- The recovery sweep, case by case (sweep_cases.py; in process, no worker needed) -------
GRACE_SECONDS = 60


def make_pending(user, case: SweepCase) -> Prediction:
    from django.utils import timezone

    prediction = Prediction.objects.create(
        owner=user,
        image="images/00/none.jpg",
        image_sha256="0" * 64,
        model_name="resnet50 (random weights)",
        status=case.status,
        attempts=case.attempts,
    )
    created = timezone.now() - timedelta(seconds=case.age_seconds)
    Prediction.objects.filter(pk=prediction.pk).update(created_at=created)
    if case.job is not None:
        queueing.enqueue_prediction(prediction_id=str(prediction.pk))
        queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
        job = Job.fetch(str(prediction.pk), connection=queue.connection)
        if case.job != "queued":
            queue.remove(job)
            job.set_status(case.job)
            if case.job == "failed":
                queue.failed_job_registry.add(job, ttl=3600)
    return prediction


@pytest.mark.django_db
@pytest.mark.parametrize("case", SWEEP_CASES, ids=lambda case: case.id)
def test_recovery_sweep(case, user, settings):
    settings.PREDICTION_MAX_ATTEMPTS = 3
    settings.PREDICTION_DEADLINE_SECONDS = case.deadline_seconds
    prediction = make_pending(user, case)
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    sweep_lost_predictions(queue, grace_seconds=GRACE_SECONDS)
    prediction.refresh_from_db()
    assert prediction.status == case.expect_status
    assert case.expect_error in prediction.error
    job_id = str(prediction.pk)
    if case.expect_job is None:
        assert queue.count == 0
        return
    assert queue.get_job_ids() == [job_id]
    job = Job.fetch(job_id, connection=queue.connection)
    attempts_left = settings.PREDICTION_MAX_ATTEMPTS - case.attempts
    if case.job != "queued":
        assert (job.retries_left or 0) == attempts_left - 1
    assert job_id not in queue.failed_job_registry.get_job_ids()


@pytest.mark.django_db
def test_one_sweep_per_grace_period_across_workers(user, settings):
    case = SWEEP_CASES[0]
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    sweep_lost_predictions(queue, grace_seconds=GRACE_SECONDS)  # takes the lock
    make_pending(user, case)
    assert sweep_lost_predictions(queue, grace_seconds=GRACE_SECONDS) == {}
    assert queue.count == 0


@pytest.mark.django_db
def test_failure_callback_survives_a_database_outage(monkeypatch):
    from django.db import OperationalError

    from mlworker import jobs

    def unreachable(**kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(jobs.lifecycle, "requeue_prediction", unreachable)
    monkeypatch.setattr(jobs.lifecycle, "fail_prediction", unreachable)
    for retries_left in (1, 0):
        job = SimpleNamespace(args=["p"], id="p", retries_left=retries_left)
        jobs.record_job_failure(job, None, RuntimeError, RuntimeError("boom"), None)


# --- The document --------------------------------------------------------------------------
def test_reliability_doc_lists_every_recovery_case():
    rows = [
        (
            "kill-mid-batch",
            "SIGKILL a worker in the middle of a 6-image batch; start another worker "
            "(JOB_LEASE_SECONDS=3, WORKER_HEARTBEAT_SECONDS=1)",
            "every prediction of the batch done by the new worker, attempts = 2, no error; "
            "queue and StartedJobRegistry empty",
        ),
        (
            "kill-every-attempt",
            "PREDICTION_MAX_ATTEMPTS=2; SIGKILL the worker running the job, twice",
            'failed after 2 attempts, "Classification failed after repeated attempts '
            '(the worker stopped)."; job in the failed registry',
        ),
    ]
    rows.append(
        (
            "batch-slower-than-lease",
            "a live worker's batch takes 5 s, JOB_LEASE_SECONDS=2, another worker's "
            "maintenance cleans the StartedJobRegistry every 0.2 s",
            "leases renewed while the batch runs: no retry, each prediction done in 1 attempt",
        )
    )
    rows.append(
        (
            "stored-image-damaged",
            "the stored file of an image is cut short on disk; the same bytes are uploaded again",
            "the file is written again (content-addressed storage checks what it reuses); "
            "the new prediction is done",
        )
    )
    rows += [(case.id, case.what, case.result) for case in SWEEP_CASES]
    rows.append(
        (
            "sweep-once-per-lease",
            "several workers sweeping at once",
            "one sweep per JOB_LEASE_SECONDS (Redis lock)",
        )
    )
    rows.append(
        (
            "callback-database-down",
            "RQ's failure callback while the database is unreachable",
            "logs and returns (RQ's cleanup and the worker carry on); the sweep settles it later",
        )
    )
    check_section("recovery", rows)
