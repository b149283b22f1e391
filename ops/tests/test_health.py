"""GET /api/health/: 200 only when database, Redis and a worker are all up."""

import os
import subprocess
import sys
import time

import django_rq
import pytest
from django.conf import settings
from rq.worker import Worker

from ops.stack import free_port, wait_until
from testing.live_stack import subprocess_env

pytestmark = pytest.mark.django_db


def test_health_is_503_naming_the_missing_worker(client):
    response = client.get("/api/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] is True and body["redis"] is True
    assert body["live_workers"] == 0
    assert "no model worker running" in body["problems"]
    assert body["object_store"] is None  # images on disk (MEDIA_ROOT): no store to report


def test_health_is_200_while_a_worker_heartbeats(client, resnet_random):
    from mlworker.worker import BatchSettings, BatchWorker

    worker = BatchWorker(
        [django_rq.get_queue(settings.INFERENCE_QUEUE)],
        model=resnet_random,
        batching=BatchSettings(),
        worker_ttl=5,
    )
    worker.register_birth()
    worker.heartbeat()
    try:
        response = client.get("/api/health/")
        assert response.status_code == 200, response.json()
        assert response.json()["live_workers"] == 1
        assert response.json()["queue_depth"] == 0
    finally:
        worker.register_death()
    assert client.get("/api/health/").status_code == 503


def spawn_worker(tmp_path, **env) -> subprocess.Popen:
    """A real `run_model_worker` process on this test's database and Redis."""
    log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_model_worker"],
        cwd=settings.BASE_DIR,
        env={**os.environ, **subprocess_env(**env)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
def test_a_killed_worker_counts_dead_within_two_heartbeats(
    client, transactional_db, settings, tmp_path
):
    settings.WORKER_HEARTBEAT_SECONDS = 2
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    process = spawn_worker(tmp_path, WORKER_HEARTBEAT_SECONDS="2")
    try:
        wait_until(
            lambda: client.get("/api/health/").json()["live_workers"] == 1,
            timeout=180,
            what="the worker to report in",
        )
        # It keeps beating while idle: its last heartbeat moves on.
        first = Worker.all(queue=queue)[0].last_heartbeat
        wait_until(
            lambda: Worker.all(queue=queue)[0].last_heartbeat > first,
            timeout=10,
            what="a second heartbeat",
        )
        process.kill()
        process.wait(timeout=10)
        killed_at = time.monotonic()
        asked_at = []

        def counted_dead():
            asked_at.append(time.monotonic())
            body = client.get("/api/health/").json()
            return body["live_workers"] == 0 and body

        body = wait_until(
            counted_dead, timeout=30, interval=0.1, what="health to count the killed worker dead"
        )
        # When the answering request was asked, not when it ended: on a busy machine one
        # request may take seconds, which says nothing about the heartbeat's bound.
        assert asked_at[-1] - killed_at <= 2 * 2 + 1
        assert "no model worker running" in body["problems"]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


# --- The object store (S3 / SeaweedFS), when images live in one -------------------------
def test_health_reports_a_reachable_object_store(client, s3_storage):
    body = client.get("/api/health/").json()
    assert body["object_store"] == "ok"
    assert body["problems"] == ["no model worker running"]


def store_settings(settings, seaweedfs, **changes) -> None:
    options = {**seaweedfs.storage_options(), **changes}
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "classifier.s3storage.ImageS3Storage", "OPTIONS": options},
    }


def test_a_fresh_store_whose_bucket_the_first_upload_creates_is_ok(client, settings, seaweedfs):
    store_settings(settings, seaweedfs, bucket_name="not-created-yet")
    assert client.get("/api/health/").json()["object_store"] == "ok"


def test_a_store_refusing_our_credentials_is_unavailable(client, settings, seaweedfs):
    store_settings(settings, seaweedfs, secret_key="not-the-secret")
    assert client.get("/api/health/").json()["object_store"] == "unavailable"


@pytest.fixture
def silent_store(settings, seaweedfs):
    """The storage pointed at a port that accepts connections and never answers."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    options = seaweedfs.storage_options()
    options["endpoint_url"] = f"http://127.0.0.1:{listener.getsockname()[1]}"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "classifier.s3storage.ImageS3Storage", "OPTIONS": options},
    }
    yield
    listener.close()


def test_a_silent_object_store_is_unavailable_within_healths_bound(client, silent_store):
    from ops.selectors import OBJECT_STORE_TIMEOUT_SECONDS

    started = time.monotonic()
    response = client.get("/api/health/")
    # connect + read bounds, with room for a busy machine; unbounded, boto3 waits a minute
    assert time.monotonic() - started < 2 * OBJECT_STORE_TIMEOUT_SECONDS + 5
    assert response.status_code == 503
    assert response.json()["object_store"] == "unavailable"
    assert "object store unreachable" in response.json()["problems"]


def test_readiness_is_200_with_database_and_redis_even_with_no_worker(client):
    response = client.get("/api/health/ready/")
    assert response.status_code == 200, response.json()
    assert response.json() == {"status": "ok", "database": True, "redis": True, "problems": []}


def test_readiness_is_503_naming_an_unreachable_redis_and_liveness_stays_200(client, settings):
    # Nothing listens on the port: the queue's Redis is gone for this process.
    queues = {name: dict(queue) for name, queue in settings.RQ_QUEUES.items()}
    queues[settings.INFERENCE_QUEUE]["URL"] = f"redis://127.0.0.1:{free_port()}/0"
    settings.RQ_QUEUES = queues
    response = client.get("/api/health/ready/")
    assert response.status_code == 503
    assert response.json()["redis"] is False
    assert response.json()["problems"] == ["redis unreachable"]
    assert client.get("/api/health/live/").status_code == 200
