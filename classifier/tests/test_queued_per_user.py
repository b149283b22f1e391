"""One user's waiting jobs are capped (MAX_QUEUED_PER_USER), so a flood never locks others out.

No worker runs in these tests: every accepted upload waits in the queue.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import django_rq
import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from classifier import queueing
from classifier.models import Prediction
from testing.clients import jwt_client
from testing.photos import distinct_photo

CAP = 4
PARALLEL = 12


@pytest.fixture(autouse=True)
def capped(settings):
    settings.PREDICT_WAIT_SECONDS = 0
    settings.MAX_QUEUED_PER_USER = CAP
    settings.MAX_QUEUE_DEPTH = 100


def upload(user, seed: int, content: bytes | None = None):
    image = SimpleUploadedFile(f"{seed}.jpg", content or distinct_photo(seed))
    return jwt_client(user).post("/api/predictions/", {"image": image}, format="multipart")


def parallel_uploads(user, seeds) -> list:
    barrier = threading.Barrier(len(seeds))

    def one(seed):
        try:
            barrier.wait(timeout=30)
            return upload(user, seed)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(seeds)) as pool:
        return list(pool.map(one, seeds))


def queue():
    return django_rq.get_queue(django_settings.INFERENCE_QUEUE)


@pytest.mark.django_db(transaction=True)
def test_parallel_uploads_stop_at_the_cap_and_another_user_is_still_queued(make_user):
    flooder, other = make_user("flood@example.com"), make_user("other@example.com")
    answers = parallel_uploads(flooder, range(PARALLEL))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [202] * CAP + [429] * (PARALLEL - CAP)
    refused = next(a for a in answers if a.status_code == 429)
    assert f"You already have {CAP} photos waiting to be classified" in refused.json()["detail"]
    assert int(refused["Retry-After"]) >= 1
    assert Prediction.objects.filter(owner=flooder).count() == CAP  # refused ones kept nothing
    assert queue().count == CAP
    answer = upload(other, 100)
    assert answer.status_code == 202, answer.content
    assert queue().count == CAP + 1


@pytest.mark.django_db
def test_the_upload_form_says_so_too(client, user):
    for seed in range(CAP):
        assert upload(user, seed).status_code == 202
    client.force_login(user)
    image = SimpleUploadedFile("more.jpg", distinct_photo(50))
    response = client.post("/", {"image": image})
    assert response.status_code == 429
    assert "photos waiting to be classified" in response.content.decode()


@pytest.mark.django_db
def test_places_are_freed_when_a_worker_takes_the_jobs(user, run_worker):
    for seed in range(CAP):
        assert upload(user, seed).status_code == 202
    assert upload(user, 10).status_code == 429
    run_worker()
    assert upload(user, 11).status_code == 202


@pytest.mark.django_db
def test_uploads_that_queue_nothing_hold_no_place(user, live_model, run_worker):
    for seed in range(CAP + 2):  # not images: refused with a 400, no job
        bad = SimpleUploadedFile(f"{seed}.txt", b"not an image")
        response = jwt_client(user).post("/api/predictions/", {"image": bad}, format="multipart")
        assert response.status_code == 400
    content = distinct_photo(20)
    assert upload(user, 20, content).status_code == 202
    run_worker()
    live_model()
    for _ in range(CAP + 2):  # answered from the user's own result cache: no job
        assert upload(user, 20, content).json()["cached"] is True
    assert [upload(user, seed).status_code for seed in range(30, 30 + CAP)] == [202] * CAP
    assert queue().connection.zcard(queueing.queue_places_key(user.pk)) == CAP


@pytest.mark.django_db
def test_a_retried_job_holds_its_place_again_until_a_worker_takes_it(user):
    from types import SimpleNamespace

    from mlworker import jobs

    assert upload(user, 1).status_code == 202
    job = queue().fetch_job(str(Prediction.objects.get().pk))
    places = queueing.queue_places_key(user.pk)
    queue().connection.delete(places)  # as if a worker took it
    job.retries_left = 1
    job_like = SimpleNamespace(args=job.args, id=job.id, retries_left=1, meta=job.meta)
    jobs.record_job_failure(job_like, queue().connection, RuntimeError, RuntimeError("x"), None)
    assert queue().connection.zrange(places, 0, -1) == [job.id.encode()]


@pytest.mark.django_db
def test_cap_zero_turns_it_off(user, settings):
    settings.MAX_QUEUED_PER_USER = 0
    assert [upload(user, seed).status_code for seed in range(CAP + 2)] == [202] * (CAP + 2)
