"""The upload and registration forms share the API's limits; a per-user daily upload quota.

Was: 650 uploads through `POST /` in 4.1 s and 25 registrations from one address through
`/accounts/register/` (against 20/hour on the API), and no cap on stored images; then a
quota that a user's parallel uploads got past (all those in flight at quota-1 passed).
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from accounts import slots
from classifier.models import Prediction
from classifier.tests.reliability_doc import check_section
from testing.clients import jwt_client
from testing.photos import distinct_photo, photo_bytes

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture(autouse=True)
def no_waiting(settings):
    settings.PREDICT_WAIT_SECONDS = 0  # no worker runs: accepted API uploads answer 202


@pytest.fixture(autouse=True)
def same_utc_day():
    """Start at least two minutes before midnight UTC: a test whose uploads straddled it would
    count them against two days' quotas."""
    from classifier.services.admission import _until_midnight

    left = _until_midnight(timezone.now()).total_seconds()
    if left < 120:
        time.sleep(left + 1)


@pytest.fixture
def rates(settings):
    def set_rates(**tight):
        rates = {**django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]}
        rates.update({scope: f"{LIMIT}/min" for scope in tight})
        settings.REST_FRAMEWORK = {
            **django_settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": rates,
        }

    return set_rates


def photo(index: int) -> SimpleUploadedFile:
    return SimpleUploadedFile(f"{index}.jpg", photo_bytes("coffee"))


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_upload(user, index):
    return jwt_client(user).post("/api/predictions/", {"image": photo(index)})


def legacy_upload(user, index):
    return jwt_client(user).post("/model/predict", {"file": photo(index)})


def page_upload(user, index):
    return page_client(user).post("/", {"image": photo(index)})


UPLOADS = {"api": api_upload, "legacy": legacy_upload, "page": page_upload}
ACCEPTED = {"api": (201, 202), "legacy": (200, 504), "page": (302,)}


def test_the_upload_form_shares_the_api_upload_limit(rates, user, other_user):
    rates(uploads=True)
    assert api_upload(user, 0).status_code in (201, 202)
    assert legacy_upload(user, 1).status_code in (200, 504)
    assert page_upload(user, 2).status_code == 302
    refused = page_upload(user, 3)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "Too many uploads. Try again in" in refused.content.decode()
    assert Prediction.objects.filter(owner=user).count() == LIMIT
    assert page_upload(other_user, 4).status_code == 302  # another user unaffected


def test_the_registration_form_shares_the_api_registration_limit(rates):
    rates(register=True)
    client = Client(REMOTE_ADDR="10.9.0.1")
    for index in range(LIMIT):
        body = {"email": f"n{index}@example.com", "name": "N", "password": "tulip-garden-93"}
        if index % 2:
            response = client.post("/api/auth/register/", body, content_type="application/json")
        else:
            response = client.post("/accounts/register/", body)
        assert response.status_code in (202, 302), response.content[:200]
        client.logout()
    body = {"email": "late@example.com", "name": "Late", "password": "tulip-garden-93"}
    refused = client.post("/accounts/register/", body)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 3600
    assert "Too many registrations from your address" in refused.content.decode()
    assert not _exists("late@example.com")


def _exists(email: str) -> bool:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(email=email).exists()


@pytest.mark.parametrize("door", UPLOADS, ids=UPLOADS.keys())
def test_the_daily_upload_quota_applies_to_every_upload_path(door, settings, user, other_user):
    settings.UPLOAD_QUOTA_PER_DAY = 2
    for index in range(2):
        assert api_upload(user, index).status_code in (201, 202)
    refused = UPLOADS[door](user, 9)
    assert refused.status_code == 429, refused.content[:300]
    assert 1 <= int(refused["Retry-After"]) <= 24 * 3600  # until midnight UTC
    text = refused.content.decode()
    assert "quota of 2 uploads a day" in text
    if door != "page":
        assert "quota" in refused.json()["detail"]
    assert Prediction.objects.filter(owner=user).count() == 2
    assert UPLOADS[door](other_user, 10).status_code in ACCEPTED[door]


def test_yesterdays_uploads_leave_the_quota(settings, user, clean_redis):
    from classifier.services.admission import _quota_key

    settings.UPLOAD_QUOTA_PER_DAY = 2
    yesterday = _quota_key(user.pk, timezone.now() - timedelta(days=1))
    for _ in range(2):  # a slot still counted, as if midnight had not come yet in Redis
        slots.record(clean_redis, [slots.Limit(key=yesterday, count=2, seconds=3600)])
    for index in range(2):
        assert api_upload(user, index).status_code in (201, 202)
    assert api_upload(user, 2).status_code == 429


