"""The result cache answers a user only from their own uploads: the same bytes uploaded by
someone else are never revealed (`"cached": true` would say someone sent this photo)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from testing.clients import jwt_client
from testing.photos import photo_bytes

pytestmark = pytest.mark.django_db


def upload(user, content: bytes):
    image = SimpleUploadedFile("photo.jpg", content)
    return jwt_client(user).post("/api/predictions/", {"image": image}, format="multipart")


def test_bob_uploading_alices_exact_photo_gets_no_cached_answer(
    make_user, run_worker, live_model, settings
):
    settings.PREDICT_WAIT_SECONDS = 0
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    content = photo_bytes("chelsea")
    assert upload(alice, content).status_code == 202
    run_worker()
    live_model()
    bobs = upload(bob, content)
    assert bobs.status_code == 202, bobs.content
    body = bobs.json()
    assert body["cached"] is False and body["status"] == "queued"
    assert body["attempts"] == 0 and body["top5"] in (None, [])
    # Alice's own second upload is answered from her earlier one.
    again = upload(alice, content).json()
    assert again["cached"] is True and again["status"] == "done"
