"""Register, obtain and refresh JWTs, and ask who I am."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def client():
    return APIClient()


def register(client, **fields):
    data = {"email": "bob@example.com", "name": "Bob", "password": "tulip-garden-93"} | fields
    return client.post("/api/auth/register/", data, format="json")


def test_register_answers_202_without_an_id_or_secrets(client):
    response = register(client)
    assert response.status_code == 202
    body = response.json()
    assert body == {"detail": body["detail"], "email": "bob@example.com", "name": "Bob"}
    assert "log in" in body["detail"]
    assert User.objects.get(email="bob@example.com").check_password("tulip-garden-93")


def test_a_taken_email_gets_the_same_answer_whatever_its_case_and_changes_nothing(client):
    first = register(client)
    again = register(client, email="BOB@example.com", password="other-garden-27")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert User.objects.count() == 1
    assert User.objects.get().check_password("tulip-garden-93")


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"password": "123"}, "password"),
        ({"password": "password"}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"name": ""}, "name"),
        ({"name": "x" * 151}, "name"),
        # the 150-character bound is on the name as sent, before white space is trimmed
        # (found by schemathesis: the schema's maxLength must hold for what is accepted)
        ({"name": "\x0b" + "x" * 150}, "name"),
    ],
)
def test_invalid_registration_is_400_naming_the_field(client, fields, field):
    response = register(client, **fields)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert User.objects.count() == 0


def test_malformed_json_is_400(client):
    response = client.post("/api/auth/register/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_token_pair_refresh_and_me(client):
    register(client)
    tokens = client.post(
        "/api/auth/token/",
        {"email": "bob@example.com", "password": "tulip-garden-93"},
        format="json",
    )
    assert tokens.status_code == 200
    pair = tokens.json()
    assert set(pair) == {"access", "refresh"}
    refreshed = client.post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    assert refreshed.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    me = client.get("/api/auth/me/")
    assert me.status_code == 200
    assert me.json()["email"] == "bob@example.com"


def test_wrong_password_is_401(client):
    register(client)
    response = client.post(
        "/api/auth/token/", {"email": "bob@example.com", "password": "nope"}, format="json"
    )
    assert response.status_code == 401
    assert "access" not in response.json()


def test_me_requires_authentication(client):
    assert client.get("/api/auth/me/").status_code == 401
