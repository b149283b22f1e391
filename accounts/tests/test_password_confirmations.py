"""Password confirmations by a logged-in person count in the login guard, per account.

Deleting the account (`DELETE /api/auth/me/` and its page) and the password-change form's
old password check a password for someone already holding a session or a token. A stolen
60-minute token must not buy unlimited guesses: wrong passwords count against the
account's failed-login limit, and past it nothing is checked (429 with Retry-After).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from classifier.tests.reliability_doc import check_section
from testing.clients import jwt_client
from testing.live_stack import TEST_PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

GUESSES = 40
LIMIT = 10
NEW_PASSWORD = "amber-kettle-58"


def api_delete(user, password: str):
    return jwt_client(user).delete(
        "/api/auth/me/", {"password": password}, format="json", REMOTE_ADDR="10.7.0.1"
    )


def page_delete(user, password: str):
    client = Client(REMOTE_ADDR="10.7.0.2")
    client.force_login(user)
    return client.post("/accounts/account/delete/", {"password": password})


def page_change(user, password: str):
    client = Client(REMOTE_ADDR="10.7.0.3")
    client.force_login(user)
    body = {"old_password": password, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    return client.post("/accounts/password/change/", body)


@dataclass(frozen=True)
class Confirmation:
    id: str
    what: str
    send: object
    wrong_status: int
    #: what a right password did, read from the account afterwards
    changed: object


def deleted(user) -> bool:
    return not type(user).objects.filter(pk=user.pk).exists()


def password_changed(user) -> bool:
    user.refresh_from_db()
    return user.check_password(NEW_PASSWORD)


CONFIRMATIONS = [
    Confirmation("api-delete-me", "DELETE /api/auth/me/ {password}", api_delete, 400, deleted),
    Confirmation("page-delete-account", "POST /accounts/account/delete/", page_delete, 400,
                 deleted),
    Confirmation("page-password-change", "POST /accounts/password/change/ (old password)",
                 page_change, 200, password_changed),
]  # fmt: skip


@pytest.mark.parametrize("door", CONFIRMATIONS, ids=lambda door: door.id)
def test_wrong_confirmations_lock_the_account_and_the_right_one_is_then_refused(
    door, throttle_rates, user
):
    """Was: 40 wrong passwords, then the right one → 204 (account deleted)."""
    throttle_rates(login_account=f"{LIMIT}/15min")
    codes = [door.send(user, f"guess-{index}").status_code for index in range(GUESSES)]
    assert codes == [door.wrong_status] * LIMIT + [429] * (GUESSES - LIMIT), codes
    right = door.send(user, TEST_PASSWORD)
    assert right.status_code == 429
    assert 1 <= int(right["Retry-After"]) <= 15 * 60
    assert "Too many wrong passwords for this account. Try again in" in right.content.decode()
    assert not door.changed(user)
    login = Client().post(
        "/api/auth/token/", {"email": user.email, "password": TEST_PASSWORD}, "application/json"
    )
    assert login.status_code == 429  # one count per account, whichever door guessed


@pytest.mark.parametrize("door", CONFIRMATIONS, ids=lambda door: door.id)
def test_a_few_wrong_confirmations_then_the_right_one_still_work(door, throttle_rates, user):
    throttle_rates(login_account=f"{LIMIT}/15min")
    for index in range(LIMIT - 1):
        assert door.send(user, f"typo-{index}").status_code == door.wrong_status
    assert door.send(user, TEST_PASSWORD).status_code in (204, 302)
    assert door.changed(user)


def test_the_api_answers_in_spanish_too(throttle_rates, user):
    throttle_rates(login_account="1/15min")
    api_delete(user, "wrong")
    refused = jwt_client(user).delete(
        "/api/auth/me/", {"password": TEST_PASSWORD}, format="json", HTTP_ACCEPT_LANGUAGE="es"
    )
    assert refused.status_code == 429
    assert "Demasiadas contraseñas incorrectas" in refused.json()["detail"]


def test_reliability_doc_lists_every_confirmation_case():
    rows = [
        (f"confirm-{door.id}", f"{GUESSES} wrong passwords at {door.what} with a valid "
         f"session or token (THROTTLE_LOGIN_ACCOUNT={LIMIT}/15min), then the right one",
         f"{LIMIT} answered as wrong, then 429 with Retry-After; the right one 429 and "
         "nothing changed; a login to the account 429 too (was: the right one succeeded)")
        for door in CONFIRMATIONS
    ]  # fmt: skip
    rows.append(("confirm-under-limit", f"{LIMIT - 1} wrong confirmations, then the right "
                 "one, at each door", "the operation succeeds"))  # fmt: skip
    check_section("password-confirmations", rows)
