"""The older API's /login and /user/ endpoints, as its clients call them."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from loadtests.legacy_client import old_login_form
from testing.clients import jwt_client

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "correct-horse-42"


def login(client, username: str, password: str, path: str = "/login"):
    return client.post(
        path,
        old_login_form(username, password),
        HTTP_ACCEPT="application/json",  # the old UI's headers
    )


@pytest.fixture
def staff(make_user):
    """An operator allowed to see and delete accounts (staff alone is not enough)."""
    from django.contrib.auth.models import Permission

    user = make_user(email="staff@example.com", is_staff=True)
    allowed = Permission.objects.filter(
        content_type__app_label="accounts", codename__in=["view_user", "delete_user"]
    )
    user.user_permissions.add(*allowed)
    return user


# --- POST /login -------------------------------------------------------------------------


def test_login_with_the_old_form_returns_a_bearer_token_that_works_on_the_new_api(client, user):
    response = login(client, "alice@example.com", PASSWORD)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "bearer"
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert api.get("/api/auth/me/").json()["email"] == "alice@example.com"


def test_login_token_is_refreshable_at_the_new_refresh_endpoint(client, user):
    body = login(client, "alice@example.com", PASSWORD).json()
    refreshed = APIClient().post(
        "/api/auth/token/refresh/", {"refresh": body["refresh_token"]}, format="json"
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["access"]


def test_login_accepts_the_email_in_any_case_and_a_trailing_slash(client, user):
    assert login(client, "Alice@Example.COM", PASSWORD, path="/login/").status_code == 200


def test_login_accepts_grant_type_password(client, user):
    form = {**old_login_form("alice@example.com", PASSWORD), "grant_type": "password"}
    assert client.post("/login", form).status_code == 200


@pytest.mark.parametrize(
    "username, password",
    [("alice@example.com", "wrong-password"), ("nobody@example.com", PASSWORD)],
)
def test_bad_credentials_are_401_with_a_detail(client, user, username, password):
    response = login(client, username, password)
    assert response.status_code == 401
    assert response.json()["detail"]
    assert "access_token" not in response.json()
    assert response["WWW-Authenticate"] == "Bearer"


def test_inactive_account_cannot_log_in(client, make_user):
    make_user(email="gone@example.com", is_active=False)
    assert login(client, "gone@example.com", PASSWORD).status_code == 401


def test_a_stale_token_in_the_header_does_not_block_logging_in(client, user):
    response = client.post(
        "/login",
        old_login_form("alice@example.com", PASSWORD),
        HTTP_AUTHORIZATION="Bearer expired.or.garbage",
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "form",
    [
        {"username": "alice@example.com"},
        {"password": PASSWORD},
        {**old_login_form("alice@example.com", PASSWORD), "grant_type": "client_credentials"},
    ],
)
def test_incomplete_login_form_is_400_with_a_detail(client, user, form):
    response = client.post("/login", form)
    assert response.status_code == 400
    assert response.json()["detail"]


def test_login_is_throttled_per_account(client, user):
    for _ in range(10):
        assert login(client, "alice@example.com", "wrong-password").status_code == 401
    response = login(client, "alice@example.com", PASSWORD)
    assert response.status_code == 429
    assert response.json()["detail"]


# --- POST /user/ -----------------------------------------------------------------------------


def register(client, path="/user/", **fields):
    body = {"name": "Bob", "email": "bob@example.com", "password": PASSWORD, **fields}
    return client.post(path, body, content_type="application/json")


def test_registration_returns_201_with_a_null_id_name_and_email_only(client):
    response = register(client)
    assert response.status_code == 201, response.content
    user = User.objects.get(email="bob@example.com")
    assert response.json() == {"id": None, "name": "Bob", "email": "bob@example.com"}
    assert not user.is_staff
    assert login(client, "bob@example.com", PASSWORD).status_code == 200


def test_registration_without_trailing_slash_is_not_redirected(client):
    assert register(client, path="/user").status_code == 201


def test_a_taken_email_gets_the_same_201_and_changes_nothing(client, user):
    response = register(client, email="ALICE@example.com")
    assert response.status_code == 201
    assert response.json() == {"id": None, "name": "Bob", "email": "alice@example.com"}
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1
    assert User.objects.get(email="alice@example.com").name != "Bob"


@pytest.mark.parametrize(
    "fields, bad_field",
    [
        ({"email": "not-an-email"}, "email"),
        ({"name": "B"}, "name"),
        ({"name": ""}, "name"),
        ({"password": "123"}, "password"),
        ({"name": ["Bob"]}, "name"),
    ],
)
def test_invalid_registration_is_400_naming_the_field(client, fields, bad_field):
    response = register(client, **fields)
    assert response.status_code == 400
    body = response.json()
    assert body["detail"].startswith(bad_field)
    assert bad_field in body["errors"]
    assert not User.objects.exists()


@pytest.mark.parametrize("payload", ['{"name": "Bob", "email": ', "[1, 2]", "null"])
def test_malformed_registration_json_is_400(client, payload):
    response = client.post("/user/", payload, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"]
    assert not User.objects.exists()


# --- GET /user/, GET /user/{id}, DELETE /user/{id}: staff only --------------------------------


def test_staff_lists_users_as_a_bare_list_without_password_hashes(staff, user):
    response = jwt_client(staff).get("/user/")
    assert response.status_code == 200
    assert response.json() == [
        {"id": staff.pk, "name": "staff", "email": "staff@example.com"},
        {"id": user.pk, "name": "alice", "email": "alice@example.com"},
    ]
    assert b"password" not in response.content
    assert b"pbkdf2" not in response.content


def test_staff_reads_one_user_with_or_without_trailing_slash(staff, user):
    for path in (f"/user/{user.pk}", f"/user/{user.pk}/"):
        response = jwt_client(staff).get(path)
        assert response.status_code == 200
        assert response.json() == {"id": user.pk, "name": "alice", "email": "alice@example.com"}


def test_staff_reading_an_unknown_user_gets_404(staff):
    response = jwt_client(staff).get("/user/999999")
    assert response.status_code == 404
    assert response.json()["detail"]


def test_staff_deletes_a_user(staff, user):
    assert jwt_client(staff).delete(f"/user/{user.pk}").status_code == 204
    assert not User.objects.filter(pk=user.pk).exists()


def test_staff_cannot_delete_themselves_or_a_superuser(staff, make_user):
    boss = make_user(email="boss@example.com", is_staff=True, is_superuser=True)
    client = jwt_client(staff)
    for target in (staff, boss):
        response = client.delete(f"/user/{target.pk}")
        assert response.status_code == 403
        assert response.json()["detail"]
        assert User.objects.filter(pk=target.pk).exists()


@pytest.mark.parametrize(
    "method, path",
    [("get", "/user/"), ("get", "/user/{id}"), ("delete", "/user/{id}")],
)
def test_non_staff_get_403_and_anonymous_get_401_on_user_admin(user, other_user, method, path):
    path = path.format(id=other_user.pk)
    as_user = getattr(jwt_client(user), method)(path)
    assert as_user.status_code == 403
    assert as_user.json()["detail"]
    anonymous = getattr(APIClient(), method)(path)
    assert anonymous.status_code == 401
    assert anonymous.json()["detail"]
    assert User.objects.filter(pk=other_user.pk).exists()


def test_session_login_does_not_authenticate_legacy_endpoints(client, staff):
    """JWT only: a browser session (which would need CSRF) is not accepted here."""
    client.force_login(staff)
    assert client.get("/user/").status_code == 401
