"""The real thing: gunicorn and `run_model_worker` processes on the real database and Redis."""

import signal

import pytest
import requests

from classifier.models import Prediction
from ops.stack import wait_until
from testing.live_stack import live_auth_headers, live_upload
from testing.photos import distinct_photo, photo_bytes

pytestmark = [pytest.mark.slow]


def test_upload_over_http_is_answered_by_a_worker_process(live_stack, user):
    stack = live_stack(workers=1)
    response = live_upload(stack, live_auth_headers(stack, user), photo_bytes("chelsea"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "done"
    assert len(body["top5"]) == 5
    assert body["model_name"] == "resnet50 (random weights)"


def test_jobs_queued_while_no_worker_runs_are_done_once_when_workers_start(live_stack, user):
    stack = live_stack(workers=0, PREDICT_WAIT_SECONDS="0")
    headers = live_auth_headers(stack, user)
    ids = []
    for seed in range(10):
        response = live_upload(stack, headers, distinct_photo(seed))
        assert response.status_code == 202
        ids.append(response.json()["id"])
    stack.add_worker()
    stack.add_worker()
    # Both registered (a busy machine may take a minute to start TensorFlow), then every
    # job done within one wait.
    stack.wait_ready(workers=2)
    for prediction_id in ids:
        done = requests.get(
            f"{stack.url}/api/predictions/{prediction_id}/?wait=60", headers=headers, timeout=90
        ).json()
        assert done["status"] == "done"
    attempts = set(Prediction.objects.filter(pk__in=ids).values_list("attempts", flat=True))
    assert attempts == {1}, "a prediction was worked on more than once"


def test_sigterm_finishes_the_batch_in_hand_then_exits_zero(live_stack, user):
    stack = live_stack(workers=0, PREDICT_WAIT_SECONDS="0")
    headers = live_auth_headers(stack, user)
    for seed in range(8):
        assert live_upload(stack, headers, distinct_photo(seed)).status_code == 202
    worker = stack.add_worker()
    wait_until(
        lambda: Prediction.objects.filter(status="running").exists(),
        timeout=120,
        interval=0.05,
        what="the worker to start a batch",
    )
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=120) == 0
    statuses = list(Prediction.objects.values_list("status", flat=True))
    assert "running" not in statuses
    assert statuses.count("done") >= 1
