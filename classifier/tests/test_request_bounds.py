"""Request bodies bounded per route, and login redirects short enough for any front server."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from testing.clients import jwt_client
from testing.photos import photo_bytes

pytestmark = pytest.mark.django_db

JSON_ROUTES = ["/api/auth/token/", "/api/auth/register/", "/api/feedback/", "/login", "/user/"]


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_a_json_body_over_64_kb_is_a_413_before_it_is_read(client, path):
    body = json.dumps({"email": "a@example.com", "password": "x" * (64 * 1024)})
    response = client.post(path, body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["detail"] == "The request body is larger than 64 KB."


def test_a_json_body_under_the_bound_still_works(client, user):
    body = json.dumps({"email": user.email, "password": "x" * 60_000})
    assert client.post("/api/auth/token/", body, content_type="application/json").status_code == 401


def test_an_upload_may_still_use_the_whole_upload_cap(user, settings):
    settings.PREDICT_WAIT_SECONDS = 0
    photo = photo_bytes("astronaut")
    padded = photo + b"\0" * (2 * 1024 * 1024)  # JPEG decoders ignore what follows the image
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < len(padded) < settings.MAX_REQUEST_BODY_BYTES
    response = jwt_client(user).post(
        "/api/predictions/", {"image": SimpleUploadedFile("big.jpg", padded)}, format="multipart"
    )
    assert response.status_code == 202, response.content[:300]


def test_a_login_redirect_drops_a_long_query_from_next(client):
    long_query = "&".join(f"filter{i}=value{i}" for i in range(170))
    response = client.get(f"/predictions/?{long_query}")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/predictions/"
    short = client.get("/predictions/?page=2")
    assert short["Location"] == "/accounts/login/?next=/predictions/%3Fpage%3D2"


def test_the_body_bound_is_in_settings():
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 64 * 1024
    assert int((settings.MAX_UPLOAD_MB + 1) * 1024 * 1024) == settings.MAX_REQUEST_BODY_BYTES
