"""Failed-login limits behind every login door (accounts.login_guard, accounts.backends).

Each door is tried the same way: the limit's worth of wrong passwords, then the right one.
Over the limit the answer is a 429 with Retry-After (JSON `detail` on APIs, a page saying
how long to wait on forms) and the right password does not get in; a successful login
gives its slot back, so it is never punished; counting is atomic under parallel attempts;
and the counters' keys are digests, whatever size of identity a client sends.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from django.test import Client

from accounts import login_guard, mailer
from classifier.tests.reliability_doc import check_section

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

LIMIT = 3
PASSWORD = "correct-horse-42"


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(
        email="alice@example.com", name="alice", password=PASSWORD, is_staff=True
    )


@dataclass(frozen=True)
class Door:
    id: str
    path: str
    field: str  # the one identity field this door reads
    kind: str  # "json" (an API) or "form"
    #: what a successful login looks like
    succeeded: Callable

    def send(self, client: Client, identity: str, password: str, **extra):
        body = {self.field: identity, "password": password, **extra}
        if self.kind == "json":
            return client.post(self.path, json.dumps(body), content_type="application/json")
        return client.post(self.path, body)


def got_tokens(response) -> bool:
    return response.status_code == 200 and (
        "access" in response.json() or "access_token" in response.json()
    )


def got_session(response) -> bool:
    return response.status_code == 302 and "sessionid" in response.cookies


DOORS = [
    Door("api-token", "/api/auth/token/", "email", "json", got_tokens),
    Door("legacy-login", "/login", "username", "form", got_tokens),
    Door("page-login", "/accounts/login/", "username", "form", got_session),
    Door("browsable-api-login", "/api-auth/login/", "username", "form", got_session),
    Door("admin-login", "/admin/login/", "username", "form", got_session),
]  # fmt: skip


def assert_locked_out(response, door: Door) -> None:
    assert response.status_code == 429, response.content[:300]
    assert 1 <= int(response["Retry-After"]) <= 60
    if door.kind == "json":
        assert "too many failed login attempts" in response.json()["detail"].lower()
    else:
        assert "Too many failed login attempts. Try again in" in response.content.decode()


@pytest.mark.parametrize("door", DOORS, ids=lambda door: door.id)
def test_wrong_passwords_for_one_account_lock_it_from_every_address(door, throttle_rates, alice):
    throttle_rates(login_account=f"{LIMIT}/min")
    for index in range(LIMIT):
        wrong = door.send(Client(REMOTE_ADDR=f"10.1.0.{index + 1}"), "alice@example.com", "no")
        assert wrong.status_code in (200, 401), wrong.content[:300]
    right = door.send(Client(REMOTE_ADDR="10.1.1.1"), "Alice@Example.com", PASSWORD)
    assert_locked_out(right, door)
    assert not door.succeeded(right)
    other = door.send(Client(REMOTE_ADDR="10.1.1.2"), "bob@example.com", "no")
    assert other.status_code in (200, 401)  # another account is not affected


@pytest.mark.parametrize("door", DOORS, ids=lambda door: door.id)
def test_wrong_passwords_from_one_address_lock_that_address(door, throttle_rates, alice):
    throttle_rates(login=f"{LIMIT}/min")
    client = Client(REMOTE_ADDR="10.2.0.1")
    for index in range(LIMIT):
        assert door.send(client, f"u{index}@example.com", "no").status_code in (200, 401)
    assert_locked_out(door.send(client, "alice@example.com", PASSWORD), door)
    elsewhere = door.send(Client(REMOTE_ADDR="10.2.0.2"), "alice@example.com", PASSWORD)
    assert door.succeeded(elsewhere), elsewhere.content[:300]


@pytest.mark.parametrize("door", DOORS, ids=lambda door: door.id)
def test_successful_logins_are_never_counted(door, throttle_rates, alice):
    throttle_rates(login=f"{LIMIT}/min", login_account=f"{LIMIT}/min")
    for _ in range(3 * LIMIT):
        response = door.send(Client(REMOTE_ADDR="10.3.0.1"), "alice@example.com", PASSWORD)
        assert door.succeeded(response), response.content[:300]
    for index in range(LIMIT):  # and the failures allowed are all still there
        response = door.send(Client(REMOTE_ADDR="10.3.0.1"), "alice@example.com", f"no-{index}")
        assert response.status_code in (200, 401)


@pytest.mark.parametrize(
    "door", [door for door in DOORS if door.field == "username"], ids=lambda door: door.id
)
def test_a_decoy_email_field_does_not_dodge_the_account_limit(door, throttle_rates, alice):
    throttle_rates(login_account=f"{LIMIT}/min")
    for index in range(LIMIT):
        client = Client(REMOTE_ADDR=f"10.4.0.{index + 1}")
        door.send(client, "alice@example.com", "no", email=f"decoy{index}@example.com")
    right = door.send(
        Client(REMOTE_ADDR="10.4.1.1"), "alice@example.com", PASSWORD, email="decoy@example.com"
    )
    assert_locked_out(right, door)


@pytest.mark.parametrize("door", DOORS, ids=lambda door: door.id)
def test_a_5_mb_identity_leaves_no_trace_in_the_cache(door, throttle_rates, alice):
    """Was: 15 such requests put 95 MB into Redis (the raw e-mail in the key)."""
    throttle_rates()
    connection = login_guard.connection()
    huge = "a" * (5 * 1024 * 1024) + "@example.com"
    for _ in range(15):
        response = door.send(Client(REMOTE_ADDR="10.5.0.1"), huge, "no")
        # 413: the body is over the route's bound before any identity is read
        assert response.status_code in (200, 400, 401, 413), response.content[:200]
    keys = connection.keys("*")
    assert all(len(key) < 100 for key in keys), [key[:100] for key in keys]
    stored = sum(connection.memory_usage(key) or 0 for key in keys)
    assert stored < 16 * 1024, stored


@pytest.mark.parametrize("door", [DOORS[0], DOORS[1]], ids=lambda door: door.id)
def test_a_50_kb_login_email_is_a_400_not_an_outage(door, alice):
    response = door.send(Client(), "a" * 50_000 + "@example.com", "no")
    assert response.status_code == 400, response.content[:200]
    assert response.json()["detail"]


def test_a_50_kb_email_on_the_login_form_is_a_form_error(alice):
    response = Client().post("/accounts/login/", {"username": "a" * 50_000, "password": "no"})
    assert response.status_code == 200
    assert "at most 254 characters" in response.content.decode()


# --- Atomic counting: parallel attempts on a live server ------------------------------------
@pytest.mark.parametrize("door", [DOORS[0], DOORS[2]], ids=lambda door: door.id)
def test_parallel_wrong_passwords_never_get_more_than_the_limit_checked(
    door, throttle_rates, live_server, django_user_model
):
    django_user_model.objects.create_user(email="carol@example.com", name="c", password=PASSWORD)
    throttle_rates(login_account=f"{LIMIT}/min")
    attempts = 24

    url = live_server.url + door.path

    def ready_session() -> tuple[requests.Session, dict]:
        """A browser-like session holding the form's CSRF token (forms only)."""
        session = requests.Session()
        if door.kind == "json":
            return session, {}
        page = session.get(url, timeout=30).text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        return session, {"csrfmiddlewaretoken": token}

    def attempt(prepared, password: str) -> int:
        session, extra = prepared
        body = {door.field: "carol@example.com", "password": password, **extra}
        if door.kind == "json":
            return session.post(url, json=body, timeout=30).status_code
        return session.post(url, data=body, timeout=30, allow_redirects=False).status_code

    sessions = [ready_session() for _ in range(attempts + 1)]
    with ThreadPoolExecutor(max_workers=attempts) as pool:
        codes = Counter(pool.map(lambda i: attempt(sessions[i], f"wrong-{i}"), range(attempts)))
    checked = attempts - codes[429]
    assert checked == LIMIT, codes  # the rest were refused without a password check
    assert attempt(sessions[-1], PASSWORD) == 429


