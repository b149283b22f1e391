"""Every quality page, endpoint and export, for every kind of visitor.

Staff need the specific permission; `is_staff` alone is a 403. Signed-in non-staff users
get 404 on the pages (not advertised) and 403 from the API; the admin sends non-staff to
its login form, as for every admin page. A superuser holds every permission, with or
without `is_staff` (accounts.permissions.staff_may, the one rule): the pages and the API
open for them, the admin (which needs `is_staff`) does not.
"""

import pytest
from django.contrib.auth.models import Permission

from classifier.tests.page_helpers import make_prediction
from quality.models import ReviewedLabel
from testing.clients import jwt_client

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "user", "staff", "staff_with_perm", "superuser", "superuser_not_staff"]


@pytest.fixture
def as_role(client, make_user):
    def login(role: str, perm: str):
        if role == "anonymous":
            return None
        extra = {
            "user": {},
            "staff": {"is_staff": True},
            "staff_with_perm": {"is_staff": True},
            "superuser": {"is_staff": True, "is_superuser": True},
            "superuser_not_staff": {"is_superuser": True},
        }[role]
        person = make_user(email=f"{role}@example.com", **extra)
        if role == "staff_with_perm":
            person.user_permissions.add(Permission.objects.get(codename=perm.split(".")[1]))
        client.force_login(person)
        return person

    return login


PAGES = [
    # (method, url, permission, expected per role in ROLES order)
    ("get", "/quality/", "quality.view_dashboard", [302, 404, 403, 200, 200, 200]),
    ("get", "/quality/review/", "quality.review_predictions", [302, 404, 403, 200, 200, 200]),
    ("post", "REVIEW", "quality.review_predictions", [302, 404, 403, 302, 302, 302]),
    ("get", "/api/quality/dashboard/", "quality.view_dashboard", [401, 403, 403, 200, 200, 200]),
    (
        "get",
        "/admin/quality/datasetexport/",
        "quality.export_dataset",
        [302, 302, 403, 200, 200, 302],
    ),
    ("post", "EXPORT", "quality.export_dataset", [302, 302, 403, 200, 200, 302]),
]


@pytest.mark.parametrize("role_index", range(len(ROLES)), ids=ROLES)
@pytest.mark.parametrize(("method", "url", "perm", "expected"), PAGES, ids=[p[1] for p in PAGES])
def test_who_may_open_what(client, as_role, user, role_index, method, url, perm, expected):
    role = ROLES[role_index]
    prediction = make_prediction(user)
    as_role(role, perm)
    if url == "REVIEW":
        response = client.post(f"/quality/review/{prediction.pk}/", {"label": "lynx"})
        reviewed = ReviewedLabel.objects.filter(prediction=prediction).exists()
        assert reviewed == (expected[role_index] == 302 and role_index >= 3)
    elif url == "EXPORT":
        response = client.post(
            "/admin/quality/datasetexport/",
            {"action": "export_jsonl", "_selected_action": [str(prediction.pk)]},
        )
        if expected[role_index] == 200:
            body = b"".join(response.streaming_content).decode()
            assert str(prediction.pk) in body
    else:
        response = getattr(client, method)(url)
    assert response.status_code == expected[role_index], (role, url)
    if role == "superuser_not_staff" and url.startswith("/admin/"):
        assert response["Location"].startswith("/admin/login/")
    if role == "anonymous" and url.startswith("/quality/"):
        assert response["Location"].startswith("/accounts/login/")
    if url.startswith("/api/") and response.status_code >= 400:
        assert "detail" in response.json()


def test_api_with_a_token_follows_the_same_rule(make_user):
    staff = make_user(email="staff@example.com", is_staff=True)
    assert jwt_client(staff).get("/api/quality/dashboard/").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    assert jwt_client(staff).get("/api/quality/dashboard/").status_code == 200


def test_nav_and_admin_index_link_the_dashboard_only_for_permitted_staff(client, make_user):
    staff = make_user(email="staff@example.com", is_staff=True)
    client.force_login(staff)
    assert 'href="/quality/"' not in client.get("/").content.decode()
    staff.user_permissions.add(
        Permission.objects.get(codename="view_dashboard"),
        Permission.objects.get(codename="review_predictions"),
    )
    assert 'href="/quality/"' in client.get("/").content.decode()
    admin_index = client.get("/admin/").content.decode()
    assert 'href="/quality/"' in admin_index
    assert 'href="/quality/review/"' in admin_index


@pytest.mark.parametrize("codename", ["review_predictions", "view_dashboard"])
def test_reviewers_see_every_photo_their_queue_shows(
    client, make_user, user, settings, tmp_path, codename
):
    """Staff holding a quality permission but not `classifier.view_prediction` see the
    photos of answered predictions (the queue and the dashboard show them), not others'."""
    from classifier.models import Prediction
    from feedback.models import Feedback

    settings.MEDIA_ROOT = tmp_path / "media"
    doubted = make_prediction(user)
    Feedback.objects.create(user=user, prediction=doubted, is_correct=False, correct_label="lynx")
    pending = make_prediction(user, status=Prediction.Status.QUEUED)
    reviewer = make_user(email="reviewer@example.com", is_staff=True)
    reviewer.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(reviewer)
    if codename == "review_predictions":
        queue = client.get("/quality/review/").content.decode()
        assert f'src="/predictions/{doubted.pk}/image/"' in queue
    photo = client.get(f"/predictions/{doubted.pk}/image/")
    assert photo.status_code == 200
    assert b"".join(photo.streaming_content) == doubted.image.open("rb").read()
    assert client.get(f"/predictions/{pending.pk}/image/").status_code == 404


def test_the_quality_permission_without_staff_shows_no_photo(
    client, make_user, user, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    doubted = make_prediction(user)
    someone = make_user(email="someone@example.com")
    someone.user_permissions.add(Permission.objects.get(codename="review_predictions"))
    client.force_login(someone)
    assert client.get(f"/predictions/{doubted.pk}/image/").status_code == 404


def test_superuser_without_staff_flag_sees_the_quality_link(client, make_user):
    """The navigation asks the same rule as the views: no link to a page that opens, none
    to a page that does not."""
    client.force_login(make_user(email="root@example.com", is_superuser=True))
    page = client.get("/").content.decode()
    assert 'href="/quality/"' in page
    assert client.get("/quality/").status_code == 200
