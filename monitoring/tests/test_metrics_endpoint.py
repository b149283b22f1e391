"""`/metrics`: operators only (bearer token), Prometheus text format, numbers that add up.

In process (the Django test client, the in-process worker): the real Redis holds the
workers' shared metrics. The multi-process web and a real Prometheus server are in
test_prometheus.py.
"""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from prometheus_client.parser import text_string_to_metric_families
from rq.utils import now, utcformat
from rq.worker import Worker

from classifier.models import Prediction
from monitoring.metrics import FORWARD_SECONDS, SHARED_METRICS
from monitoring.shared import SharedMetricsCollector
from testing.photos import distinct_photo, photo_bytes

TOKEN = "s3cret-metrics-token"


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples, name: str, **labels) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def test_metrics_are_off_without_a_token_setting(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x", "Bearer \u00e9t\u00e9"],
)
def test_metrics_without_the_right_token_are_401(client, metrics_token, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/metrics", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"imageclassifier" not in response.content


@pytest.mark.django_db
def test_a_logged_in_superuser_without_the_token_is_401_too(client, make_user, metrics_token):
    client.force_login(make_user(email="root@example.com", is_staff=True, is_superuser=True))
    assert client.get("/metrics").status_code == 401


@pytest.mark.django_db
def test_uploads_batches_and_failures_are_counted(
    client, api_client, metrics_token, settings, run_worker, live_model
):
    settings.PREDICT_WAIT_SECONDS = 0
    before = scrape(client)

    def upload(content, name="p.jpg"):
        return api_client.post(
            "/api/predictions/", {"image": SimpleUploadedFile(name, content)}, format="multipart"
        )

    for seed in range(3):
        assert upload(distinct_photo(seed)).status_code == 202
    assert upload(b"not an image", "notes.txt").status_code == 400
    after_uploads = scrape(client)
    assert total(after_uploads, "imageclassifier_queue_depth") == 3
    run_worker(batch_size=2)  # 3 queued images: batches of 2 and 1
    # The burst worker has left; the cache answers for a model a live worker runs.
    live_model(Prediction.objects.exclude(model_name="").values_list("model_name", flat=True)[0])
    assert upload(distinct_photo(0)).status_code == 201  # same bytes: answered from cache
    after = scrape(client)

    def delta(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    assert delta("imageclassifier_uploads_total", outcome="queued") == 3
    assert delta("imageclassifier_uploads_total", outcome="cached") == 1
    assert delta("imageclassifier_uploads_total", outcome="rejected", reason="invalid_image") == 1
    assert delta("imageclassifier_batch_size_count") == 2
    assert delta("imageclassifier_batch_size_sum") == 3
    assert delta("imageclassifier_batch_size_bucket", le="1.0") == 1
    assert delta("imageclassifier_batch_size_bucket", le="2.0") == 2
    assert delta("imageclassifier_forward_seconds_count") == 2
    assert delta("imageclassifier_images_classified_total") == 3
    assert delta("imageclassifier_queue_wait_seconds_count") == 3
    assert total(after, "imageclassifier_queue_depth") == 0
    assert total(after, "imageclassifier_live_workers") == 0  # the burst worker has left
    latency = "django_http_requests_latency_seconds_by_view_method_count"
    assert delta(latency, view="classifier-api:prediction-list", method="POST") == 5
    # Every series the documented dashboard queries is one /metrics really exports
    # (declared, at least: a counter nothing has counted yet has no samples).
    body = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    declared = {line.split()[2] for line in body.splitlines() if line.startswith("# TYPE")}
    exported = {name for name, _ in after} | declared
    assert dashboard_metric_names() <= exported, dashboard_metric_names() - exported


def dashboard_metric_names() -> set[str]:
    import json
    import re
    from pathlib import Path

    from django.conf import settings

    dashboard = json.loads(
        (Path(settings.BASE_DIR) / "docs" / "grafana" / "imageclassifier.json").read_text()
    )
    exprs = " ".join(t["expr"] for panel in dashboard["panels"] for t in panel["targets"])
    names = set(re.findall(r"\b(?:imageclassifier|django_http)_[a-z_]+", exprs))
    assert len(names) >= 8
    return names


@pytest.mark.django_db
def test_a_damaged_stored_image_counts_as_a_bad_image_failure(
    client, api_client, metrics_token, settings, run_worker
):
    from django.core.files.storage import default_storage

    from classifier.models import Prediction

    settings.PREDICT_WAIT_SECONDS = 0
    before = scrape(client)
    api_client.post(
        "/api/predictions/",
        {"image": SimpleUploadedFile("p.jpg", photo_bytes("astronaut"))},
        format="multipart",
    )
    stored = Prediction.objects.get().image.name
    default_storage.delete(stored)
    run_worker()
    after = scrape(client)
    key = "imageclassifier_predictions_failed_total"
    assert total(after, key, reason="bad_image") - total(before, key, reason="bad_image") == 1


@pytest.mark.django_db
def test_include_splits_this_hosts_web_series_from_the_fleet_wide_ones(client, metrics_token):
    def names(include):
        response = client.get(f"/metrics?include={include}", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        return {f.name for f in text_string_to_metric_families(response.content.decode())}

    web, shared, everything = names("web"), names("shared"), names("all")
    assert "imageclassifier_queue_depth" in shared and "imageclassifier_queue_depth" not in web
    assert "imageclassifier_batch_size" in shared and "imageclassifier_batch_size" not in web
    assert "django_http_requests_latency_seconds_by_view_method" in web
    assert not any(name.startswith("django_http") for name in shared)
    assert web | shared == everything
    bad = client.get("/metrics?include=nope", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert bad.status_code == 400


def registered_worker(name: str) -> Worker:
    """An rq worker registered and heart-beating on the inference queue (no process)."""
    from django.conf import settings

    worker = Worker([django_rq.get_queue(settings.INFERENCE_QUEUE)], name=name)
    worker.register_birth()
    worker.heartbeat()
    return worker


@pytest.mark.django_db
def test_health_and_metrics_agree_on_a_live_and_a_stale_worker(client, metrics_token, settings):
    live, stale = registered_worker("live-worker"), registered_worker("stale-worker")
    # The stale worker's key is still there (its TTL has not run out) but it stopped beating.
    long_ago = now() - timedelta(seconds=10 * settings.WORKER_HEARTBEAT_SECONDS)
    stale.connection.hset(stale.key, "last_heartbeat", utcformat(long_ago))
    try:
        assert len(Worker.all(queue=django_rq.get_queue(settings.INFERENCE_QUEUE))) == 2
        health = client.get("/api/health/").json()
        assert health["live_workers"] == total(scrape(client), "imageclassifier_live_workers") == 1
    finally:
        live.register_death()
        stale.register_death()


def test_shared_histograms_from_several_workers_add_up(clean_redis):
    """Two workers (two Redis clients) observing into one histogram: one cumulative series."""
    import redis
    from django.conf import settings

    for _worker in range(2):
        connection = redis.Redis.from_url(settings.REDIS_URL)
        with connection.pipeline() as pipeline:
            FORWARD_SECONDS.observe(pipeline, 0.02, model="m")
            FORWARD_SECONDS.observe(pipeline, 0.3, model="m")
            pipeline.execute()
    family = {f.name: f for f in SharedMetricsCollector(clean_redis, SHARED_METRICS).collect()}[
        "imageclassifier_forward_seconds"
    ]
    samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    assert samples[("imageclassifier_forward_seconds_bucket", "0.025")] == 2
    assert samples[("imageclassifier_forward_seconds_bucket", "0.25")] == 2
    assert samples[("imageclassifier_forward_seconds_bucket", "0.5")] == 4
    assert samples[("imageclassifier_forward_seconds_bucket", "+Inf")] == 4
    assert samples[("imageclassifier_forward_seconds_count", None)] == 4
    assert samples[("imageclassifier_forward_seconds_sum", None)] == pytest.approx(0.64)
