"""A person managing their own account in the browser and through the API: change the
password, reset a forgotten one by e-mail, delete the account and everything in it."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from accounts import mailer
from accounts.tests.test_pages import inner_text, logged_in_user
from classifier.models import Prediction
from classifier.tests.test_deleting import finished_prediction
from feedback.models import Feedback
from feedback.services import give_feedback
from testing.clients import jwt_client
from testing.live_stack import TEST_PASSWORD
from testing.photos import distinct_photo

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]

User = get_user_model()
NEW_PASSWORD = "amber-kettle-58"


def api_token(client, email, password) -> APIClient:
    response = client.post(
        "/api/auth/token/", {"email": email, "password": password}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    return api


def test_the_account_page_links_to_every_self_service_page(client, user):
    client.force_login(user)
    html = client.get("/accounts/account/").content.decode()
    assert user.email in html
    for link in ("/accounts/password/change/", "/accounts/account/delete/", "/predictions/"):
        assert f'href="{link}"' in html
    assert 'href="/accounts/account/"' in client.get("/").content.decode()  # from the top bar


# --- Changing the password ----------------------------------------------------------------
def change(client, old, new):
    return client.post(
        "/accounts/password/change/",
        {"old_password": old, "new_password1": new, "new_password2": new},
        follow=True,
    )


def test_changing_the_password_keeps_me_logged_in_and_the_old_one_stops_working(client, user):
    client.force_login(user)
    response = change(client, TEST_PASSWORD, NEW_PASSWORD)
    assert response.redirect_chain == [("/accounts/account/", 302)]
    assert "Your password has been changed." in inner_text(response.content.decode())
    assert logged_in_user(client).is_authenticated
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD) and not user.check_password(TEST_PASSWORD)


def test_a_wrong_current_password_changes_nothing(client, user):
    client.force_login(user)
    response = change(client, "not-my-password", NEW_PASSWORD)
    assert "Your old password was entered incorrectly" in inner_text(response.content.decode())
    user.refresh_from_db()
    assert user.check_password(TEST_PASSWORD)


def test_a_weak_new_password_is_refused_with_the_reason(client, user):
    client.force_login(user)
    response = change(client, TEST_PASSWORD, "12345678")
    assert "This password is entirely numeric." in inner_text(response.content.decode())
    user.refresh_from_db()
    assert user.check_password(TEST_PASSWORD)


def test_the_change_page_needs_a_login(client):
    response = client.get("/accounts/password/change/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_changing_the_password_revokes_the_accounts_api_tokens(client, user):
    api = api_token(client, user.email, TEST_PASSWORD)
    assert api.get("/api/auth/me/").status_code == 200
    client.force_login(user)
    change(client, TEST_PASSWORD, NEW_PASSWORD)
    assert api.get("/api/auth/me/").status_code == 401


# --- Resetting a forgotten password by e-mail ---------------------------------------------
def reset_link(message) -> str:
    return re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", message.body).group(1)


def sent_mail() -> list:
    """What the e-mails sent after the response (accounts.mailer) delivered."""
    assert mailer.wait_until_sent(timeout=30)
    return mail.outbox


# The sender thread reads the account with its own database connection: committed rows.
@pytest.mark.django_db(transaction=True)
def test_a_forgotten_password_is_reset_through_the_emailed_link(client, user):
    login_page = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/password/reset/"' in login_page
    response = client.post("/accounts/password/reset/", {"email": user.email.upper()}, follow=True)
    assert response.redirect_chain == [("/accounts/password/reset/sent/", 302)]
    assert "Check your email" in inner_text(response.content.decode())
    (message,) = sent_mail()
    assert message.to == [user.email]
    assert message.subject == "Reset your password on the image classifier"
    link = reset_link(message)

    form_page = client.get(link, follow=True)
    assert "Choose a new password" in inner_text(form_page.content.decode())
    set_url = form_page.redirect_chain[-1][0]
    done = client.post(
        set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True
    )
    assert done.redirect_chain == [("/accounts/password/reset/done/", 302)]
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)

    used_again = client.get(link, follow=True)
    assert "This link does not work any more" in inner_text(used_again.content.decode())
    logged_in = client.post(
        "/accounts/login/", {"username": user.email, "password": NEW_PASSWORD}, follow=True
    )
    assert logged_in_user(client).is_authenticated, logged_in.content


@pytest.mark.django_db(transaction=True)
def test_an_unknown_address_gets_the_same_answer_and_no_mail(client, user):
    response = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/reset/sent/"
    assert sent_mail() == []


@pytest.mark.django_db(transaction=True)
def test_the_reset_mail_is_in_the_language_of_the_request(client, user):
    client.post("/accounts/password/reset/", {"email": user.email}, HTTP_ACCEPT_LANGUAGE="es")
    (message,) = sent_mail()
    assert message.subject == "Restablece tu contraseña del clasificador de imágenes"
    assert "Elige una contraseña nueva" in message.body


# --- Deleting my account ------------------------------------------------------------------
@pytest.fixture
def account_with_data(user, other_user):
    mine = finished_prediction(user, distinct_photo(1))
    shared = finished_prediction(user, distinct_photo(2))
    theirs = finished_prediction(other_user, distinct_photo(2))  # same bytes as `shared`
    give_feedback(user=user, prediction=mine, is_correct=False, correct_label="tabby")
    give_feedback(user=other_user, prediction=theirs, is_correct=True)
    return {"mine": mine, "shared": shared, "theirs": theirs}


def test_deleting_my_account_asks_for_my_password_first(client, user, account_with_data):
    client.force_login(user)
    page = client.get("/accounts/account/delete/")
    assert page.status_code == 200
    assert "cannot be undone" in inner_text(page.content.decode())
    wrong = client.post("/accounts/account/delete/", {"password": "not-it"})
    assert wrong.status_code == 400
    assert "The password is not correct." in inner_text(wrong.content.decode())
    assert User.objects.filter(pk=user.pk).exists()
    assert Prediction.objects.filter(owner=user).count() == 2


def test_deleting_my_account_deletes_my_data_and_only_mine(
    client, user, other_user, account_with_data, django_capture_on_commit_callbacks
):
    client.force_login(user)
    mine, shared, theirs = (account_with_data[k] for k in ("mine", "shared", "theirs"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/accounts/account/delete/", {"password": TEST_PASSWORD}, follow=True
        )
    assert response.redirect_chain == [("/accounts/login/", 302)]
    assert "Your account and all its photos and feedback are deleted." in inner_text(
        response.content.decode()
    )
    assert not logged_in_user(client).is_authenticated
    assert not User.objects.filter(pk=user.pk).exists()
    assert list(Prediction.objects.all()) == [theirs]
    assert list(Feedback.objects.values_list("user", flat=True)) == [other_user.pk]
    assert not default_storage.exists(mine.image.name)
    assert default_storage.exists(shared.image.name)  # still used by the other account


def test_the_last_superuser_cannot_delete_their_account(client, make_user):
    admin = make_user(email="root@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    assert "cannot be deleted here" in client.get("/accounts/account/").content.decode()
    page = client.get("/accounts/account/delete/")
    assert "make someone else a superuser" in inner_text(page.content.decode())
    refused = client.post("/accounts/account/delete/", {"password": TEST_PASSWORD})
    assert refused.status_code == 403
    assert User.objects.filter(pk=admin.pk).exists()


def test_a_superuser_who_is_not_the_last_one_can(client, make_user):
    admin = make_user(email="root@example.com", is_staff=True, is_superuser=True)
    make_user(email="root2@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    response = client.post("/accounts/account/delete/", {"password": TEST_PASSWORD})
    assert response.status_code == 302
    assert not User.objects.filter(pk=admin.pk).exists()


# --- The same through the API -------------------------------------------------------------
def test_api_account_deletion_needs_the_password(user, account_with_data):
    api = jwt_client(user)
    missing = api.delete("/api/auth/me/", {}, format="json")
    assert missing.status_code == 400
    assert "password" in missing.json()["errors"]
    wrong = api.delete("/api/auth/me/", {"password": "not-it"}, format="json")
    assert wrong.status_code == 400
    assert wrong.json()["detail"] == "password: The password is not correct."
    assert User.objects.filter(pk=user.pk).exists()


def test_api_account_deletion_deletes_everything_and_ends_the_token(
    client, user, account_with_data, django_capture_on_commit_callbacks
):
    api = api_token(client, user.email, TEST_PASSWORD)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete("/api/auth/me/", {"password": TEST_PASSWORD}, format="json")
    assert response.status_code == 204
    assert not User.objects.filter(pk=user.pk).exists()
    assert Prediction.objects.count() == 1  # the other account's
    assert api.get("/api/auth/me/").status_code == 401


def test_api_the_last_superuser_gets_403(make_user):
    admin = make_user(email="root@example.com", is_staff=True, is_superuser=True)
    response = jwt_client(admin).delete("/api/auth/me/", {"password": TEST_PASSWORD}, format="json")
    assert response.status_code == 403
    assert "only superuser" in response.json()["detail"]
    assert User.objects.filter(pk=admin.pk).exists()


def test_api_errors_of_account_deletion_are_in_spanish_when_asked(user):
    response = jwt_client(user).delete(
        "/api/auth/me/", {"password": "not-it"}, format="json", HTTP_ACCEPT_LANGUAGE="es"
    )
    assert response.json()["errors"]["password"] == ["La contraseña no es correcta."]
