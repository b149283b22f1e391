"""Operators run the product from the admin: users, predictions, feedback, the queue."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def operator(client):
    admin = User.objects.create_superuser(email="ops@example.com", password="ops-secret-77")
    client.force_login(admin)
    return client


def test_operator_creates_a_user_who_can_then_log_in(operator, client):
    response = operator.post(
        "/admin/accounts/user/add/",
        {
            "email": "new@example.com",
            "name": "New Person",
            "password1": "orchid-basket-51",
            "password2": "orchid-basket-51",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    user = User.objects.get(email="new@example.com")
    assert not user.is_staff
    assert user.check_password("orchid-basket-51")


@pytest.mark.parametrize(
    "path",
    [
        "/admin/accounts/user/",
        "/admin/classifier/prediction/?status__exact=done",
        "/admin/feedback/feedback/?is_correct__exact=0",
        "/admin/rq/",
    ],
)
def test_admin_pages_render_for_staff(operator, path):
    assert operator.get(path).status_code == 200


def test_admin_is_closed_to_ordinary_users(client, user):
    client.force_login(user)
    response = client.get("/admin/classifier/prediction/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_ensure_superuser_creates_once_and_never_resets_the_password(settings, capsys):
    settings.ADMIN_EMAIL = "boss@example.com"
    settings.ADMIN_PASSWORD = "first-password-1"
    call_command("ensure_superuser")
    settings.ADMIN_PASSWORD = "second-password-2"
    call_command("ensure_superuser")
    boss = User.objects.get(email="boss@example.com")
    assert boss.is_superuser and boss.is_staff
    assert boss.check_password("first-password-1")
    out = capsys.readouterr().out
    assert "Created superuser boss@example.com" in out
    assert "already exists" in out
    assert "first-password-1" not in out and "second-password-2" not in out


@pytest.mark.parametrize("weak", ["admin", "iloveyou", "12345678", "short-1"])
def test_ensure_superuser_refuses_a_default_or_weak_password(settings, capsys, weak):
    settings.ADMIN_EMAIL = "boss@example.com"
    settings.ADMIN_PASSWORD = weak
    with pytest.raises(CommandError) as refused:
        call_command("ensure_superuser")
    assert "ADMIN_PASSWORD is refused" in str(refused.value)
    assert weak not in str(refused.value).replace("ADMIN_PASSWORD", "")
    assert weak not in capsys.readouterr().out
    assert not User.objects.filter(email="boss@example.com").exists()


def test_ensure_superuser_without_a_password_creates_nobody_and_says_how(settings, capsys):
    settings.ADMIN_PASSWORD = ""
    call_command("ensure_superuser")
    assert not User.objects.filter(is_superuser=True).exists()
    assert "createsuperuser" in capsys.readouterr().out


def test_createsuperuser_noinput_runs_the_password_validators(monkeypatch):
    """Django's non-interactive createsuperuser would take any DJANGO_SUPERUSER_PASSWORD."""
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "admin")
    with pytest.raises(CommandError, match=r"too short|too common"):
        call_command(
            "createsuperuser", "--noinput", email="ops@example.com", name="Ops", verbosity=0
        )
    assert not User.objects.filter(email="ops@example.com").exists()

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-random-one-93")
    call_command("createsuperuser", "--noinput", email="ops@example.com", name="Ops", verbosity=0)
    assert User.objects.get(email="ops@example.com").check_password("a-long-random-one-93")
