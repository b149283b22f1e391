"""`rq suspend` / `rq resume` (RQ's own CLI) pause and resume our batch worker process."""

import os
import subprocess
import sys
from pathlib import Path

import django_rq
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from rq.worker import Worker, WorkerStatus

from classifier.models import Prediction
from ops.stack import stop_process, wait_until
from testing.live_stack import subprocess_env
from testing.photos import distinct_photo

pytestmark = [pytest.mark.slow]


def rq_cli(*args: str) -> None:
    rq = Path(sys.executable).with_name("rq")
    subprocess.run([str(rq), *args, "--url", settings.REDIS_URL], check=True, timeout=60)


def spawn_worker(tmp_path, *args: str) -> subprocess.Popen:
    log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_model_worker", *args],
        cwd=settings.BASE_DIR,
        env={**os.environ, **subprocess_env()},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def upload(api_client) -> Prediction:
    response = api_client.post(
        "/api/predictions/",
        {"image": SimpleUploadedFile("p.jpg", distinct_photo(7))},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    return Prediction.objects.get(pk=response.json()["id"])


@pytest.fixture
def resumed():
    yield
    rq_cli("resume")


def test_a_suspended_worker_takes_no_job_until_resumed(
    api_client, transactional_db, settings, tmp_path, resumed
):
    settings.PREDICT_WAIT_SECONDS = 0
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    worker = spawn_worker(tmp_path)
    try:
        wait_until(lambda: Worker.all(queue=queue), timeout=180, what="the worker to register")
        rq_cli("suspend")
        wait_until(
            lambda: Worker.all(queue=queue)[0].get_state() == WorkerStatus.SUSPENDED,
            timeout=30,
            what="the worker to report itself suspended",
        )
        prediction = upload(api_client)
        assert queue.count == 1
        prediction.refresh_from_db()
        assert prediction.status == "queued"
        rq_cli("resume")
        wait_until(
            lambda: Prediction.objects.get(pk=prediction.pk).status == "done",
            timeout=60,
            what="the resumed worker to classify the upload",
        )
    finally:
        stop_process(worker)


def test_a_burst_worker_started_while_suspended_exits_without_working(
    api_client, transactional_db, settings, tmp_path, resumed
):
    settings.PREDICT_WAIT_SECONDS = 0
    prediction = upload(api_client)
    rq_cli("suspend")
    worker = spawn_worker(tmp_path, "--burst")
    try:
        assert worker.wait(timeout=180) == 0
    finally:
        stop_process(worker)
    prediction.refresh_from_db()
    assert prediction.status == "queued"
    assert django_rq.get_queue(settings.INFERENCE_QUEUE).count == 1
