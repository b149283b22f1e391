"""Rate limits: log in and register per client address and per account, upload per user.

Limits come from `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` (env THROTTLE_*). Over a
limit the answer is 429 with Retry-After; someone else (another address, account or
user) is not affected. The counts live in the cache (Redis): if it is unreachable the
limits are skipped rather than failing the request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from classifier.tests.reliability_doc import check_section
from testing.clients import jwt_client
from testing.photos import photo_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

LIMIT = 3


@pytest.fixture
def people(django_user_model):
    make = django_user_model.objects.create_user
    return {
        "alice": make(email="alice@example.com", name="alice", password="correct-horse-42"),
        "bob": make(email="bob@example.com", name="bob", password="correct-horse-42"),
    }


# --- The limits ----------------------------------------------------------------------------
def login_body(index: int, account: str = "alice@example.com") -> dict:
    return {"email": account, "password": f"wrong-{index}"}


def form_login_body(index: int, account: str = "alice@example.com") -> dict:
    return {"username": account, "password": f"wrong-{index}"}


def bob_json(index: int) -> dict:
    return login_body(index, "bob@example.com")


def bob_form(index: int) -> dict:
    return form_login_body(index, "bob@example.com")


@dataclass(frozen=True)
class Limit:
    id: str
    what: str
    scope: str
    path: str
    kind: str  # "json", "form" or "upload"
    body: Callable[[int], dict]
    #: what the requests sharing one bucket have in common: "address", "account" or "user"
    key: str
    #: for "account" limits: a body for another account
    other_body: Callable[[int], dict] | None = None

    @property
    def result(self) -> str:
        other = {"address": "another address", "account": "another account", "user": "another user"}
        return (
            f"{LIMIT} allowed, the next 429 with Retry-After (THROTTLE_{self.scope.upper()}="
            f"{LIMIT}/min); {other[self.key]} unaffected"
        )

    def send(self, client, index: int, body: dict | None = None):
        body = self.body(index) if body is None else body
        if self.kind == "json":
            return client.post(self.path, json.dumps(body), content_type="application/json")
        if self.kind == "upload":  # rejected as not an image, but counted
            return client.post(self.path, {"image": SimpleUploadedFile("x.jpg", b"junk")})
        return client.post(self.path, body)


def no_body(index: int) -> dict:
    return {}


LIMITS = [
    Limit("token-per-address", "POST /api/auth/token/, a different account each time",
          "login", "/api/auth/token/", "json", lambda i: login_body(i, f"u{i}@example.com"),
          "address"),
    Limit("token-per-account", "POST /api/auth/token/ for one account from a new address each time",
          "login_account", "/api/auth/token/", "json", login_body, "account", bob_json),
    Limit("token-account-any-case", "POST /api/auth/token/ as ALICE@… / Alice@… from new addresses",
          "login_account", "/api/auth/token/", "json",
          lambda i: login_body(i, ["ALICE@example.com", "Alice@Example.com"][i % 2]),
          "account", bob_json),
    Limit("token-refresh-per-address", "POST /api/auth/token/refresh/", "refresh",
          "/api/auth/token/refresh/", "json", lambda i: {"refresh": f"bad-{i}"}, "address"),
    Limit("register-per-address", "POST /api/auth/register/", "register",
          "/api/auth/register/", "json", lambda i: {"email": f"n{i}@example.com"}, "address"),
    Limit("legacy-login-per-address", "POST /login (OAuth2 form), a different account each time",
          "login", "/login", "form", lambda i: form_login_body(i, f"u{i}@example.com"), "address"),
    Limit("legacy-login-per-account", "POST /login for one account from a new address each time",
          "login_account", "/login", "form", form_login_body, "account", bob_form),
    Limit("legacy-register-per-address", "POST /user/", "register",
          "/user/", "json", lambda i: {"email": f"n{i}@example.com"}, "address"),
    Limit("page-login-per-address", "POST /accounts/login/ (the site's form)", "login",
          "/accounts/login/", "form", lambda i: form_login_body(i, f"u{i}@example.com"), "address"),
    Limit("page-login-per-account", "POST /accounts/login/ for one account from new addresses",
          "login_account", "/accounts/login/", "form", form_login_body, "account", bob_form),
    Limit("admin-login-per-address", "POST /admin/login/", "login",
          "/admin/login/", "form", lambda i: form_login_body(i, f"u{i}@example.com"), "address"),
    Limit("upload-per-user", "POST /api/predictions/ by one user", "uploads",
          "/api/predictions/", "upload", no_body, "user"),
]  # fmt: skip


def caller(limit: Limit, index: int, people, *, other: bool = False):
    """The client for request `index`; `other` is someone in another bucket."""
    if limit.key == "user":
        return jwt_client(people["bob" if other else "alice"])
    if limit.key == "account":
        return Client(REMOTE_ADDR=f"10.0.0.{index + 1}")
    return Client(REMOTE_ADDR="10.0.9.9" if other else "10.0.0.1")


@pytest.mark.parametrize("limit", LIMITS, ids=lambda limit: limit.id)
def test_limit(limit, throttle_rates, people):
    throttle_rates(**{limit.scope: f"{LIMIT}/min"})
    for index in range(LIMIT):
        response = limit.send(caller(limit, index, people), index)
        assert response.status_code != 429, (index, response.content[:200])
        assert response.status_code < 500
    refused = limit.send(caller(limit, LIMIT, people), LIMIT)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    text = refused.content.decode().lower()
    assert "throttled" in text or "too many" in text
    other = caller(limit, LIMIT + 1, people, other=True)
    body = limit.other_body(LIMIT + 1) if limit.other_body else None
    response = limit.send(other, LIMIT + 1, body)
    assert response.status_code != 429, response.content[:200]
    assert response.status_code < 500


def test_made_up_forwarded_for_headers_do_not_dodge_the_address_limit(throttle_rates):
    throttle_rates(login=f"{LIMIT}/min")
    codes = [
        Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{index}")
        .post("/api/auth/token/", login_body(index, f"u{index}@example.com"))
        .status_code
        for index in range(LIMIT + 1)
    ]
    assert codes[-1] == 429, codes


def test_a_successful_login_still_works_under_the_limit(throttle_rates, people):
    throttle_rates(login=f"{LIMIT}/min", login_account=f"{LIMIT}/min")
    response = Client().post(
        "/api/auth/token/",
        {"email": "alice@example.com", "password": "correct-horse-42"},
        content_type="application/json",
    )
    assert response.status_code == 200


# --- The cache (Redis) is down: limits are skipped, requests still answered ------------------
@pytest.fixture
def cache_down(settings):
    from ops.stack import free_port

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }


def test_login_limits_fail_open_when_the_cache_is_down(throttle_rates, people, cache_down):
    throttle_rates(login=f"{LIMIT}/min", login_account=f"{LIMIT}/min")
    for index in range(LIMIT + 2):
        wrong = Client().post(
            "/api/auth/token/", login_body(index), content_type="application/json"
        )
        assert wrong.status_code == 401, wrong.content[:200]
        page = Client().post("/accounts/login/", form_login_body(index))
        assert page.status_code == 200  # the form again, with its error
    right = Client().post(
        "/api/auth/token/",
        {"email": "alice@example.com", "password": "correct-horse-42"},
        content_type="application/json",
    )
    assert right.status_code == 200


def test_upload_limit_fails_open_when_the_cache_is_down(
    throttle_rates, people, cache_down, settings
):
    throttle_rates(uploads=f"{LIMIT}/min")
    settings.PREDICT_WAIT_SECONDS = 0
    client = jwt_client(people["alice"])
    for index in range(LIMIT + 1):
        image = SimpleUploadedFile(f"{index}.jpg", photo_bytes("coffee"))
        response = client.post("/api/predictions/", {"image": image})
        assert response.status_code in (201, 202), response.content[:200]


def test_legacy_upload_limit_fails_open_when_the_cache_is_down(people, cache_down, settings):
    settings.PREDICT_WAIT_SECONDS = 0  # no worker runs: accepted uploads time out with 504
    client = jwt_client(people["alice"])
    for index in range(LIMIT + 1):
        image = SimpleUploadedFile(f"{index}.jpg", photo_bytes("coffee"))
        response = client.post("/model/predict", {"file": image})
        assert response.status_code == 504, response.content[:200]


# --- Configured from the environment, on a real server -------------------------------------
@pytest.mark.slow
def test_env_limits_apply_on_a_real_server_and_uploads_share_one_bucket(
    live_stack, people, settings
):
    from django.conf import global_settings

    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # the server's hashers
    people["alice"].set_password("correct-horse-42")
    people["alice"].save()
    stack = live_stack(workers=0, THROTTLE_UPLOADS="3/min", THROTTLE_LOGIN="2/min")
    login = {"email": "alice@example.com", "password": "correct-horse-42"}
    token = requests.post(f"{stack.url}/api/auth/token/", json=login, timeout=10)
    assert token.status_code == 200
    headers = {"Authorization": f"Bearer {token.json()['access']}"}
    codes = []
    for index, (path, field) in enumerate(
        [("/api/predictions/", "image"), ("/model/predict", "file")] * 2
    ):
        response = requests.post(
            f"{stack.url}{path}",
            headers=headers,
            files={field: (f"{index}.jpg", b"junk")},
            timeout=10,
        )
        codes.append(response.status_code)
    assert codes == [400, 400, 400, 429], codes
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert requests.post(f"{stack.url}/api/auth/token/", json=login, timeout=10).status_code == 200
    wrong = {**login, "password": "wrong"}
    for _ in range(2):
        assert (
            requests.post(f"{stack.url}/api/auth/token/", json=wrong, timeout=10).status_code == 401
        )
    third = requests.post(f"{stack.url}/api/auth/token/", json=login, timeout=10)
    assert third.status_code == 429
    assert "too many failed login attempts" in third.json()["detail"].lower()


# --- The document --------------------------------------------------------------------------
def test_reliability_doc_lists_every_limit():
    rows = [(limit.id, limit.what, limit.result) for limit in LIMITS]
    rows += [
        ("forwarded-for-spoofing", "POST /api/auth/token/, a made-up X-Forwarded-For each time",
         f"429 after {LIMIT}: only REMOTE_ADDR counts unless NUM_PROXIES says proxies are trusted"),
        ("cache-down-login", "wrong passwords past the limits with the cache (Redis) unreachable",
         "401 / the form again each time, never 429 or 500; the right password still 200"),
        ("cache-down-upload", "uploads past the limit with the cache unreachable",
         "accepted (201/202): the upload limit fails open"),
        ("cache-down-legacy-upload", "POST /model/predict past the limit, cache unreachable",
         "accepted (then 504 with no worker running): the upload limit fails open"),
        ("env-configured", "real server with THROTTLE_UPLOADS=3/min, THROTTLE_LOGIN=2/min; "
         "uploads alternating /api/predictions/ and /model/predict",
         "4th upload 429 (one bucket for both endpoints); successful logins not counted, "
         "after 2 wrong passwords the right one 429"),
    ]  # fmt: skip
    check_section("limits", rows)
