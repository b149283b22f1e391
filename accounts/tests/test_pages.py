"""Registering, logging in and out through the browser pages (Django's test client)."""

import html as html_lib
import re

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

User = get_user_model()
GOOD = {"email": "Bob@Example.com", "name": "Bob", "password": "violet-lantern-93"}


INLINE_TAGS = r"a|abbr|b|code|em|i|label|small|span|strong|time"


def inner_text(html: str) -> str:
    """The page's text as a person reads it: inline tags dropped, other tags as spaces."""
    html = re.sub(rf"</?(?:{INLINE_TAGS})\b[^>]*>", "", html)
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html)).split())


def logged_in_user(client):
    response = client.get("/")
    return response.wsgi_request.user


# --- Registering --------------------------------------------------------------------------
def test_register_page_shows_the_form_with_password_rules(client):
    response = client.get("/accounts/register/")
    assert response.status_code == 200
    text = inner_text(response.content.decode())
    assert "Create an account" in text
    for label in ("Email", "Display name", "Password"):
        assert label in text
    assert "at least 8 characters" in text


REGISTERED = (
    "Thanks, Bob. Log in with your email and password to start. We have also sent a message "
    "to bob@example.com: if it already had an account, the message says how to get back in."
)


def test_registering_creates_the_account_and_opens_the_login_form_filled_in(client):
    response = client.post("/accounts/register/", GOOD, follow=True)
    assert response.redirect_chain == [("/accounts/login/", 302)]
    user = User.objects.get()
    assert user.email == "bob@example.com", "emails are stored lower-cased"
    assert user.name == "Bob"
    assert not user.is_staff
    assert REGISTERED in inner_text(response.content.decode())
    assert 'value="bob@example.com"' in response.content.decode()
    logged_in = client.post(
        "/accounts/login/", {"username": "bob@example.com", "password": GOOD["password"]}
    )
    assert logged_in.status_code == 302
    assert logged_in_user(client) == user


def test_registering_an_existing_email_answers_the_same_and_creates_nothing(client, make_user):
    make_user(email="bob@example.com", name="Robert")
    response = client.post("/accounts/register/", {**GOOD, "email": "BOB@example.com"}, follow=True)
    assert response.redirect_chain == [("/accounts/login/", 302)]
    assert REGISTERED in inner_text(response.content.decode())
    assert User.objects.count() == 1
    assert User.objects.get().name == "Robert"
    assert not logged_in_user(client).is_authenticated


@pytest.mark.parametrize(
    "password, message",
    [
        ("short1!", "This password is too short. It must contain at least 8 characters."),
        ("password123", "This password is too common."),
        ("8412905713", "This password is entirely numeric."),
        ("bob@example.com", "The password is too similar to the email address."),
    ],
)
def test_weak_password_shows_why_and_creates_nothing(client, password, message):
    response = client.post("/accounts/register/", {**GOOD, "password": password})
    assert response.status_code == 400
    html = response.content.decode()
    assert message in inner_text(html)
    assert 'aria-invalid="true"' in html, "the password input is marked invalid"
    assert 'value="bob@example.com"' in html.lower(), "what was typed is kept"
    assert User.objects.count() == 0


def test_empty_registration_lists_every_missing_field(client):
    response = client.post("/accounts/register/", {})
    assert response.status_code == 400
    assert inner_text(response.content.decode()).count("This field is required.") == 3
    assert User.objects.count() == 0


def test_logged_in_users_are_sent_from_register_and_login_to_the_upload_page(client, user):
    client.force_login(user)
    assert client.get("/accounts/register/")["Location"] == "/"
    assert client.get("/accounts/login/")["Location"] == "/"


# --- Logging in and out -------------------------------------------------------------------
def test_login_page_renders(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    text = inner_text(response.content.decode())
    assert "Log in" in text and "Email" in text and "Password" in text


def test_logging_in_with_email_in_any_case_opens_the_upload_page(client, user):
    response = client.post(
        "/accounts/login/",
        {"username": "Alice@EXAMPLE.com", "password": "correct-horse-42"},
        follow=True,
    )
    assert response.redirect_chain == [("/", 302)]
    assert logged_in_user(client) == user
    assert "Classify a photo" in inner_text(response.content.decode())


def test_logging_in_returns_to_the_page_that_asked_for_it(client, user):
    response = client.post(
        "/accounts/login/?next=/predictions/",
        {"username": user.email, "password": "correct-horse-42", "next": "/predictions/"},
    )
    assert response["Location"] == "/predictions/"


def test_wrong_password_shows_an_error_and_does_not_log_in(client, user):
    response = client.post("/accounts/login/", {"username": user.email, "password": "nope"})
    assert response.status_code == 200
    text = inner_text(response.content.decode())
    assert "That email and password do not match an account." in text
    assert not logged_in_user(client).is_authenticated


def test_logging_out_needs_a_post_and_returns_to_the_login_page(client, user):
    client.force_login(user)
    assert client.get("/accounts/logout/").status_code == 405
    assert logged_in_user(client).is_authenticated
    response = client.post("/accounts/logout/")
    assert response["Location"] == "/accounts/login/"
    assert not logged_in_user(client).is_authenticated
    assert client.get("/predictions/").status_code == 302
