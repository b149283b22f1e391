"""Registering does not tell anyone which e-mail addresses have accounts.

On every registration door (the API, the older `/user/`, the site's form) a taken address
gets the same answer as a new one; nothing is created or changed, and the address's owner
is e-mailed instead ("someone tried to register with your address", with links to log in
and to reset the password). A new address gets its account and a welcome e-mail. Both
e-mails are sent after the response (accounts.mailer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.core import mail
from django.test import Client

from accounts import mailer
from classifier.tests.reliability_doc import check_section

# The e-mails' sender thread reads the account with its own connection: committed rows.
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_password_hashing"),
]

OWNER_PASSWORD = "correct-horse-42"


@dataclass(frozen=True)
class Door:
    id: str
    path: str
    kind: str  # "json" or "form"

    def register(self, email: str, address: str = "10.8.0.1"):
        body = {"email": email, "name": "Newcomer", "password": "tulip-garden-93"}
        client = Client(REMOTE_ADDR=address)
        if self.kind == "json":
            return client.post(self.path, body, content_type="application/json")
        return client.post(self.path, body, follow=True)


DOORS = [
    Door("api", "/api/auth/register/", "json"),
    Door("legacy", "/user/", "json"),
    Door("page", "/accounts/register/", "form"),
]


def answer(response, email: str) -> tuple:
    """What the registrant sees, with the address they typed taken out."""
    if response.get("Content-Type", "").startswith("application/json"):
        body = response.content.decode()
    else:
        body = response.content.decode().split("<main", 1)[-1].split("</main>", 1)[0]
        body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", body)
    return response.status_code, body.replace(email, "<email>")


def sent() -> list:
    assert mailer.wait_until_sent(timeout=30)
    return list(mail.outbox)


@pytest.mark.parametrize("door", DOORS, ids=lambda door: door.id)
def test_a_taken_address_gets_the_same_answer_as_a_new_one(door, make_user):
    owner = make_user(email="owner@example.com", name="Owner", password=OWNER_PASSWORD)
    new = door.register("newcomer@example.com")
    taken = door.register("Owner@Example.com")
    assert new.status_code in (201, 202, 200)
    assert answer(new, "newcomer@example.com") == answer(taken, "owner@example.com")
    owner.refresh_from_db()
    assert owner.name == "Owner" and owner.check_password(OWNER_PASSWORD)  # nothing changed
    assert type(owner).objects.filter(email="owner@example.com").count() == 1

    welcome, notice = sorted(sent(), key=lambda message: message.to[0])
    assert welcome.to == ["newcomer@example.com"]
    assert "is ready" in welcome.body and "/accounts/login/" in welcome.body
    assert notice.to == ["owner@example.com"]
    assert "already has one. Nothing was changed." in " ".join(notice.body.split())
    assert "/accounts/password/reset/" in notice.body


def test_the_owner_is_not_flooded_with_notices(throttle_rates, make_user):
    throttle_rates(password_reset_email="2/hour")
    make_user(email="owner@example.com", name="Owner")
    answers = {DOORS[0].register("owner@example.com").status_code for _ in range(5)}
    assert answers == {202}  # no 429: that would tell the address is taken
    assert len(sent()) == 2


def test_the_notice_is_in_the_language_of_the_request(make_user):
    make_user(email="owner@example.com", name="Owner")
    body = {"email": "owner@example.com", "name": "Newcomer", "password": "tulip-garden-93"}
    Client().post(
        "/api/auth/register/", body, content_type="application/json", HTTP_ACCEPT_LANGUAGE="es"
    )
    (message,) = sent()
    assert message.subject == "Ya tienes una cuenta en el clasificador de imágenes"


def test_reliability_doc_lists_the_registration_privacy_cases():
    doors = ", ".join(door.path for door in DOORS)
    rows = [
        ("register-taken-address", f"register an address that has an account and a new one, "
         f"at each of {doors}", "the same status and body (202 JSON / 201 with id null / the "
         "login page with the same message); nothing created or changed; the owner gets an "
         "e-mail with links to log in and reset the password, the new address a welcome "
         "(was: 400 'Email already registered' / a form error)"),
        ("register-notice-limit", "5 registrations of a taken address, "
         "THROTTLE_PASSWORD_RESET_EMAIL=2/hour", "5 × 202; 2 e-mails to the owner"),
        ("register-notice-language", "the same with Accept-Language: es",
         "the owner's e-mail in Spanish"),
    ]  # fmt: skip
    check_section("registration-privacy", rows)
