"""The upload's named steps (classifier.steps): what a benchmark hears, and silence otherwise."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier import steps
from testing.photos import distinct_photo

pytestmark = pytest.mark.django_db

CHECKS = "DRF checks (auth, permissions, throttle)"
SUBMIT = "submit_prediction"
UPLOAD_STEPS = {
    (CHECKS,),
    (CHECKS, "JWT authentication"),
    (CHECKS, "upload throttle (cache)"),
    ("multipart parsing",),
    (SUBMIT,),
    (SUBMIT, "validate (decode the image, hash)"),
    (SUBMIT, "store the file"),
    (SUBMIT, "result-cache lookup (query)"),
    (SUBMIT, "enqueue (RQ)"),
    ("wait_for_prediction (reads, XREAD)",),
    ("serialize the answer",),
}


def upload(client, seed: int):
    response = client.post(
        "/api/predictions/",
        {"image": SimpleUploadedFile("photo.jpg", distinct_photo(seed))},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    return response


def test_an_upload_reports_each_named_step_once_nested_in_its_parent(
    api_client, settings, live_model
):
    settings.PREDICT_WAIT_SECONDS = 0
    live_model()  # a live worker's model: the result cache is looked up
    with steps.recording_steps() as recorded:
        upload(api_client, seed=1)

    by_path = {timing.path: timing for timing in recorded}
    assert set(by_path) == UPLOAD_STEPS
    assert len(recorded) == len(UPLOAD_STEPS)
    for timing in recorded:
        assert timing.cpu_seconds >= 0 and timing.wall_seconds >= 0
    for parent in (CHECKS, SUBMIT):
        children = [t for t in recorded if t.depth == 1 and t.path[0] == parent]
        outer = by_path[(parent,)]
        assert all(child.started >= outer.started for child in children)
        # A step's time includes its children's.
        assert outer.cpu_seconds >= sum(child.cpu_seconds for child in children)
        assert outer.wall_seconds >= sum(child.wall_seconds for child in children)


def test_without_a_listener_no_step_is_timed_or_recorded(
    api_client, settings, monkeypatch, live_model
):
    settings.PREDICT_WAIT_SECONDS = 0
    live_model()  # a live worker's model: the result cache is looked up
    with steps.recording_steps() as recorded:
        upload(api_client, seed=2)
    heard = len(recorded)
    assert heard > 0  # it heard the upload made while it listened

    class NoClock:
        def __getattr__(self, name):
            raise AssertionError(f"a step read the clock ({name}) with nobody listening")

    monkeypatch.setattr(steps, "time", NoClock())
    upload(api_client, seed=3)
    assert len(recorded) == heard  # once it stopped listening, it hears nothing more
