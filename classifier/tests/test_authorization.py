"""Who may do what: every endpoint × anonymous / another user / the owner / staff without
permissions / staff with the permission / a superuser.

One world per test: `owner` has a finished prediction (with its stored image) and feedback
on it; `other` is an ordinary user with nothing; `staff` may log into the admin but holds
no permission; `operator` is staff holding the permissions the staff-only paths check
(`OPERATOR_PERMISSIONS`); `superuser` holds all; `victim` exists only to be deleted.
Staff is not superuser: a staff-only path answers plain staff 403. Someone else's
prediction, feedback or image is a 404, never a 403 (a 403 would confirm that the id
exists). The API and the older API authenticate by
JWT, pages by session. The expected statuses are the table in `access_matrix.py`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from classifier.imaging import validate_image_bytes
from classifier.models import Prediction
from classifier.services import store_image
from classifier.tests.access_matrix import ADMIN_LOGIN, ROLES, ROWS, Row, World, owner_photo
from classifier.tests.reliability_doc import check_section
from feedback.services import give_feedback

pytestmark = pytest.mark.django_db

#: what the staff-only paths check (accounts.permissions): legacy /user/, other people's
#: images, the queue dashboard
OPERATOR_PERMISSIONS = {
    "accounts": ["view_user", "delete_user"],
    "classifier": ["view_prediction", "view_queue"],
}


@pytest.fixture
def world(django_user_model, settings, tmp_path, live_model) -> World:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PREDICT_WAIT_SECONDS = 0
    live_model()  # a worker runs the model the owner's answer came from

    def make(email, **extra):  # no password: hashing one costs more than the whole test
        return django_user_model.objects.create_user(email=email, name=email[:5], **extra)

    owner = make("owner@example.com")
    image = validate_image_bytes(owner_photo())
    prediction = Prediction.objects.create(
        owner=owner,
        image=store_image(image),
        image_sha256=image.sha256,
        original_filename="owners-secret-rocket.jpg",
        model_name="resnet50 (random weights)",
        status=Prediction.Status.DONE,
        label="space_shuttle",
        score=0.9,
        top5=[{"label": "space_shuttle", "score": 0.9}] * 5,
    )
    feedback, _ = give_feedback(
        user=owner, prediction=prediction, is_correct=False, correct_label="rocket"
    )
    from django.contrib.auth.models import Permission

    operator = make("operator@example.com", is_staff=True)
    for app_label, codenames in OPERATOR_PERMISSIONS.items():
        operator.user_permissions.add(
            *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
        )
    return World(
        owner=owner,
        other=make("other@example.com"),
        staff=make("staff@example.com", is_staff=True),
        operator=operator,
        superuser=make("boss@example.com", is_staff=True, is_superuser=True),
        victim=make("victim@example.com"),
        prediction=prediction,
        feedback=feedback,
    )


def client_for(world: World, role: str, auth: str):
    if auth == "jwt":
        client = APIClient()
        if role != "anonymous":
            token = RefreshToken.for_user(getattr(world, role)).access_token
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client
    client = Client()
    if role != "anonymous":
        client.force_login(getattr(world, role))
    return client


def request(client, row: Row, names: dict[str, str]):
    path = row.path.format(**names)
    if row.body is None:
        return getattr(client, row.method.lower())(path)
    body = {
        key: value.format(**names) if isinstance(value, str) else value
        for key, value in row.body.items()
    }
    files = [key for key, value in body.items() if value == "photo"]
    if files:
        from django.core.files.uploadedfile import SimpleUploadedFile

        for key in files:
            body[key] = SimpleUploadedFile("again.jpg", owner_photo())
        return client.post(path, body)
    if row.auth == "jwt":
        return client.generic(row.method, path, json.dumps(body), content_type="application/json")
    return client.post(path, body)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_access(row, role, world):
    response = request(client_for(world, role, row.auth), row, world.names())
    expected = row.expect[role]
    assert response.status_code == expected, (row.id, role, response.content[:300])
    if expected == 302 and (role == "anonymous" or row.login_url == ADMIN_LOGIN):
        assert response["Location"].startswith(row.login_url), response["Location"]
    if expected == 404 and response.get("Content-Type", "").startswith("application/json"):
        assert "detail" in response.json()
    if row.check is not None and expected < 300:
        row.check(response, role, world)


def test_admin_login_tells_an_ordinary_user_they_are_not_authorised(world):
    client = client_for(world, "other", "session")
    page = client.get(ADMIN_LOGIN + "?next=/admin/").content.decode()
    assert "not authorized to access this page" in page


def test_a_superuser_opens_the_admin_pages_plain_staff_cannot(world):
    world.staff.is_superuser = True
    world.staff.save()
    client = client_for(world, "staff", "session")
    assert (
        client.get(f"/admin/classifier/prediction/{world.prediction.pk}/change/").status_code == 200
    )


# --- Forged, stale and misused tokens ------------------------------------------------------
def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(token: str, **claims) -> str:
    """The same token with claims changed and the original signature kept."""
    header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return ".".join([header, b64(json.dumps({**decoded, **claims}).encode()), signature])


def expired(world: World) -> str:
    token = AccessToken.for_user(world.owner)
    token.set_exp(lifetime=-timedelta(seconds=1))
    return str(token)


def tampered(world: World) -> str:
    return forged(str(AccessToken.for_user(world.owner)), user_id=str(world.staff.pk))


def other_key(world: World) -> str:
    import jwt

    claims = dict(AccessToken.for_user(world.staff).payload)
    return jwt.encode(claims, "not-our-secret-key-but-long-enough-for-hs256", algorithm="HS256")


def alg_none(world: World) -> str:
    claims = dict(AccessToken.for_user(world.staff).payload)
    return ".".join([b64(b'{"alg":"none","typ":"JWT"}'), b64(json.dumps(claims).encode()), ""])


def refresh_as_access(world: World) -> str:
    return str(RefreshToken.for_user(world.owner))


def deleted_user(world: World) -> str:
    token = str(AccessToken.for_user(world.victim))
    world.victim.delete()
    return token


def inactive_user(world: World) -> str:
    world.owner.is_active = False
    world.owner.save()
    return str(AccessToken.for_user(world.owner))


@dataclass(frozen=True)
class BadToken:
    id: str
    what: str
    make: Callable[[World], str]
    scheme: str = "Bearer"
    endpoints: tuple[str, ...] = field(
        default=("/api/auth/me/", "/api/predictions/", "/user/", "/feedback/")
    )


TOKENS = [
    BadToken("jwt-expired", "access token past its expiry", expired),
    BadToken("jwt-tampered", "owner's token with user_id changed to staff's", tampered),
    BadToken("jwt-wrong-key", "staff claims signed with another key", other_key),
    BadToken("jwt-alg-none", 'staff claims, header alg "none", no signature', alg_none),
    BadToken(
        "jwt-refresh-as-access", "a refresh token sent as the access token", refresh_as_access
    ),
    BadToken("jwt-deleted-user", "valid token of a deleted account", deleted_user),
    BadToken("jwt-inactive-user", "valid token of a deactivated account", inactive_user),
    BadToken("jwt-garbage", "three dots of nonsense", lambda world: "not.a.jwt"),
    BadToken(
        "jwt-wrong-scheme",
        'valid token sent as "Token <jwt>"',
        lambda world: str(AccessToken.for_user(world.owner)),
        scheme="Token",
    ),
]


@pytest.mark.parametrize("case", TOKENS, ids=lambda case: case.id)
def test_bad_token_is_401_everywhere(case, world):
    token = case.make(world)
    for path in case.endpoints:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"{case.scheme} {token}")
        response = client.get(path)
        assert response.status_code == 401, (path, response.content[:200])
        assert response.json()["detail"]
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_bad_token_is_not_rescued_by_a_valid_session(world):
    client = APIClient()
    client.force_login(world.owner)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tampered(world)}")
    assert client.get("/api/predictions/").status_code == 401


# --- The document --------------------------------------------------------------------------
def test_reliability_doc_lists_every_access_case():
    rows = [(row.id, f"{row.method} {row.path}", row.result()) for row in ROWS]
    paths = ", ".join(TOKENS[0].endpoints)
    rows += [(case.id, f"{case.what} → {paths}", "401 with a detail") for case in TOKENS]
    rows.append(
        (
            "jwt-bad-token-with-session",
            "tampered JWT plus a valid session cookie → /api/predictions/",
            "401 (the session does not rescue it)",
        )
    )
    check_section("access", rows)
