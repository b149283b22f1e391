"""Tokens die with the password: change, reset, deactivation and deletion revoke them.

Every case: log in (a token pair), use the access token once (so its version is cached,
as on a busy server), change the account, then try the old access token on the API and
the older API and the old refresh token on /api/auth/token/refresh/.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.contrib.auth.forms import SetPasswordForm
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from classifier.tests.reliability_doc import check_section

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

PASSWORD = "correct-horse-42"


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(
        email="alice@example.com", name="alice", password=PASSWORD
    )


def log_in(email="alice@example.com", password=PASSWORD) -> dict:
    response = APIClient().post(
        "/api/auth/token/", {"email": email, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def with_access(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def refresh(token: str):
    return APIClient().post("/api/auth/token/refresh/", {"refresh": token}, format="json")


def change_password(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        user.set_password("a-new-password-77")
        user.save()


def reset_password(user, django_capture_on_commit_callbacks):
    """What Django's password reset (and change) views do with their form."""
    form = SetPasswordForm(
        user, {"new_password1": "a-new-password-77", "new_password2": "a-new-password-77"}
    )
    assert form.is_valid(), form.errors
    with django_capture_on_commit_callbacks(execute=True):
        form.save()


def deactivate(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        user.is_active = False
        user.save()


def delete(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()


def change_password_uncommitted(user, django_capture_on_commit_callbacks):
    """Inside the (test's) transaction, before any commit: the cached version is dropped."""
    user.set_password("a-new-password-77")
    user.save()


CHANGES = {
    "password-change": change_password,
    "password-reset": reset_password,
    "deactivation": deactivate,
    "deletion": delete,
    "password-change-in-transaction": change_password_uncommitted,
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_old_tokens_fail_after_the_change(change, alice, django_capture_on_commit_callbacks):
    pair = log_in()
    assert with_access(pair["access"]).get("/api/auth/me/").status_code == 200
    change(alice, django_capture_on_commit_callbacks)
    for path in ("/api/auth/me/", "/api/predictions/", "/feedback/"):
        response = with_access(pair["access"]).get(path)
        assert response.status_code == 401, (path, response.content[:200])
        assert response.json()["detail"]
    old_refresh = refresh(pair["refresh"])
    assert old_refresh.status_code == 401, old_refresh.content[:200]  # the deleted user: was 500
    assert old_refresh.json()["detail"]


def test_the_new_password_gives_tokens_that_work(alice, django_capture_on_commit_callbacks):
    change_password(alice, django_capture_on_commit_callbacks)
    pair = log_in(password="a-new-password-77")
    assert with_access(pair["access"]).get("/api/auth/me/").status_code == 200
    assert refresh(pair["refresh"]).status_code == 200


def test_a_password_change_blacklists_every_outstanding_refresh_token(
    alice, django_capture_on_commit_callbacks
):
    for _ in range(3):
        log_in()
    change_password(alice, django_capture_on_commit_callbacks)
    outstanding = OutstandingToken.objects.filter(user=alice)
    assert outstanding.count() == 3
    assert BlacklistedToken.objects.filter(token__in=outstanding).count() == 3


def test_refresh_tokens_rotate_and_a_used_one_is_refused(alice):
    pair = log_in()
    first = refresh(pair["refresh"])
    assert first.status_code == 200
    assert first.json()["refresh"] != pair["refresh"]
    assert refresh(pair["refresh"]).status_code == 401  # reused
    assert refresh(first.json()["refresh"]).status_code == 200  # the rotated one works once


def test_a_hasher_upgrade_on_login_keeps_the_other_devices_logged_in(
    alice, settings, django_capture_on_commit_callbacks
):
    pair = log_in()
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    with django_capture_on_commit_callbacks(execute=True):
        log_in()  # re-hashes the MD5 password with PBKDF2
    alice.refresh_from_db()
    assert alice.password.startswith("pbkdf2_")
    assert with_access(pair["access"]).get("/api/auth/me/").status_code == 200


def test_tokens_minted_before_versions_existed_still_work_until_a_change(alice):
    from rest_framework_simplejwt.tokens import RefreshToken

    access = str(RefreshToken.for_user(alice).access_token)  # no "ver" claim
    assert with_access(access).get("/api/auth/me/").status_code == 200


# --- Refresh rotation -----------------------------------------------------------------------
def test_12_parallel_refreshes_of_one_token_have_exactly_one_winner(live_server, alice):
    """Was: 4 successes (2 on a rerun), each new token usable: the family forked."""
    refresh = log_in()["refresh"]

    def use(_index: int) -> tuple[int, str | None]:
        response = requests.post(
            f"{live_server.url}/api/auth/token/refresh/", json={"refresh": refresh}, timeout=30
        )
        return response.status_code, response.json().get("refresh")

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = Counter(pool.map(use, range(12)))
    codes = Counter({code: 0 for code in (200, 401)})
    for (code, _token), count in results.items():
        codes[code] += count
    assert codes == {200: 1, 401: 11}, results
    (winner,) = [token for (code, token), _ in results.items() if code == 200]
    again = requests.post(
        f"{live_server.url}/api/auth/token/refresh/", json={"refresh": winner}, timeout=30
    )
    assert again.status_code == 200  # the winner's new token carries the family on


def test_reliability_doc_lists_every_revocation_case():
    rows = [
        (f"token-{name}", f"{name.replace('-', ' ')}, then the tokens issued before: access on "
         "/api/auth/me/, /api/predictions/, /feedback/, refresh on /api/auth/token/refresh/",
         "401 with a detail everywhere" + (" (was 500 for the refresh)" if name == "deletion"
                                            else ""))
        for name in CHANGES
    ]  # fmt: skip
    rows += [
        ("token-blacklist-all", "password change with 3 refresh tokens outstanding",
         "all 3 blacklisted"),
        ("token-rotation-reuse", "refresh, then the same refresh token again",
         "200 with a new refresh token, then 401; the new one works once"),
        ("token-rotation-parallel", "12 parallel refreshes of one refresh token on a live "
         "server", "exactly one 200, 11 × 401; the winner's new token refreshes again "
         "(was: 4 winners, each new token usable: the family forked)"),
        ("token-hasher-upgrade", "a login that re-hashes the password with a newer hasher",
         "the account's other tokens keep working (not a password change)"),
    ]  # fmt: skip
    check_section("token-revocation", rows)


def test_a_tokens_user_is_not_read_per_request_and_still_refused_once_gone(
    alice, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    """The upload/result/history path reads no user row (the version cache says the account
    is current and active), yet a deactivated or deleted account is refused there, also when
    the cache has lost the entry or the change bypassed the model."""
    from django.contrib.auth import get_user_model
    from django.core.cache import cache

    from accounts import authentication

    pair = log_in()
    client = with_access(pair["access"])
    assert client.get("/api/predictions/").status_code == 200  # the version is now cached
    with django_assert_max_num_queries(1):  # the page's count; no user row
        assert client.get("/api/predictions/").status_code == 200
    assert client.get("/api/auth/me/").json()["email"] == "alice@example.com"  # read on use

    get_user_model().objects.filter(pk=alice.pk).update(is_active=False)  # bypasses the model
    cache.delete(f"jwt-version:{alice.pk}")  # as when the entry lapses (STATE_SECONDS)
    assert client.get("/api/predictions/").status_code == 401
    assert client.post("/api/predictions/", {}, format="multipart").status_code == 401

    get_user_model().objects.filter(pk=alice.pk).update(is_active=True)
    authentication.drop_cached(alice.pk)
    assert client.get("/api/predictions/").status_code == 200
    delete(alice, django_capture_on_commit_callbacks)
    for method, path in (("get", "/api/predictions/"), ("post", "/api/predictions/"),
                         ("get", "/api/auth/me/")):  # fmt: skip
        response = getattr(client, method)(path)
        assert response.status_code == 401, (method, path, response.content[:200])


def test_a_token_user_deleted_behind_the_caches_back_is_a_401_not_a_500(alice):
    """The cache still says current (a raw SQL delete): reading the row refuses the token."""
    from django.db import connection

    pair = log_in()
    client = with_access(pair["access"])
    assert client.get("/api/auth/me/").status_code == 200
    with connection.cursor() as cursor:
        for table, column in (
            ("token_blacklist_outstandingtoken", "user_id"),
            ("accounts_user", "id"),
        ):
            cursor.execute(f"DELETE FROM {table} WHERE {column} = %s", [alice.pk])
    response = client.get("/api/auth/me/")
    assert response.status_code == 401, response.content[:200]
