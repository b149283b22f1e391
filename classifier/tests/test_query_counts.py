"""How many SQL queries the hot endpoints cost, so a regression shows up here first.

The bounds are today's counts (each query is a PostgreSQL round trip and ~0.1-0.3 ms
of CPU on both sides at saturation, docs/BENCHMARK_PIPELINE.md).
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from classifier.models import Prediction
from testing.photos import distinct_photo, photo_bytes

# An empty MEDIA_ROOT of the test's own: bytes the store already holds (another test's
# upload of the same photo, earlier in this process) cost the result-cache lookup.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


@pytest.fixture(autouse=True)
def live_version_read_once(settings):
    """The registry's live version is read once per MODEL_LIVE_CHECK_SECONDS per process, not
    per upload (registry/tests/test_registration.py counts that read); a slow in-process worker
    between two uploads must not make it look like a per-upload query."""
    settings.MODEL_LIVE_CHECK_SECONDS = 3600


def post_photo(client, seed: int, content: bytes | None = None):
    from django.core.files.uploadedfile import SimpleUploadedFile

    content = distinct_photo(seed) if content is None else content
    image = SimpleUploadedFile("p.jpg", content, content_type="image/jpeg")
    return client.post("/api/predictions/", {"image": image}, format="multipart")


def test_an_upload_the_queue_takes(api_client, live_model, settings, django_assert_max_num_queries):
    settings.PREDICT_WAIT_SECONDS = 0
    live_model()  # a worker's model could answer from the result cache: not for new bytes
    post_photo(api_client, 0)  # warm-up: content types, first connection
    # Bytes no other test stores (the suite shares one media folder, and distinct_photo's
    # crops repeat across seeds): new to the store, so no result-cache query.
    new_bytes = photo_bytes("coffee", "JPEG", size=(341, 227), quality=83)
    with django_assert_max_num_queries(UPLOAD_QUERIES):
        response = post_photo(api_client, 1, content=new_bytes)
    assert response.status_code == 202


def test_an_upload_the_result_cache_answers(
    api_client, run_worker, live_model, settings, django_assert_max_num_queries
):
    settings.PREDICT_WAIT_SECONDS = 0
    post_photo(api_client, 2)
    run_worker()
    live_model()  # the worker's model is still served (the burst worker withdrew it)
    with django_assert_max_num_queries(CACHED_UPLOAD_QUERIES):
        response = post_photo(api_client, 2)
    assert response.status_code == 201 and response.json()["cached"]


def test_a_result(api_client, run_worker, settings, django_assert_max_num_queries):
    settings.PREDICT_WAIT_SECONDS = 0
    url = post_photo(api_client, 3).json()["url"]
    run_worker()
    with django_assert_max_num_queries(RESULT_QUERIES):
        response = api_client.get(url)
    assert response.json()["status"] == "done"


def test_history_costs_the_same_for_one_or_many_predictions(
    api_client, user, settings, django_assert_max_num_queries
):
    Prediction.objects.bulk_create(
        Prediction(owner=user, image=f"x/{i}.jpg", image_sha256=f"{i:064x}", model_name="m")
        for i in range(30)
    )
    api_client.get("/api/predictions/")  # warm-up: the token version comes into the cache
    with django_assert_max_num_queries(HISTORY_QUERIES):
        response = api_client.get("/api/predictions/")
    assert response.status_code == 200 and len(response.json()["results"]) == 20


def test_a_finished_batch_of_sixteen(api_client, run_worker, settings):
    settings.PREDICT_WAIT_SECONDS = 0
    for seed in range(10, 26):
        assert post_photo(api_client, seed).status_code == 202
    with CaptureQueriesContext(connection) as queries:
        stats = run_worker(batch_size=16)
    assert stats["images"] == 16 and stats["forward_passes"] == 1
    assert len(queries) <= BATCH_QUERIES, [q["sql"][:80] for q in queries]


# No user row: a token's user is its id (accounts.authentication.TokenUser).
UPLOAD_QUERIES = 1  # insert (bytes the store did not hold have no cached answer to look up)
CACHED_UPLOAD_QUERIES = 2  # lookup, insert of the cached answer
RESULT_QUERIES = 1  # the prediction
HISTORY_QUERIES = 2  # count, one page
#: the worker's start-up recovery sweep, the claim (one UPDATE … RETURNING, which also
#: leaves out what is past its deadline: the expiry check runs only when a row was left out)
#: and one UPDATE for all 16 results
BATCH_QUERIES = 3


def test_plain_representation_matches_drf(api_client, run_worker, settings, user):
    """PredictionSerializer's fast path (derived from its declared fields) gives DRF's
    generic output, for every state a prediction can be in."""
    from rest_framework.serializers import ModelSerializer
    from rest_framework.test import APIRequestFactory

    from classifier.serializers import PredictionSerializer

    settings.PREDICT_WAIT_SECONDS = 0
    post_photo(api_client, 40)
    run_worker()
    post_photo(api_client, 40)  # answered from the result cache
    post_photo(api_client, 41)  # still queued
    Prediction.objects.create(
        owner=user, image="x/f.jpg", image_sha256="f" * 64, model_name="m", status="failed",
        error="The stored image is missing or unreadable.",
    )  # fmt: skip
    request = APIRequestFactory().get("/api/predictions/", HTTP_HOST="testserver")
    predictions = list(Prediction.objects.order_by("created_at"))
    assert {p.status for p in predictions} == {"done", "queued", "failed"}
    for prediction in predictions:
        serializer = PredictionSerializer(context={"request": request})
        generic = ModelSerializer.to_representation(serializer, prediction)
        assert serializer.to_representation(prediction) == dict(generic)
