"""The result cache follows the registry's decision, not the workers' report: right after a
promotion, while the only live worker still reports the previous version, an upload is
recorded under the new version and is never answered with the previous version's result
(docs/ARCHITECTURE.md, "Two views of the live model")."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from classifier import selectors
from classifier.models import Prediction
from registry import services
from registry.models import ModelVersion
from testing.photos import photo_bytes

pytestmark = pytest.mark.django_db


def upload(client, content: bytes):
    response = client.post(
        "/api/predictions/", {"image": SimpleUploadedFile("cup.jpg", content)}, format="multipart"
    )
    assert response.status_code in (201, 202), response.content
    return response.json()


def answer_as_worker(prediction_id: str, version: ModelVersion) -> None:
    """What the worker running `version` writes when it finishes a job."""
    top5 = [{"label": "red", "score": 0.9}, {"label": "green", "score": 0.1}]
    Prediction.objects.filter(pk=prediction_id).update(
        status=Prediction.Status.DONE,
        model_version=version,
        model_name=f"{version.name} v{version.version}",
        label="red",
        score=0.9,
        top5=top5,
        finished_at=timezone.now(),
    )


def test_after_a_promotion_the_cache_answers_only_for_the_new_version(
    api_client, live_model, settings
):
    settings.PREDICT_WAIT_SECONDS = 0
    first, second = (
        ModelVersion.objects.create(
            name="colors", version=number, format="keras", labels=["red", "green"], state="ready"
        )
        for number in (1, 2)
    )
    services.promote_version(version=first)
    live_model("colors v1")  # the worker reports what it runs
    content = photo_bytes("coffee")
    queued = upload(api_client, content)
    assert (queued["status"], queued["model_version"]) == ("queued", first.pk)
    answer_as_worker(queued["id"], first)
    cached = upload(api_client, content)
    assert (cached["cached"], cached["model_version"]) == (True, first.pk)

    services.promote_version(version=second)
    # The worker has not loaded v2 yet: the pages still name v1 ...
    assert selectors.live_model_names() == ["colors v1"]
    # ... but a new upload is v2's, and v1's answer to the same bytes is not reused for it.
    after = upload(api_client, content)
    assert (after["status"], after["cached"], after["model_version"]) == (
        "queued",
        False,
        second.pk,
    )