def quota_taken(connection, user) -> int:
    from classifier.services.admission import quota_limit

    return slots.taken(connection, quota_limit(user_id=user.pk).key)


@pytest.mark.django_db(transaction=True)
def test_20_parallel_uploads_at_a_quota_of_5_store_exactly_5(
    live_server, settings, django_user_model, clean_redis
):
    """Was: every upload in flight while the user was below the quota was let in."""
    from rest_framework_simplejwt.tokens import RefreshToken

    settings.UPLOAD_QUOTA_PER_DAY = 5
    settings.MAX_QUEUED_PER_USER = 100
    user = django_user_model.objects.create_user(email="q@example.com", name="q", password="x")
    headers = {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}
    photos = [distinct_photo(index) for index in range(20)]

    def upload(index: int) -> requests.Response:
        return requests.post(
            f"{live_server.url}/api/predictions/",
            files={"image": (f"{index}.jpg", photos[index])},
            headers=headers,
            timeout=60,
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(upload, range(20)))
    codes = Counter(answer.status_code for answer in answers)
    assert codes == {202: 5, 429: 15}, codes
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert "quota of 5 uploads a day" in refused.json()["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 24 * 3600
    assert Prediction.objects.filter(owner=user).count() == 5
    assert quota_taken(clean_redis, user) == 5


def test_uploads_that_store_nothing_leave_the_quota_alone(settings, user, clean_redis):
    settings.UPLOAD_QUOTA_PER_DAY = 2
    for index in range(3):  # not an image: 400, nothing stored
        bad = SimpleUploadedFile(f"{index}.txt", b"not an image")
        response = jwt_client(user).post("/api/predictions/", {"image": bad})
        assert response.status_code == 400, response.content[:200]
    assert quota_taken(clean_redis, user) == 0
    for index in range(2):
        assert api_upload(user, index).status_code in (201, 202)
    assert quota_taken(clean_redis, user) == 2
    assert api_upload(user, 2).status_code == 429
    assert Prediction.objects.filter(owner=user).count() == 2


def test_an_upload_refused_for_a_full_queue_gives_its_slot_back(settings, user, clean_redis):
    settings.UPLOAD_QUOTA_PER_DAY = 1
    settings.MAX_QUEUE_DEPTH = 1
    assert api_upload(user, 0).status_code == 202  # counted: its job waits
    settings.UPLOAD_QUOTA_PER_DAY = 2
    refused = api_upload(user, 1)  # the queue is full: refused before anything is stored
    assert refused.status_code == 503, refused.content[:200]
    assert quota_taken(clean_redis, user) == 1


def test_reliability_doc_lists_every_quota_case():
    rows = [
        ("form-upload-limit", f"THROTTLE_UPLOADS={LIMIT}/min: one upload each through "
         "/api/predictions/, /model/predict and POST /, then POST / again",
         "429 with Retry-After and a message on the form; nothing stored; another user "
         "unaffected (was: 650 form uploads in 4.1 s)"),
        ("form-register-limit", f"THROTTLE_REGISTER={LIMIT}/min: registrations alternating "
         "/accounts/register/ and /api/auth/register/ from one address, then the form again",
         "429 with Retry-After and a message; no account (was: 25 through the form)"),
        ("upload-quota", "UPLOAD_QUOTA_PER_DAY=2: two uploads, then a third through "
         "/api/predictions/, /model/predict or POST /",
         "429, Retry-After until midnight UTC, \"You have reached your quota of 2 uploads a "
         "day…\"; nothing stored; another user unaffected"),
        ("upload-quota-window", "yesterday's uploads at the quota, then today's",
         "not counted: 2 accepted today, the third 429"),
        ("upload-quota-parallel", "UPLOAD_QUOTA_PER_DAY=5: 20 parallel POST /api/predictions/ "
         "by one user, live server",
         "exactly 5 × 202 and 15 × 429 with the quota message and Retry-After; 5 stored, "
         "5 slots taken (was: 14 accepted)"),
        ("upload-quota-invalid", "UPLOAD_QUOTA_PER_DAY=2: three uploads that are not images, "
         "then three photos", "3 × 400 taking no slot; then 2 accepted, the third 429"),
        ("upload-quota-queue-full", "MAX_QUEUE_DEPTH=1 and one job waiting: another upload",
         "503 (queue full); its quota slot is given back, only the stored upload counts"),
    ]  # fmt: skip
    check_section("quotas", rows)
