"""Uploading through the API: validation, cache, queue, waiting, ownership."""

import math

import django_rq
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import Prediction
from testing.clients import jwt_client
from testing.photos import distinct_photo, photo_bytes

pytestmark = pytest.mark.django_db


def upload(client, content: bytes, name: str = "photo.jpg"):
    return client.post(
        "/api/predictions/", {"image": SimpleUploadedFile(name, content)}, format="multipart"
    )


def queue():
    return django_rq.get_queue(settings.INFERENCE_QUEUE)


@pytest.mark.parametrize(
    "fmt, save",
    [("JPEG", {}), ("PNG", {}), ("GIF", {}), ("WEBP", {}), ("BMP", {})],
)
def test_each_accepted_format_is_queued_and_answered_202_without_a_worker(
    api_client, settings, fmt, save
):
    settings.PREDICT_WAIT_SECONDS = 0.2
    response = upload(api_client, photo_bytes("coffee", fmt, **save), f"cup.{fmt.lower()}")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued"
    assert response["Location"].endswith(f"/api/predictions/{body['id']}/")
    assert queue().count == 1


def test_same_bytes_are_answered_from_cache_without_the_queue(
    api_client, run_worker, live_model, settings
):
    settings.PREDICT_WAIT_SECONDS = 0.2
    content = photo_bytes("chelsea")
    first = upload(api_client, content)
    run_worker()
    live_model()  # the worker's model is still served (the burst worker withdrew it)
    second = upload(api_client, content, "same-cat-again.jpg")
    assert second.status_code == 201
    body = second.json()
    assert body["cached"] is True
    assert body["status"] == "done"
    finished_first = api_client.get(first.json()["url"]).json()
    assert body["top5"] == finished_first["top5"]
    assert queue().count == 0
    assert Prediction.objects.filter(image_sha256=body["image_sha256"]).count() == 2


def test_identical_bytes_are_stored_once(api_client, settings):
    settings.PREDICT_WAIT_SECONDS = 0.1
    content = photo_bytes("rocket")
    upload(api_client, content, "a.jpg")
    upload(api_client, content, "b.jpg")
    names = set(Prediction.objects.values_list("image", flat=True))
    assert len(names) == 1


def test_worker_answers_with_five_labels_and_the_model_name(api_client, run_worker, settings):
    settings.PREDICT_WAIT_SECONDS = 0.1
    pending = upload(api_client, photo_bytes("astronaut")).json()
    run_worker()
    done = api_client.get(pending["url"]).json()
    assert done["status"] == "done"
    assert len(done["top5"]) == 5
    scores = [entry["score"] for entry in done["top5"]]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) <= 1.0 + 1e-6
    assert done["label"] == done["top5"][0]["label"]
    assert done["model_name"] == "resnet50 (random weights)"
    assert done["wait_seconds"] is not None and done["run_seconds"] is not None


def test_queued_jobs_are_done_in_as_few_forward_passes_as_batches(api_client, run_worker, settings):
    settings.PREDICT_WAIT_SECONDS = 0
    jobs, batch_size = 7, 3
    for seed in range(jobs):
        assert upload(api_client, distinct_photo(seed)).status_code == 202
    stats = run_worker(batch_size=batch_size)
    assert stats["forward_passes"] <= math.ceil(jobs / batch_size)
    assert stats["images"] == jobs
    assert Prediction.objects.filter(status="done").count() == jobs


def test_one_bad_image_in_a_batch_fails_alone(api_client, run_worker, settings, user):
    settings.PREDICT_WAIT_SECONDS = 0
    good = [upload(api_client, distinct_photo(seed)).json()["id"] for seed in range(3)]
    bad = upload(api_client, distinct_photo(99)).json()["id"]
    broken = Prediction.objects.get(pk=bad)
    from django.core.files.storage import default_storage

    with default_storage.open(broken.image.name, "wb") as stored:
        stored.write(b"corrupted on disk")
    stats = run_worker(batch_size=8)
    assert stats["forward_passes"] == 1
    assert set(Prediction.objects.filter(pk__in=good).values_list("status", flat=True)) == {"done"}
    broken.refresh_from_db()
    assert broken.status == "failed"
    assert broken.error
    failed_jobs = queue().failed_job_registry.get_job_ids()
    assert failed_jobs == [bad]


def test_another_users_prediction_is_404(api_client, other_user, settings):
    settings.PREDICT_WAIT_SECONDS = 0
    mine = upload(api_client, photo_bytes("coffee")).json()
    intruder = jwt_client(other_user)
    assert intruder.get(f"/api/predictions/{mine['id']}/").status_code == 404
    assert intruder.get("/api/predictions/").json()["count"] == 0
    assert api_client.get("/api/predictions/").json()["count"] == 1


def test_malformed_prediction_id_is_404(api_client):
    assert api_client.get("/api/predictions/not-a-uuid/").status_code == 404


def test_anonymous_upload_is_401(client):
    response = client.post("/api/predictions/", {"image": SimpleUploadedFile("a.jpg", b"x")})
    assert response.status_code == 401


def test_labels_come_raw_for_matching_and_readable_for_display(api_client, user):
    """Clients match on `label` (unchanged, underscores) and show `label_display`, the
    pages' own spelling, for the answer and for each of the top 5."""
    from classifier.tests.page_helpers import make_prediction

    prediction = make_prediction(user)
    body = api_client.get(f"/api/predictions/{prediction.pk}/").json()
    assert (body["label"], body["label_display"]) == ("tiger_cat", "tiger cat")
    assert [(e["label"], e["label_display"]) for e in body["top5"]][2] == (
        "Egyptian_cat",
        "Egyptian cat",
    )
    assert set(body["top5"][0]) == {"label", "label_display", "score"}
    listed = api_client.get("/api/predictions/").json()["results"][0]
    assert listed["label_display"] == "tiger cat"
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    fields = schema["components"]["schemas"]["Prediction"]["properties"]
    assert fields["label_display"]["readOnly"] is True
