"""The access matrix of `test_authorization`: each endpoint's expected status for each role
(anonymous, another user, the owner, plain staff, the operator, a superuser) and the checks
made beyond the status code. Kept apart from the tests because it is mostly data: one `Row`
per endpoint, also listed in docs/RELIABILITY.md."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from classifier.models import Prediction
from feedback.models import Feedback
from testing.photos import photo_bytes

ROLES = ("anonymous", "other", "owner", "staff", "operator", "superuser")
LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"


@cache
def owner_photo() -> bytes:
    return photo_bytes("rocket")


@dataclass
class World:
    owner: object
    other: object
    staff: object
    operator: object
    superuser: object
    victim: object
    prediction: Prediction
    feedback: Feedback

    def names(self) -> dict[str, str]:
        sha = self.prediction.image_sha256
        return {
            "prediction": str(self.prediction.pk),
            "feedback": str(self.feedback.pk),
            "owner_id": str(self.owner.pk),
            "victim_id": str(self.victim.pk),
            "stored": self.prediction.image.name,
            "sha": sha,
            "prefix": sha[:2],
        }


# --- Checks beyond the status code ---------------------------------------------------------
def sees_only_own(response, role, world):
    """A list shows the owner's item to the owner and to nobody else."""
    text = response.content.decode()
    shows_owners = (
        str(world.prediction.pk) in text
        or "owners-secret-rocket" in text
        or f'"id":{world.feedback.pk},' in text.replace(" ", "")
    )
    assert shows_owners == (role == "owner"), f"{role} listing: owner's item shown={shows_owners}"


def serves_the_image(response, role, world):
    assert b"".join(response.streaming_content) == owner_photo()
    assert response["Cache-Control"].startswith("private")


def owners_feedback_untouched(response, role, world):
    world.feedback.refresh_from_db()
    assert world.feedback.comment == ("legacy words" if role == "owner" else "")
    if role not in ("anonymous", "owner"):
        created = Feedback.objects.get(user=getattr(world, role))
        assert created.prediction is None  # never attached to the owner's prediction


def prediction_gone(world):
    assert not Prediction.objects.filter(pk=world.prediction.pk).exists()
    assert not Feedback.objects.filter(pk=world.feedback.pk).exists()


def victim_gone_only_with_permission(response, role, world):
    from django.contrib.auth import get_user_model

    exists = get_user_model().objects.filter(pk=world.victim.pk).exists()
    assert exists == (role not in ("operator", "superuser"))


# --- The matrix ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    id: str
    method: str
    path: str
    auth: str  # "jwt" (API, older API) or "session" (pages)
    expect: dict[str, int]  # role → status
    body: dict | None = None
    check: Callable | None = None
    note: str = ""
    login_url: str = LOGIN

    def result(self) -> str:
        result = " · ".join(f"{role} {self.expect[role]}" for role in ROLES)
        return f"{result}; {self.note}" if self.note else result


def statuses(anonymous, other, owner, staff, operator=None, superuser=None) -> dict[str, int]:
    """Status per role; the operator answers as staff and the superuser as the operator
    unless given."""
    operator = staff if operator is None else operator
    superuser = operator if superuser is None else superuser
    return {
        "anonymous": anonymous,
        "other": other,
        "owner": owner,
        "staff": staff,
        "operator": operator,
        "superuser": superuser,
    }


