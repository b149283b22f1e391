"""One spelling per address: NFKC + casefold once, exact matches, lengths checked first."""

from __future__ import annotations

import importlib
import json

import pytest
from django.apps import apps as django_apps
from django.test import Client

from accounts.identity import canonical_email, normalize_email
from classifier.tests.reliability_doc import check_section

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

PASSWORD = "correct-horse-42"
#: syntactically valid, 312 characters (the column holds 254)
LONG_EMAIL = "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".com"


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(
        email="alice@example.com", name="alice", password=PASSWORD
    )


def api_login(email: str):
    return Client().post(
        "/api/auth/token/",
        json.dumps({"email": email, "password": PASSWORD}),
        content_type="application/json",
    )


def legacy_login(email: str):
    return Client().post("/login", {"username": email, "password": PASSWORD})


def page_login(email: str):
    return Client().post("/accounts/login/", {"username": email, "password": PASSWORD})


LOGINS = {"api": (api_login, 200), "legacy": (legacy_login, 200), "page": (page_login, 302)}


def test_normalisation_is_nfkc_then_casefold():
    assert normalize_email(" Alice@Example.COM ") == "alice@example.com"
    assert normalize_email("ａｌｉｃｅ@ｅｘａｍｐｌｅ.com") == "alice@example.com"  # full-width
    assert normalize_email("STRASSE@example.com") == normalize_email("straße@example.com")
    assert normalize_email("alıce@example.com") != "alice@example.com"  # dotless ı stays
    assert canonical_email("a" * 255) is None
    assert canonical_email("x" * 100_000) is None
    assert canonical_email(["alice@example.com"]) is None


@pytest.mark.parametrize("door", LOGINS, ids=LOGINS.keys())
@pytest.mark.parametrize("spelling", ["ALICE@example.com", "ａｌｉｃｅ@example.com"])
def test_other_spellings_of_the_same_address_log_in(door, spelling, alice):
    send, success = LOGINS[door]
    assert send(spelling).status_code == success


@pytest.mark.parametrize("door", LOGINS, ids=LOGINS.keys())
@pytest.mark.parametrize("lookalike", ["alıce@example.com", "ALİCE@example.com"])
def test_a_lookalike_address_does_not_log_in_as_someone_else(door, lookalike, alice):
    """Was: on PostgreSQL, UPPER('alıce') = UPPER('alice') let it in as alice."""
    send, success = LOGINS[door]
    response = send(lookalike)
    assert response.status_code != success
    assert response.status_code in (200, 401)


def test_registration_stores_the_normalised_address_and_other_spellings_add_nothing(
    django_user_model,
):
    client = Client()
    body = {"email": "Bob@EXAMPLE.com", "name": "Bob", "password": "tulip-garden-93"}
    created = client.post("/api/auth/register/", body, content_type="application/json")
    assert created.status_code == 202
    assert created.json()["email"] == "bob@example.com"
    again = {**body, "email": "BOB@example.COM"}
    answered = client.post("/api/auth/register/", again, content_type="application/json")
    assert answered.json() == created.json()  # the same answer: nothing is revealed
    assert list(django_user_model.objects.values_list("email", flat=True)) == ["bob@example.com"]


REGISTRATIONS = {
    "api": ("/api/auth/register/", "json"),
    "legacy": ("/user/", "json"),
    "page": ("/accounts/register/", "form"),
}


@pytest.mark.parametrize("route", REGISTRATIONS, ids=REGISTRATIONS.keys())
def test_a_312_character_email_is_a_400_on_every_registration_route(route, django_user_model):
    """Was: 500 on PostgreSQL (the column holds 254)."""
    assert len(LONG_EMAIL) == 312
    path, kind = REGISTRATIONS[route]
    body = {"email": LONG_EMAIL, "name": "Long", "password": "tulip-garden-93"}
    if kind == "json":
        response = Client().post(path, json.dumps(body), content_type="application/json")
        assert response.json()["detail"]
    else:
        response = Client().post(path, body)
        assert "at most 254 characters" in response.content.decode()
    assert response.status_code == 400
    assert not django_user_model.objects.exists()


def test_the_migration_normalises_rows_and_deactivates_collisions(django_user_model, capsys):
    from django.utils import timezone

    migration = importlib.import_module("accounts.migrations.0003_normalise_emails")
    make = django_user_model.objects.create_user
    kept = make(email="carol@example.com", name="c", password=PASSWORD)
    twin = make(email="twin@example.com", name="t", password=PASSWORD)
    plain = make(email="dave@example.com", name="d", password=PASSWORD)
    # Rows as an older version could store them (exact-byte unique index):
    django_user_model.objects.filter(pk=twin.pk).update(email="CAROL@Example.com")
    django_user_model.objects.filter(pk=plain.pk).update(email="Dave@Example.COM")
    django_user_model.objects.filter(pk=kept.pk).update(last_login=timezone.now())

    migration.normalise_emails(django_apps, None)

    kept.refresh_from_db()
    twin.refresh_from_db()
    plain.refresh_from_db()
    assert (kept.email, kept.is_active) == ("carol@example.com", True)
    assert (twin.email, twin.is_active) == (f"collision-{twin.pk}@invalid.invalid", False)
    assert plain.email == "dave@example.com"
    assert f"user {twin.pk} shares user {kept.pk}'s address" in capsys.readouterr().out


def test_reliability_doc_lists_every_identity_case():
    rows = [
        ("identity-spellings", "log in as ALICE@example.com and full-width ａｌｉｃｅ@example.com "
         "(account alice@example.com) at /api/auth/token/, /login, /accounts/login/",
         "logged in (NFKC + casefold, one spelling)"),
        ("identity-lookalike", "log in as alıce@example.com / ALİCE@example.com with alice's "
         "password at the same doors", "refused (401 / the form again); was: logged in as alice "
         "on PostgreSQL (UPPER())"),
        ("identity-register-spellings", "register Bob@EXAMPLE.com, then BOB@example.COM",
         "202 stored as bob@example.com, then the same 202 and no second account"),
        ("identity-312-char-email", "a valid 312-character e-mail at /api/auth/register/, "
         "/user/, /accounts/register/", "400 (JSON detail / the form's length error), no "
         "account; was 500 on PostgreSQL"),
        ("identity-migration", "migration 0003 over CAROL@Example.com + carol@example.com and "
         "Dave@Example.COM", "dave@example.com; the most recently active carol keeps the "
         "address, the other is deactivated and renamed collision-<id>@invalid.invalid"),
    ]  # fmt: skip
    check_section("identity", rows)
