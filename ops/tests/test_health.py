"""GET /api/health/: 200 only when database, Redis and a worker are all up."""

import django_rq
import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


def test_health_is_503_naming_the_missing_worker(client):
    response = client.get("/api/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] is True and body["redis"] is True
    assert body["live_workers"] == 0
    assert "no model worker running" in body["problems"]


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