# --- The document --------------------------------------------------------------------------
def test_reliability_doc_lists_every_login_protection_case():
    doors = ", ".join(door.path for door in DOORS)
    rows = [
        ("login-account-lockout", f"{LIMIT} wrong passwords for one account, each from a new "
         f"address, then the right one (any spelling), at each of {doors}",
         "429 with Retry-After (JSON detail on APIs, a page saying how long to wait on forms); "
         "the right password does not get in; another account unaffected"),
        ("login-address-lockout", f"{LIMIT} wrong passwords from one address (different "
         "accounts), then the right one, at each door",
         "429 with Retry-After; the same login from another address succeeds"),
        ("login-success-not-counted", f"{3 * LIMIT} successful logins in a row from one address "
         f"with both limits at {LIMIT}/min, at each door",
         f"all succeed, and the {LIMIT} failures allowed are still there"),
        ("login-decoy-email-field", "wrong passwords at /login, /accounts/login/, /api-auth/login/ "
         "and /admin/login/ with a different decoy `email` field each time",
         "still counted on the `username` account: the right password is then refused (429)"),
        ("login-5mb-identity", "15 logins with a 5 MB e-mail at each door",
         "400 or 413 (the body over the route's bound) / the form's error; the cache holds "
         "only short digest keys (< 16 KB in all); "
         "was 95 MB"),
        ("login-50kb-email", "a 50 KB e-mail at /api/auth/token/, /login, /accounts/login/",
         "400 with a detail (APIs), the form's length error (page); never 503"),
        ("login-parallel-atomic", f"24 parallel wrong passwords for one account (limit {LIMIT}) "
         "at /api/auth/token/ and /accounts/login/ on a live server",
         f"exactly {LIMIT} passwords checked, 21 answered 429; then the right password 429"),
    ]  # fmt: skip
    check_section("login-protection", rows)