ROWS = [
    # /api/
    Row(
        "api-predictions-list",
        "GET",
        "/api/predictions/",
        "jwt",
        statuses(401, 200, 200, 200),
        check=sees_only_own,
        note="each user lists only their own",
    ),
    Row(
        "api-prediction-detail",
        "GET",
        "/api/predictions/{prediction}/",
        "jwt",
        statuses(401, 404, 200, 404),
    ),
    Row(
        "api-prediction-wait",
        "GET",
        "/api/predictions/{prediction}/?wait=1",
        "jwt",
        statuses(401, 404, 200, 404),
    ),
    Row(
        "api-prediction-upload",
        "POST",
        "/api/predictions/",
        "jwt",
        statuses(401, 202, 201, 202),
        body={"image": "photo"},
        note="same bytes: answered from the result cache for their owner only",
    ),
    Row(
        "api-feedback-list",
        "GET",
        "/api/feedback/",
        "jwt",
        statuses(401, 200, 200, 200),
        check=sees_only_own,
        note="each user lists only their own",
    ),
    Row(
        "api-feedback-detail",
        "GET",
        "/api/feedback/{feedback}/",
        "jwt",
        statuses(401, 404, 200, 404),
    ),
    Row(
        "api-feedback-give",
        "POST",
        "/api/feedback/",
        "jwt",
        statuses(401, 404, 200, 404),
        body={"prediction": "{prediction}", "is_correct": True},
        note="owner's second feedback updates the first (200)",
    ),
    Row("api-me", "GET", "/api/auth/me/", "jwt", statuses(401, 200, 200, 200)),
    Row(
        "api-me-delete",
        "DELETE",
        "/api/auth/me/",
        "jwt",
        statuses(401, 400, 400, 400, superuser=403),
        body={"password": "not-the-password"},
        note="only ever the caller's own account; a wrong password deletes nothing; the "
        "last superuser is refused",
    ),
    Row(
        "api-prediction-delete",
        "DELETE",
        "/api/predictions/{prediction}/",
        "jwt",
        statuses(401, 404, 204, 404),
        check=lambda response, role, world: prediction_gone(world),
        note="the owner's prediction goes with its feedback",
    ),
    Row(
        "api-health",
        "GET",
        "/api/health/",
        "jwt",
        statuses(503, 503, 503, 503),
        note="public; 503 here because no worker runs",
    ),
    Row("api-schema", "GET", "/api/schema/", "jwt", statuses(200, 200, 200, 200), note="public"),
    Row("api-docs", "GET", "/api/docs/", "jwt", statuses(200, 200, 200, 200), note="public"),
    # The older API
    Row(
        "legacy-predict",
        "POST",
        "/model/predict",
        "jwt",
        statuses(401, 504, 200, 504),
        body={"file": "photo"},
        note="same bytes: answered from the result cache for their owner only (others wait: "
        "no worker runs here)",
    ),
    Row(
        "legacy-users",
        "GET",
        "/user/",
        "jwt",
        statuses(401, 403, 403, 403, 200),
        note="needs accounts.view_user (staff alone: 403)",
    ),
    Row(
        "legacy-user",
        "GET",
        "/user/{owner_id}",
        "jwt",
        statuses(401, 403, 403, 403, 200),
        note="needs accounts.view_user, even for one's own account",
    ),
    Row(
        "legacy-user-delete",
        "DELETE",
        "/user/{victim_id}",
        "jwt",
        statuses(401, 403, 403, 403, 204),
        check=victim_gone_only_with_permission,
        note="needs accounts.delete_user (staff alone: 403)",
    ),
    Row(
        "legacy-feedback-list",
        "GET",
        "/feedback/",
        "jwt",
        statuses(401, 200, 200, 200),
        check=sees_only_own,
        note="each user lists only their own",
    ),
    Row(
        "legacy-feedback-give",
        "POST",
        "/feedback/",
        "jwt",
        statuses(401, 201, 201, 201),
        body={
            "feedback": "legacy words",
            "score": 0.9,
            "predicted_class": "space_shuttle",
            "image_file_name": "{sha}.jpg",
        },
        check=owners_feedback_untouched,
        note="others' feedback naming the owner's image is never attached to it",
    ),
    # Pages
    Row("page-home", "GET", "/", "session", statuses(200, 200, 200, 200)),
    Row(
        "page-login",
        "GET",
        "/accounts/login/",
        "session",
        statuses(200, 302, 302, 302),
        note="logged-in users are sent on to the upload page",
    ),
    Row(
        "page-register",
        "GET",
        "/accounts/register/",
        "session",
        statuses(200, 302, 302, 302),
        note="logged-in users are sent on to the upload page",
    ),
    Row(
        "page-history",
        "GET",
        "/predictions/",
        "session",
        statuses(302, 200, 200, 200),
        check=sees_only_own,
        note="anonymous → login; each user sees only their own",
    ),
    Row(
        "page-detail",
        "GET",
        "/predictions/{prediction}/",
        "session",
        statuses(302, 404, 200, 404),
        note="anonymous → login",
    ),
    Row(
        "page-image",
        "GET",
        "/predictions/{prediction}/image/",
        "session",
        statuses(302, 404, 200, 404, 200),
        note="anonymous → login; staff with classifier.view_prediction may see others' "
        "images (moderation); staff without it: 404",
    ),
    Row(
        "page-prediction-delete",
        "POST",
        "/predictions/{prediction}/delete/",
        "session",
        statuses(302, 404, 302, 404),
        note="anonymous → login; owner → history, prediction and feedback deleted",
    ),
    Row(
        "page-account-delete",
        "POST",
        "/accounts/account/delete/",
        "session",
        statuses(302, 400, 400, 400, superuser=403),
        body={"password": "not-the-password"},
        note="anonymous → login; only ever one's own account; a wrong password deletes "
        "nothing; the last superuser is refused",
    ),
    Row(
        "page-feedback",
        "POST",
        "/predictions/{prediction}/feedback/",
        "session",
        statuses(302, 404, 302, 404),
        body={"is_correct": "true"},
        note="anonymous → login; owner → back to the result",
    ),
    # Uploaded files have no public URL and no listing
    Row("media-file", "GET", "/media/{stored}", "session", statuses(404, 404, 404, 404)),
    Row("media-listing", "GET", "/media/images/", "session", statuses(404, 404, 404, 404)),
    Row(
        "media-url-file",
        "GET",
        "/media-not-served/{stored}",
        "session",
        statuses(404, 404, 404, 404),
    ),
    Row(
        "media-url-listing",
        "GET",
        "/media-not-served/images/{prefix}/",
        "session",
        statuses(404, 404, 404, 404),
    ),
    # Operators' pages
    Row(
        "admin",
        "GET",
        "/admin/",
        "session",
        statuses(302, 302, 302, 200),
        login_url=ADMIN_LOGIN,
        note="others → admin login, which says they are not authorised; staff see only "
        "what their permissions allow",
    ),
    Row(
        "admin-prediction",
        "GET",
        "/admin/classifier/prediction/{prediction}/change/",
        "session",
        statuses(302, 302, 302, 403, 200),
        login_url=ADMIN_LOGIN,
        note="others → admin login; staff need classifier.view_prediction (read-only page)",
    ),
    Row(
        "admin-queue-stats",
        "GET",
        "/admin/rq/stats.json",
        "session",
        statuses(401, 401, 401, 403, 200),
        note="queue statistics: needs classifier.view_queue (django-rq answers non-staff 401)",
    ),
    Row(
        "admin-queue-stats-token",
        "GET",
        "/admin/rq/stats.json/guessedtoken123/",
        "session",
        statuses(401, 401, 401, 403, 200),
        note="no RQ_API_TOKEN is configured, so no token opens it",
    ),
    Row(
        "admin-queue-dashboard",
        "GET",
        "/admin/rq/",
        "session",
        statuses(302, 302, 302, 403, 200),
        login_url=ADMIN_LOGIN,
        note="others → admin login; staff need classifier.view_queue",
    ),
    Row(
        "admin-queue-empty",
        "GET",
        "/admin/rq/queues/0/empty/",
        "session",
        statuses(302, 302, 302, 403, 403, 200),
        login_url=ADMIN_LOGIN,
        note="emptying (and requeueing, deleting, stopping) jobs needs classifier.manage_queue "
        "on top of classifier.view_queue, which the operator holds alone",
    ),
]