# --- Password-reset requests: per address asked for and per client, every request ----------
RESET = "/accounts/password/reset/"


def ask_reset(email: str, address: str, **extra):
    return Client(REMOTE_ADDR=address).post(RESET, {"email": email}, **extra)


@pytest.mark.django_db(transaction=True)  # the e-mail's sender thread reads committed rows
@pytest.mark.parametrize("email", ["alice@example.com", "nobody@example.com"])
def test_reset_requests_for_one_email_are_limited_the_same_whether_it_has_an_account(
    email, throttle_rates, alice, mailoutbox
):
    throttle_rates(password_reset_email=f"{LIMIT}/hour")
    answers = [ask_reset(email, f"10.2.0.{index + 1}") for index in range(LIMIT)]
    assert [a.status_code for a in answers] == [302] * LIMIT
    refused = ask_reset(email.upper(), "10.2.1.1")  # any spelling of the address counts
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 3600
    assert "Too many password reset requests. Try again in 60 minutes." in refused.content.decode()
    assert mailer.wait_until_sent(timeout=30)
    assert len(mailoutbox) == (LIMIT if email.startswith("alice") else 0)
    assert ask_reset("bob@example.com", "10.2.1.2").status_code == 302  # another address


def test_reset_requests_from_one_client_are_limited_across_emails(throttle_rates, alice):
    throttle_rates(password_reset=f"{LIMIT}/min")
    for index in range(LIMIT):
        assert ask_reset(f"someone-{index}@example.com", "10.3.0.1").status_code == 302
    refused = ask_reset("alice@example.com", "10.3.0.1", HTTP_ACCEPT_LANGUAGE="es")
    assert refused.status_code == 429
    assert "Demasiadas solicitudes" in refused.content.decode()
    assert ask_reset("alice@example.com", "10.3.0.2").status_code == 302  # another client
